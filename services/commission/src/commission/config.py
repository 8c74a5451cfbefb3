"""Commission service settings."""

from pathlib import Path

from faka_common.settings import ServiceSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "commission"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_commission"
    http_port: int = 8005
