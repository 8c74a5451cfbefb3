"""Messages emitted by the delivery service, and the fulfilment requests it accepts from the order side."""

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field


class DeliveryEvent(Message):
    topic: ClassVar[str] = topics.DELIVERY_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    delivery_id: UUID


class DeliverySucceeded(DeliveryEvent):
    type_name: ClassVar[str] = "DeliverySucceeded"

    mode: str = Field(examples=["card_key", "loop_key", "manual", "recharge"])
    item_count: int = Field(ge=0)
    product_id: UUID | None = Field(default=None, description="The delivered product (its quality figures)")
    paid_at: datetime | None = Field(
        default=None, description="When the order was paid: paid to delivered is the delivery time"
    )
    delivered_at: datetime | None = Field(default=None, description="When the delivery completed")


class DeliveryFailed(DeliveryEvent):
    type_name: ClassVar[str] = "DeliveryFailed"

    reason: str
    product_id: UUID | None = Field(default=None, description="The product that was not delivered")


class DeliveryNeedsAttention(DeliveryEvent):
    """A seller alert: the delivery went to the manual queue (every supplier failed, no route, or a manual
    product). The order keeps its state; an operator delivers or rejects it from the queue."""

    type_name: ClassVar[str] = "DeliveryNeedsAttention"

    mode: str = Field(examples=["recharge", "manual"])
    reason: str = Field(examples=["suppliers_exhausted", "no_supplier_route", "manual_product"])
    detail: str = Field(default="", description="What went wrong, for the operator; never secrets")


class DeliveryDelayed(DeliveryEvent):
    """SLA watchdog: the order was paid more than `threshold_minutes` ago and is still not delivered.
    It is in the manual queue now; the buyer may be told "we are on it"."""

    type_name: ClassVar[str] = "DeliveryDelayed"

    paid_at: datetime
    threshold_minutes: int = Field(ge=1)
    status: str = Field(description="Delivery status when the watchdog fired", examples=["pending"])


class FulfilmentRequest(Message):
    """Requests the order side sends to delivery after payment, on `order.events` keyed by order id."""

    topic: ClassVar[str] = topics.ORDER_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    product_id: UUID
    order_no: str = ""
    quantity: int = Field(default=1, ge=1)
    buyer_fields: dict[str, str] = Field(
        default_factory=dict,
        description="What the buyer filled in at checkout, e.g. a game account or server",
        examples=[{"game_account": "player#1234", "server": "asia"}],
    )


class RechargeRequested(FulfilmentRequest):
    """A paid recharge order: top up `account` with `amount` through the product's supplier routes."""

    type_name: ClassVar[str] = "RechargeRequested"

    account: str = Field(min_length=1, max_length=200, examples=["13800138000"])
    amount: int = Field(gt=0, description="Face value to recharge, minor units", examples=[5000])
    currency: str = Field(default="CNY", examples=["CNY"])


class ManualDeliveryRequested(FulfilmentRequest):
    """A paid order of a product an operator fulfils by hand."""

    type_name: ClassVar[str] = "ManualDeliveryRequested"
