"""The order aggregate and its state machine, kept as a data table of (state, trigger) -> next state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from faka_common.errors import Conflict


class Status(StrEnum):
    PENDING_RISK = "pending_risk"
    REVIEW = "review"
    REJECTED = "rejected"
    RESERVING = "reserving"
    AWAITING_PAYMENT = "awaiting_payment"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PAID = "paid"
    FULFILLING = "fulfilling"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    DELIVERY_FAILED = "delivery_failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class Trigger(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    REJECT = "reject"
    STOCK_RESERVED = "stock_reserved"
    STOCK_UNAVAILABLE = "stock_unavailable"
    PAY = "pay"
    EXPIRE = "expire"
    CANCEL = "cancel"
    KEYS_ALLOCATED = "keys_allocated"
    ALLOCATION_FAILED = "allocation_failed"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    COMPLETE = "complete"
    REFUND = "refund"
    REFUND_PARTIALLY = "refund_partially"


S, T = Status, Trigger

TRANSITIONS: dict[tuple[Status, Trigger], Status] = {
    (S.PENDING_RISK, T.APPROVE): S.RESERVING,
    (S.PENDING_RISK, T.REVIEW): S.REVIEW,
    (S.PENDING_RISK, T.REJECT): S.REJECTED,
    (S.REVIEW, T.APPROVE): S.RESERVING,
    (S.REVIEW, T.REJECT): S.REJECTED,
    (S.RESERVING, T.STOCK_RESERVED): S.AWAITING_PAYMENT,
    (S.RESERVING, T.STOCK_UNAVAILABLE): S.CANCELLED,
    (S.AWAITING_PAYMENT, T.PAY): S.PAID,
    (S.AWAITING_PAYMENT, T.EXPIRE): S.EXPIRED,
    (S.AWAITING_PAYMENT, T.CANCEL): S.CANCELLED,
    # A late payment still completes the price: inventory re-reserves, or allocation fails visibly.
    (S.EXPIRED, T.PAY): S.PAID,
    (S.CANCELLED, T.PAY): S.PAID,
    (S.PAID, T.KEYS_ALLOCATED): S.FULFILLING,
    (S.PAID, T.ALLOCATION_FAILED): S.DELIVERY_FAILED,
    (S.PAID, T.DELIVERED): S.DELIVERED,
    # Manual and recharge goods skip allocation: an operator's reject or a supplier's failure ends them here.
    (S.PAID, T.DELIVERY_FAILED): S.DELIVERY_FAILED,
    (S.FULFILLING, T.DELIVERED): S.DELIVERED,
    (S.FULFILLING, T.DELIVERY_FAILED): S.DELIVERY_FAILED,
    (S.DELIVERED, T.COMPLETE): S.COMPLETED,
}

#: States whose price was paid and can be given back, wholly or in part.
REFUNDABLE_STATES: frozenset[Status] = frozenset(
    {S.PAID, S.FULFILLING, S.DELIVERED, S.COMPLETED, S.DELIVERY_FAILED, S.PARTIALLY_REFUNDED}
)
for _state in REFUNDABLE_STATES:
    TRANSITIONS[(_state, T.REFUND)] = S.REFUNDED
    TRANSITIONS[(_state, T.REFUND_PARTIALLY)] = S.PARTIALLY_REFUNDED
del _state

#: States of an order that ended without being paid; its units and coupon use do not count.
UNPAID_ENDS: frozenset[Status] = frozenset({S.REJECTED, S.EXPIRED, S.CANCELLED})

#: States of an order placed and not yet told its stock: risk's decision or the reservation is still to
#: come. Orders in them are the queue a new order joins (admission: `services.admit`).
WAITING_FOR_STOCK: frozenset[Status] = frozenset({S.PENDING_RISK, S.RESERVING})

#: States in which the order's price has been paid already (another payment is a duplicate to refund).
PAID_STATES: frozenset[Status] = frozenset(
    {
        S.PAID,
        S.FULFILLING,
        S.DELIVERED,
        S.COMPLETED,
        S.DELIVERY_FAILED,
        S.REFUNDED,
        S.PARTIALLY_REFUNDED,
    }
)

DUPLICATE_PAYMENT = "duplicate_payment_needs_refund"
#: Paid from an account a risk blocklist names: held (not announced, never delivered) for the seller.
PAYER_BLOCKED = "payer_account_blocked"
#: A held order a person released for delivery (why and by whom: the order's release record).
RELEASED = "released_for_delivery"
#: The holds a person may release for delivery: a payment that is the order's own price, held only for who
#: paid it (a wrong amount or an extra payment is for a refund, never for delivery).
RELEASABLE_HOLDS: frozenset[str] = frozenset({PAYER_BLOCKED})
AMOUNT_MISMATCH = "payment_amount_mismatch_needs_refund"
UNEXPECTED_PAYMENT = "unexpected_payment_needs_refund"


class InvalidTransition(Conflict):
    """A trigger that does not fit the order's current state; handlers log it and change nothing."""

    def __init__(self, state: Status, trigger: Trigger) -> None:
        super().__init__(f"order in state {state} cannot take trigger {trigger}")
        self.state = state
        self.trigger = trigger


