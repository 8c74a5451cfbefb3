"""The inventory's records as plain objects."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.crypto import Sealed

from inventory.domain.reservations import DeliveryType, ReservationStatus
from inventory.domain.stock import IssueOrder, Stock

__all__ = ["Category", "Product", "Reservation", "Stock", "StoredKey"]


@dataclass(frozen=True)
class Category:
    id: UUID
    shop_id: UUID
    name: str
    sort_order: int = 0
    visible: bool = True


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
    category_id: UUID | None = None
    max_per_order: int | None = None
    max_per_buyer: int | None = None
    visible: bool = True
    sort_order: int = 0
    issue_order: IssueOrder = IssueOrder.FIFO
    low_stock_threshold: int | None = None
    low_stock_alerted: bool = False
    in_stock: bool = True
    face_value: int | None = None
    hide_when_sold_out: bool = False  # the storefront leaves it out while sold out (default: marks it)
    version: int = 0  # bumped by every update; orders the storefront read model's writes
    # SKUs: a variant is a product of its own (price, stock, keys) listed under its main product.
    variant_of: UUID | None = None
    variant_label: str | None = None
    # After-sales policy (domain/replacements.py): a key reported invalid within this many hours of delivery
    # is replaced automatically, at most this many times per order (0: never automatically), and only
    # with evidence when that is required (claims needing evidence go to the shop).
    replacement_window_hours: int = 24
    replacements_per_order: int = 1
    replacement_evidence_required: bool = False
    # Quality automation (domain/quality.py): paused while its after-sales rate passed the shop's threshold,
    # until an operator resumes it; not sold meanwhile.
    paused_at: datetime | None = None
    paused_reason: str | None = None
    resumed_at: datetime | None = None
    # The shop the product belongs to, and with it its keys, batches and reservations. Every product
    # written is created for a shop (`create_product` names it); the default only spares readers of the
    # storefront projection, which build products by hand, from naming one.
    shop_id: UUID = DEFAULT_SHOP_ID


@dataclass(frozen=True)
class Reservation:
    order_id: UUID
    product_id: UUID
    shop_id: UUID
    quantity: int
    status: ReservationStatus
    expires_at: datetime | None


@dataclass(frozen=True)
class PoolKey:
    """A card key as the shop's pool list shows it: its id, state and a fingerprint, never its text."""

    id: UUID
    fingerprint: bytes
    status: str
    batch_id: UUID
    created_at: datetime
    expires_at: datetime | None
    voided_at: datetime | None
    order_id: UUID | None


@dataclass(frozen=True)
class StoredKey:
    """A card key as stored: sealed, never plaintext."""

    id: UUID
    product_id: UUID
    sealed: Sealed
