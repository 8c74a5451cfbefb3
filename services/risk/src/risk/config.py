"""Risk service settings."""

from pathlib import Path

from faka_common.settings import ServiceSettings
from pydantic import Field

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "risk"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_risk"
    http_port: int = 8004
    max_quantity_per_order: int = Field(default=100, ge=1, description="A bound above every shop's rules")
    unpaid_horizon_seconds: int = Field(
        default=24 * 3600,
        ge=60,
        description="An order counts as unpaid for at most this long, even if the event ending it was lost",
    )
    rules_publish_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often every rule set is published to Redis again (challenges, versions), in case "
        "a change's own publication found Redis down",
    )
    mean_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a product's trailing mean is kept in process before it is read again",
    )
    review_sweep_seconds: float = Field(
        default=5.0, gt=0, description="How often expired reviews are rejected"
    )
