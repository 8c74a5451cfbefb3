"""Messages emitted by the order service."""

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field

#: Whose payment channel took the money: the platform's (the platform settles with the shop) or the shop's own
#: (the money is the shop's already).
Collector = Literal["platform", "shop"]
#: The statuses of an order (order's state machine, order.domain.model.Status, holds the same), for whoever
#: names one across a service boundary, e.g. the console's search filter.
OrderStatus = Literal[
    "pending_risk",
    "review",
    "rejected",
    "reserving",
    "awaiting_payment",
    "expired",
    "cancelled",
    "paid",
    "fulfilling",
    "delivered",
    "completed",
    "delivery_failed",
    "refunded",
    "partially_refunded",
]


class OrderEvent(Message):
    topic: ClassVar[str] = topics.ORDER_EVENTS

    order_id: UUID = Field(description="Order aggregate id (the Kafka key)")
    shop_id: UUID = shop_id_field()
    order_no: str = Field(description="Human-facing order number", examples=["F20261122081500AB12CD"])


class OrderPlaced(OrderEvent):
    """A buyer placed an order; risk decides on it next."""

    type_name: ClassVar[str] = "OrderPlaced"

    product_id: UUID
    product_title: str
    quantity: int = Field(ge=1)
    amount: int = Field(ge=0, description="Total in minor units (cents / 分)")
    currency: str = Field(examples=["CNY"])
    buyer_email: str
    buyer_ip: str | None = None
    buyer_phone: str | None = Field(
        default=None, description="The phone the buyer gave at checkout (optional)"
    )
    device_id: str | None = Field(
        default=None,
        description="The checkout's device id (optional): the storefront's per-browser random id or an API "
        "caller's; a signal, not proof (clearing storage makes a new one, a script sends what it likes)",
    )
    locale: str = Field(default="zh-CN", examples=["zh-CN", "en"])
    discount: int = Field(default=0, ge=0, description="Taken off by a coupon; `amount` is after it")
    coupon_code: str | None = Field(default=None, examples=["SPRING10"])
    unit_price: int | None = Field(default=None, ge=0, description="Unit price after wholesale tiers")
    delivery_type: str = Field(default="card_key", examples=["card_key", "loop_key", "recharge", "manual"])


class OrderApproved(OrderEvent):
    """Risk approved the order; stock is reserved for the payment window next."""

    type_name: ClassVar[str] = "OrderApproved"

    product_id: UUID
    quantity: int = Field(ge=1)
    payment_expires_at: datetime


class OrderRejected(OrderEvent):
    type_name: ClassVar[str] = "OrderRejected"

    reasons: list[str]


class OrderCancelled(OrderEvent):
    """The order ended without payment (cancelled, expired or out of stock): reservations are released."""

    type_name: ClassVar[str] = "OrderCancelled"

    reason: str = Field(examples=["expired", "out_of_stock", "cancelled_by_buyer"])


class OrderPaid(OrderEvent):
    """A verified payment completed the order's price; keys are allocated next."""

    type_name: ClassVar[str] = "OrderPaid"

    product_id: UUID
    quantity: int = Field(ge=1)
    amount: int = Field(ge=0)
    currency: str
    provider: str = Field(examples=["sandbox", "epay"])
    trade_no: str = Field(description="The provider's transaction number")
    paid_at: datetime
    collected_by: Collector = Field(
        default="platform",
        description="Whose payment channel took the money: the platform's (owed to the shop, settled later) "
        "or the shop's own",
    )
    payer_account: str | None = Field(
        default=None,
        description="Who paid, as `<provider>:<account>` when the provider's verified notification names "
        "the payer (Alipay buyer_id, WeChat Pay openid, Stripe customer, sandbox payer)",
        examples=["alipay:2088102177846875"],
    )


class OrderDelivered(OrderEvent):
    """The order reached `delivered`. No service acts on it (each acts on `DeliverySucceeded`), so it rides
    on `order.outcomes`, not on `order.events` where it woke four consumers that skipped it."""

    topic: ClassVar[str] = topics.ORDER_OUTCOMES
    type_name: ClassVar[str] = "OrderDelivered"

    delivered_at: datetime


class OrderRefunded(OrderEvent):
    """Money went back to the buyer through the provider: wholly (`full`) or in part. Inventory, commission
    and notification act on it (e.g. reverse a commission, tell the buyer)."""

    type_name: ClassVar[str] = "OrderRefunded"

    product_id: UUID
    quantity: int = Field(ge=1)
    refund_no: str = Field(description="Our refund number, unique; providers deduplicate on it")
    amount: int = Field(gt=0, description="This refund, minor units")
    refunded_total: int = Field(gt=0, description="Everything refunded on the order so far, minor units")
    order_amount: int = Field(ge=0)
    currency: str
    full: bool = Field(description="True when the whole order amount has now been refunded")
    provider: str = Field(examples=["alipay", "stripe"])
    reason: str = Field(examples=["buyer_request", "duplicate_payment", "out_of_stock"])
    refunded_at: datetime
    collected_by: Collector = Field(
        default="platform", description="Whose payment channel the refund went back through (as OrderPaid's)"
    )


class OrderNeedsAttention(OrderEvent):
    """Something about a paid order needs the seller / operator: e.g. a late payment found no stock and is
    being refunded automatically, or an automatic refund gave up. Notification alerts the seller on it."""

    type_name: ClassVar[str] = "OrderNeedsAttention"

    reason: str = Field(examples=["late_payment_out_of_stock", "auto_refund_failed"])
    detail: str = Field(default="", description="A short human-readable explanation; no secrets")


class OrderLinkRequested(OrderEvent):
    """The buyer asked for the order's link again and gave the order's e-mail address: notification e-mails
    a fresh link to that address. It carries no token (secrets never travel on Kafka): notification asks the
    order service for one over internal HTTP when it is about to send."""

    type_name: ClassVar[str] = "OrderLinkRequested"

    requested_at: datetime
