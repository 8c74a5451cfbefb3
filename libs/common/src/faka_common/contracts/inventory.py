"""Messages emitted by the inventory service. Keys travel as ids only, never as plaintext."""

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message


class InventoryEvent(Message):
    topic: ClassVar[str] = topics.INVENTORY_EVENTS

    order_id: UUID
    product_id: UUID


class StockReserved(InventoryEvent):
    type_name: ClassVar[str] = "StockReserved"

    quantity: int = Field(ge=1)
    expires_at: datetime | None = Field(description="None for loop keys, which have no stock count")


class StockUnavailable(InventoryEvent):
    type_name: ClassVar[str] = "StockUnavailable"

    requested: int
    available: int


class KeysAllocated(InventoryEvent):
    """The paid order owns these keys now; the plaintext is only revealed to that order."""

    type_name: ClassVar[str] = "KeysAllocated"

    key_ids: list[UUID]
    delivery_type: str = Field(examples=["card_key", "loop_key"])


class AllocationFailed(InventoryEvent):
    """A paid order could not get its keys (its reservation lapsed and nothing is left)."""

    type_name: ClassVar[str] = "AllocationFailed"

    reason: str