class NotHeld(Conflict):
    """A release asked of an order that is not held for delivery (never held, or released already)."""


class RefundTooLarge(Conflict):
    """More than the order's unrefunded amount was asked back."""


def next_state(state: Status, trigger: Trigger) -> Status:
    """The state `trigger` leads to from `state`; InvalidTransition when the table has no such edge."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidTransition(state, trigger) from None


@dataclass(frozen=True)
class Transition:
    """One audited step of an order's life; `from_state` is None for the placement itself."""

    order_id: UUID
    from_state: Status | None
    to_state: Status
    trigger: str
    at: datetime


@dataclass
class Order:
    id: UUID
    #: The shop (tenant) the order was placed in; every row and event about it carries it.
    shop_id: UUID
    order_no: str
    status: Status
    product_id: UUID
    product_title: str
    quantity: int
    unit_price: int
    amount: int
    currency: str
    buyer_email: str
    buyer_ip: str | None
    locale: str
    password_hash: str | None
    created_at: datetime
    expires_at: datetime | None
    updated_at: datetime
    paid_at: datetime | None = None
    delivered_at: datetime | None = None
    status_reason: str | None = None
    refunded_amount: int = 0
    reconciled_at: datetime | None = None
    #: Taken off `unit_price * quantity` by `coupon_code`; `amount` is what is paid.
    discount: int = 0
    coupon_code: str | None = None
    #: How the product is fulfilled, as the catalog said at placement (card_key, loop_key, recharge, manual).
    delivery_type: str = "card_key"
    #: Face value per unit of a recharge product, when the catalog gives one.
    face_value: int | None = None
    buyer_fields: dict[str, str] = field(default_factory=dict)
    #: Optional contact number given at checkout (as typed, trimmed); the e-mail stays the identity.
    buyer_phone: str | None = None
    #: Bound into every access token; raised by a rotation, which revokes the tokens issued before it.
    secret_version: int = 0
    #: Transitions not yet written to the audit table (the repository drains them on save).
    pending_transitions: list[Transition] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def place(
        cls,
        *,
        id: UUID,
        shop_id: UUID,
        order_no: str,
        product_id: UUID,
        product_title: str,
        quantity: int,
        unit_price: int,
        currency: str,
        buyer_email: str,
        buyer_ip: str | None,
        locale: str,
        password_hash: str | None,
        now: datetime,
        payment_window: timedelta,
        discount: int = 0,
        coupon_code: str | None = None,
        delivery_type: str = "card_key",
        face_value: int | None = None,
        buyer_fields: dict[str, str] | None = None,
        buyer_phone: str | None = None,
    ) -> Order:
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        if unit_price < 0:
            raise ValueError("unit price must not be negative")
        if not 0 <= discount <= unit_price * quantity:
            raise ValueError("a discount is between nothing and the whole price")
        order = cls(
            id=id,
            shop_id=shop_id,
            order_no=order_no,
            status=Status.PENDING_RISK,
            product_id=product_id,
            product_title=product_title,
            quantity=quantity,
            unit_price=unit_price,
            amount=unit_price * quantity - discount,
            currency=currency,
            buyer_email=buyer_email,
            buyer_ip=buyer_ip,
            locale=locale,
            password_hash=password_hash,
            created_at=now,
            expires_at=now + payment_window,
            updated_at=now,
            discount=discount,
            coupon_code=coupon_code,
            delivery_type=delivery_type,
            face_value=face_value,
            buyer_fields=dict(buyer_fields or {}),
            buyer_phone=buyer_phone,
        )
        order.pending_transitions.append(Transition(id, None, Status.PENDING_RISK, "place", now))
        return order

    def apply(self, trigger: Trigger, at: datetime) -> Status:
        """Move along the table's edge for `trigger`; raises InvalidTransition (and changes nothing)."""
        target = next_state(self.status, trigger)
        self.pending_transitions.append(Transition(self.id, self.status, target, trigger.value, at))
        self.status = target
        self.updated_at = at
        return target

    def can(self, trigger: Trigger) -> bool:
        return (self.status, trigger) in TRANSITIONS

    # Transitions with side effects on the order's facts.

    def approve(self, at: datetime, payment_window: timedelta) -> datetime:
        """Risk approved: the payment window runs from placement, or from the approval after a review."""
        reviewed = self.status is Status.REVIEW
        self.apply(Trigger.APPROVE, at)
        self.expires_at = (at if reviewed else self.created_at) + payment_window
        return self.expires_at

    def pay(self, at: datetime) -> None:
        self.apply(Trigger.PAY, at)
        self.paid_at = at

    @property
    def free(self) -> bool:
        """Nothing to pay (a zero price, or a coupon that takes all of it): no payment provider involved."""
        return self.amount == 0

    def reserve(self, at: datetime) -> bool:
        """Stock reserved: the order awaits payment or, with nothing to pay, is paid at once (both steps
        audited). True when it was paid."""
        self.apply(Trigger.STOCK_RESERVED, at)
        if not self.free:
            return False
        self.pay(at)
        return True

    def fail(self, trigger: Trigger, reason: str, at: datetime) -> None:
        self.apply(trigger, at)
        self.status_reason = reason

    def deliver(self, at: datetime) -> None:
        self.apply(Trigger.DELIVERED, at)
        self.delivered_at = at

    def flag_payment_mismatch(self, at: datetime) -> str:
        """A real payment of the wrong amount or currency: never delivered on, kept on record for a refund."""
        self.status_reason = AMOUNT_MISMATCH
        self.updated_at = at
        return self.status_reason

    def hold_blocked_payer(self, at: datetime) -> str:
        """Paid from a blocked account: the payment is kept on record and the order delivers nothing until
        the seller acts (a refund)."""
        self.status_reason = PAYER_BLOCKED
        self.updated_at = at
        return self.status_reason

    def release_for_delivery(self, at: datetime) -> str:
        """A person vouched for the payer of a held order: it delivers as if it had not been held. Returns
        what it was held for; NotHeld when it is not held (so a second release changes nothing)."""
        held_for = self.status_reason or ""
        if self.status is not Status.PAID or held_for not in RELEASABLE_HOLDS:
            raise NotHeld(f"order {self.order_no} is {self.status} and not held for delivery")
        self.status_reason = RELEASED
        self.updated_at = at
        return held_for

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded_amount if self.status in REFUNDABLE_STATES else 0

    def refund(self, amount: int, at: datetime) -> Status:
        """Record `amount` given back: the whole remainder makes it refunded, less partially_refunded."""
        if amount <= 0:
            raise ValueError("a refund must be positive")
        if amount > self.refundable:
            raise RefundTooLarge(f"at most {self.refundable} can be refunded on order {self.order_no}")
        remaining = self.amount - self.refunded_amount - amount
        target = self.apply(Trigger.REFUND if remaining == 0 else Trigger.REFUND_PARTIALLY, at)
        self.refunded_amount += amount
        return target

    def flag_extra_payment(self, at: datetime) -> str:
        """A payment arrived that the state machine cannot take: keep the money on record for a refund."""
        self.status_reason = DUPLICATE_PAYMENT if self.status in PAID_STATES else UNEXPECTED_PAYMENT
        self.updated_at = at
        return self.status_reason
