"""Notification service settings."""

from pathlib import Path

from faka_common.settings import ServiceSettings
from pydantic import SecretStr

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "notification"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_notification"
    http_port: int = 8006
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False
    smtp_timeout: float = 10
    mail_from: str = "faka shop <no-reply@faka.local>"
    inventory_url: str = "http://127.0.0.1:8002"
    support_contact: str = "support@faka.local"
