"""The settings base every service extends; refuses development secrets outside development."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_INTERNAL_TOKEN = "dev-internal-token-change-me"


class ServiceSettings(BaseSettings):
    """Read from the environment (12-factor); each service adds its own fields."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str
    environment: Literal["development", "test", "production"] = Field(
        default="production",
        description="production unless said otherwise: the development secret defaults are accepted only "
        "with ENVIRONMENT=development; test checks secrets like production but allows the sandbox provider",
    )
    database_url: str = "postgresql://postgres@127.0.0.1:15432/postgres"
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_namespace: str = Field(default="", description="Prefix of every topic and consumer group")
    redis_url: str = "redis://127.0.0.1:16379/0"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    internal_token: SecretStr = SecretStr(DEV_INTERNAL_TOKEN)
    run_migrations: bool = True
    kafka_create_topics: bool = Field(
        default=True,
        description="Create missing topics at start-up with their partition counts (off where an operator, "
        "e.g. Strimzi, manages the topics)",
    )
    consumer_stall_seconds: float = Field(
        default=120.0, gt=0, description="Readiness fails when a consumer has records waiting this long"
    )
    consumer_lag_sample_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str | None = None

    def development_secrets(self) -> dict[str, str]:
        """Secret fields and their development defaults; services extend this."""
        return {"internal_token": DEV_INTERNAL_TOKEN}

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Self:
        if self.environment == "development":
            return self
        for field, default in self.development_secrets().items():
            value = getattr(self, field)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value == default:
                raise ValueError(
                    f"{field.upper()} still has its development default; set a real secret "
                    f"for environment={self.environment}"
                )
        return self
