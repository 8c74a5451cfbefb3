"""Messages emitted by the inventory service. Keys travel as ids only, never as plaintext."""

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field


class InventoryEvent(Message):
    topic: ClassVar[str] = topics.INVENTORY_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    product_id: UUID


class StockReserved(InventoryEvent):
    type_name: ClassVar[str] = "StockReserved"

    quantity: int = Field(ge=1)
    expires_at: datetime | None = Field(description="None for loop keys, which have no stock count")


class StockUnavailable(InventoryEvent):
    type_name: ClassVar[str] = "StockUnavailable"

    requested: int
    available: int
    reason: str | None = Field(
        default=None,
        description="Why no stock: out_of_stock, unknown_product, product_of_another_shop (None: not said)",
        examples=["out_of_stock", "product_of_another_shop"],
    )


class KeysAllocated(InventoryEvent):
    """The paid order owns these keys now; the plaintext is only revealed to that order."""

    type_name: ClassVar[str] = "KeysAllocated"

    key_ids: list[UUID]
    delivery_type: str = Field(examples=["card_key", "loop_key"])


class AllocationFailed(InventoryEvent):
    """A paid order could not get its keys (its reservation lapsed and nothing is left)."""

    type_name: ClassVar[str] = "AllocationFailed"

    reason: str


class ReservationExpired(InventoryEvent):
    """Inventory itself released a reservation left active past its payment window and grace (the
    OrderCancelled that should have released it never came). A later OrderPaid re-reserves if it can."""

    type_name: ClassVar[str] = "ReservationExpired"

    quantity: int = Field(ge=1)
    expired_at: datetime = Field(description="The reservation's expires_at (end of the payment window)")


class ProductEvent(Message):
    """A product's own stream of facts, keyed by product id (read models of other services)."""

    topic: ClassVar[str] = topics.INVENTORY_EVENTS
    key_field: ClassVar[str] = "product_id"

    product_id: UUID
    shop_id: UUID = shop_id_field()


class ProductChanged(ProductEvent):
    """The product as it is now (created, edited, or its in-stock flag flipped)."""

    type_name: ClassVar[str] = "ProductChanged"

    title: str
    price: int = Field(ge=0, description="Unit price in minor units")
    currency: str = Field(examples=["CNY"])
    delivery_type: str = Field(examples=["card_key", "loop_key"])
    category_id: UUID | None = None
    active: bool = True
    visible: bool = True
    sort_order: int = 0
    max_per_order: int | None = Field(
        default=None, description="Most units one order may buy; None = no limit"
    )
    max_per_buyer: int | None = Field(
        default=None, description="Most units one buyer may hold; None = no limit"
    )
    in_stock: bool = True
    issue_order: str = Field(default="fifo", examples=["fifo", "random"])
    face_value: int | None = Field(
        default=None, description="What a recharge tops up, in minor units; None: not a recharge product"
    )
    paused: bool = Field(
        default=False, description="Taken off sale by its after-sales rate (ProductPaused) until resumed"
    )


class LowStock(ProductEvent):
    """Available keys fell to or below the product's threshold (once per crossing; re-armed by a refill)."""

    type_name: ClassVar[str] = "LowStock"

    title: str
    available: int = Field(ge=0)
    threshold: int = Field(ge=0)
