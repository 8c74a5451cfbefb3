"""The inventory's records as plain objects."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from faka_common.crypto import Sealed

from inventory.domain.reservations import DeliveryType, ReservationStatus


@dataclass(frozen=True)
class Product:
    id: UUID
    title: str
    description: str
    price: int
    currency: str
    delivery_type: DeliveryType
    usage_instructions: str
    active: bool
    created_at: datetime
    loop_key: Sealed | None = None


@dataclass(frozen=True)
class Stock:
    """Card keys by status; for a loop-key product `available` is None (no stock count) and reserved/sold
    count units of active and allocated reservations."""

    available: int | None = 0
    reserved: int = 0
    sold: int = 0


@dataclass(frozen=True)
class Reservation:
    order_id: UUID
    product_id: UUID
    quantity: int
    status: ReservationStatus
    expires_at: datetime | None


@dataclass(frozen=True)
class StoredKey:
    """A card key as stored: sealed, never plaintext."""

    id: UUID
    product_id: UUID
    sealed: Sealed
