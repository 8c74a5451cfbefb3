"""Messages emitted by the delivery service."""

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message


class DeliveryEvent(Message):
    topic: ClassVar[str] = topics.DELIVERY_EVENTS

    order_id: UUID
    delivery_id: UUID


class DeliverySucceeded(DeliveryEvent):
    type_name: ClassVar[str] = "DeliverySucceeded"

    mode: str = Field(examples=["card_key", "loop_key", "manual", "recharge"])
    item_count: int = Field(ge=0)


class DeliveryFailed(DeliveryEvent):
    type_name: ClassVar[str] = "DeliveryFailed"

    reason: str
