"""Commission service settings."""

from pathlib import Path

from faka_common.settings import ConsumerWaitMs, ServiceSettings
from pydantic import Field

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "commission"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_commission"
    http_port: int = 8005
    consumer_gather_ms: ConsumerWaitMs = Field(
        default=200,
        description="How long Kafka may hold the consumer's fetches to gather deliveries (0: answered at "
        "the first record). A commission is credited that much later at most, and nobody waits on it in a "
        "sale; the consumer then wakes at most this often instead of for every delivery",
    )
