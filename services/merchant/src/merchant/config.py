"""Merchant service settings."""

from pathlib import Path

from faka_common.settings import ServiceSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "merchant"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_merchant"
    http_port: int = 8007
