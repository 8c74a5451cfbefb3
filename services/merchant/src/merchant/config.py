"""Merchant service settings."""

from datetime import timedelta
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from faka_common.settings import KeyRingSettings
from pydantic import Field, model_validator

from merchant.domain.accounts import SessionPolicy

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(KeyRingSettings):
    """The keyring (KEY_ENCRYPTION_KEYS) seals people's TOTP secrets; give the merchant its own keys."""

    service_name: str = "merchant"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_merchant"
    http_port: int = 8007
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The console's address: e-mailed links point at <this>/console/...; https in production",
    )

    session_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="A session unused this long is over"
    )
    session_absolute_hours: int = Field(
        default=12, ge=1, le=30 * 24, description="A session is over this long after sign-in, used or not"
    )
    sign_in_challenge_minutes: int = Field(
        default=5, ge=1, le=15, description="How long a sign-in waits for its second factor"
    )
    link_minutes: int = Field(
        default=30, ge=5, le=60, description="How long an e-mailed link (reset, verification, setup) works"
    )

    sign_in_attempts_per_account: int = Field(
        default=10, ge=1, description="Sign-in attempts (passwords, codes) per e-mail address per window"
    )
    sign_in_attempts_per_client: int = Field(
        default=30, ge=1, description="Sign-in attempts per client address per window, whatever the account"
    )
    sign_in_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    link_requests_per_account_per_hour: int = Field(
        default=5, ge=1, description="Password-reset e-mails per address per hour; more are quietly dropped"
    )

    # argon2id; the floors are OWASP's minimum (19 MiB, 2 passes), the defaults RFC 9106's second choice.
    argon2_time_cost: int = Field(default=3, ge=2, le=20)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=19 * 1024, le=1024 * 1024)
    argon2_parallelism: int = Field(default=4, ge=1, le=16)

    totp_issuer: str = Field(
        default="faka", min_length=1, max_length=40, description="The name authenticator apps show"
    )

    @model_validator(mode="after")
    def _links_are_private(self) -> Self:
        parts = urlsplit(self.public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("PUBLIC_BASE_URL is the console's address, like https://shop.example.com")
        if self.environment == "production" and parts.scheme != "https":
            raise ValueError("PUBLIC_BASE_URL must be https in production: e-mailed links carry tokens")
        return self

    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle=timedelta(minutes=self.session_idle_minutes),
            absolute=timedelta(hours=self.session_absolute_hours),
            challenge=timedelta(minutes=self.sign_in_challenge_minutes),
            link=timedelta(minutes=self.link_minutes),
        )
