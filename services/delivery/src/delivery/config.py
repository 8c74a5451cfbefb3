"""Delivery service settings."""

from pathlib import Path

from faka_common.breakers import BreakerStore
from faka_common.outbound import OutboundAllowList, OutboundPolicy
from faka_common.settings import KeyRingSettings
from pydantic import Field

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(KeyRingSettings):
    service_name: str = "delivery"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_delivery"
    http_port: int = 8003
    sla_minutes: float = Field(default=5, gt=0, description="Paid and not delivered after this long: alert")
    sla_sweep_seconds: float = Field(default=15, gt=0)
    ticket_sweep_seconds: float = Field(default=30, gt=0, description="How often ticket deadlines are swept")
    ticket_image_retention_days: int = Field(
        default=180,
        ge=1,
        description="Images of a ticket closed longer than this are deleted (the thread says so); a ticket "
        "reopened before then keeps them",
    )
    ticket_image_sweep_seconds: float = Field(
        default=3600, gt=0, description="How often old tickets' images are looked for"
    )
    ledger_sample_seconds: float = Field(
        default=30, gt=0, description="How often the suppliers' ledger totals are read into the metrics"
    )
    recharge_poll_seconds: float = Field(default=0.5, gt=0, description="How often the recharge worker looks")
    recharge_lease_seconds: float = Field(
        default=120, gt=0, description="A crashed worker's job is retaken after"
    )
    recharge_reschedule_seconds: float = Field(
        default=10, gt=0, description="Wait before re-asking an unsure supplier"
    )
    supplier_retry_attempts: int = Field(
        default=3, ge=1, description="Submits per supplier on transient errors"
    )
    supplier_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    supplier_retry_backoff_max_seconds: float = Field(default=2.0, ge=0)
    supplier_processing_wait_seconds: float = Field(
        default=20, ge=0, description="How long to poll a supplier that is still processing our order"
    )
    supplier_processing_poll_seconds: float = Field(default=1.0, gt=0)
    breaker_threshold: int = Field(default=5, ge=1, description="Consecutive failures that open a breaker")
    breaker_ttl_seconds: float = Field(default=30, gt=0, description="Open this long, then half-open")
    breaker_store: BreakerStore | None = Field(
        default=None,
        description="redis: every replica shares each breaker; memory: per process; "
        "unset: redis when REDIS_URL is set",
    )
    score_window_minutes: float = Field(default=60, gt=0)
    outbound_allow_list: OutboundAllowList = ()

    def outbound(self) -> OutboundPolicy:
        """Where supplier base URLs may point (https only in production)."""
        return OutboundPolicy.of(self.environment, self.outbound_allow_list)
