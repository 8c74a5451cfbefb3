"""Inventory service settings."""

from pathlib import Path

from faka_common.settings import KeyRingSettings
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
    storefront_check_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the storefront read model in Redis is checked (rebuilt if stale)",
    )
