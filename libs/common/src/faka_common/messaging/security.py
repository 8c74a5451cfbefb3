"""How every Kafka client of a process reaches the brokers: plaintext on a private network (the local broker,
Strimzi's plain listener), TLS, or SASL (PLAIN, SCRAM) over TLS as managed Kafkas want it.

`KafkaSettings` (every service's settings, and the dead-letter tool's) builds one FastStream security object;
the clients FastStream does not make (the outbox relay's producer, the topic admin, the dead-letter tool's)
take the same options through FastStream's own translation (`client_options`)."""

from __future__ import annotations

import ssl
from typing import Any, Literal, Self

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


class KafkaSettings(BaseSettings):
    """Where the brokers are and how to talk to them (environment variables KAFKA_*)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, hide_input_in_errors=True)

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_namespace: str = Field(default="", description="Prefix of every topic and consumer group")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT (a private network), SSL, SASL_PLAINTEXT or "
        "SASL_SSL (managed Kafkas)",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str | None = Field(
        default=None,
        description="CA bundle the brokers' certificates are checked against; unset: the system's",
    )

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD"
            )
        return self

    def kafka_security(self) -> BaseSecurity | None:
        """None for plaintext; else TLS (the brokers checked against KAFKA_SSL_CAFILE, or the system's trust
        store) and/or SASL with the configured credentials, as FastStream takes it."""
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        tls = protocol in ("SSL", "SASL_SSL")
        context = ssl.create_default_context(cafile=self.kafka_ssl_cafile) if tls else None
        if protocol == "SSL":
            return BaseSecurity(ssl_context=context, use_ssl=True)
        sasl = _SASL[self.kafka_sasl_mechanism]
        return sasl(
            self.kafka_sasl_username,
            self.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            use_ssl=tls,
        )


def client_options(security: BaseSecurity | None) -> dict[str, Any]:
    """The aiokafka keyword arguments for `security` (none for plaintext)."""
    return parse_security(security)
