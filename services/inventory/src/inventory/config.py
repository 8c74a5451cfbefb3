"""Inventory service settings."""

from pathlib import Path

from faka_common.settings import ConsumerWaitMs, KeyRingSettings
from pydantic import Field

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(KeyRingSettings):
    service_name: str = "inventory"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_inventory"
    http_port: int = 8002
    max_import_bytes: int = Field(default=64 * 1024 * 1024, description="Largest key upload (413 above)")
    expiry_sweep_seconds: float = Field(default=5.0, gt=0, description="How often the sweeps run")
    reservation_grace_seconds: float = Field(
        default=120.0, ge=0, description="How long past expires_at a reservation may wait for OrderCancelled"
    )
    stock_fold_seconds: float = Field(default=1.0, gt=0, description="How often stock changes are folded")
    consumer_batch_size: int = Field(
        default=50,
        ge=1,
        description="Order events handled in one transaction by the consumer (1 = one per transaction)",
    )
    delivery_events_linger_ms: ConsumerWaitMs = Field(
        default=200,
        description="How long a batch of delivery events waits to fill up before its transaction (0: at "
        "once). They are mostly deliveries counted for the products' quality, which nobody waits on, and "
        "each batch costs a few statements per product; a key replacement or a supplier hold on the same "
        "topic is that much later at most",
    )
    storefront_check_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the storefront read model in Redis is checked (rebuilt if stale)",
    )
