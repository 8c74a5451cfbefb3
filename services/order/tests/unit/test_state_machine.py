"""The transition table, checked over every (state, trigger) pair against the specification."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import get_args
from uuid import uuid4

import pytest
from faka_common.contracts.order import OrderStatus
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.domain.model import (
    TRANSITIONS,
    InvalidTransition,
    Order,
    RefundTooLarge,
    Status,
    Trigger,
    next_state,
)

S, T = Status, Trigger

# Written out independently of the table under test, straight from the specification.
EXPECTED = {
    ("pending_risk", "approve"): "reserving",
    ("pending_risk", "review"): "review",
    ("pending_risk", "reject"): "rejected",
    ("review", "approve"): "reserving",
    ("review", "reject"): "rejected",
    ("reserving", "stock_reserved"): "awaiting_payment",
    ("reserving", "stock_unavailable"): "cancelled",
    ("awaiting_payment", "pay"): "paid",
    ("awaiting_payment", "expire"): "expired",
    ("awaiting_payment", "cancel"): "cancelled",
    ("expired", "pay"): "paid",
    ("cancelled", "pay"): "paid",
    ("paid", "keys_allocated"): "fulfilling",
    ("paid", "allocation_failed"): "delivery_failed",
    ("fulfilling", "delivered"): "delivered",
    ("fulfilling", "delivery_failed"): "delivery_failed",
    ("paid", "delivered"): "delivered",
    ("paid", "delivery_failed"): "delivery_failed",
    ("delivered", "complete"): "completed",
    **{
        (state, trigger): target
        for state in ("paid", "fulfilling", "delivered", "completed", "delivery_failed", "partially_refunded")
        for trigger, target in (("refund", "refunded"), ("refund_partially", "partially_refunded"))
    },
}

ALL_STATES = {
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
}


def test_the_state_set_is_the_specified_one() -> None:
    assert {s.value for s in Status} == ALL_STATES


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(Status, Trigger)))
def test_every_state_trigger_pair(state: Status, trigger: Trigger) -> None:
    expected = EXPECTED.get((state.value, trigger.value))
    if expected is None:
        with pytest.raises(InvalidTransition):
            next_state(state, trigger)
        assert (state, trigger) not in TRANSITIONS
    else:
        assert next_state(state, trigger) == Status(expected)


def test_table_has_no_edges_beyond_the_specification() -> None:
    assert {(s.value, t.value): n.value for (s, t), n in TRANSITIONS.items()} == EXPECTED


def test_terminal_states_take_no_trigger_but_a_refund() -> None:
    for state in (S.REJECTED, S.REFUNDED):
        assert not any((state, trigger) in TRANSITIONS for trigger in Trigger)
    for state in (S.COMPLETED, S.PARTIALLY_REFUNDED, S.DELIVERY_FAILED):
        taken = {trigger for trigger in Trigger if (state, trigger) in TRANSITIONS}
        assert taken == {T.REFUND, T.REFUND_PARTIALLY}


def test_partial_then_full_refund_tracks_the_refunded_amount() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    order = _order(now)
    order.status = S.DELIVERED
    assert order.refundable == 3750
    assert order.refund(1000, now) is S.PARTIALLY_REFUNDED
    assert (order.refunded_amount, order.refundable) == (1000, 2750)
    with pytest.raises(RefundTooLarge):
        order.refund(2751, now)
    assert order.refund(2750, now) is S.REFUNDED
    assert (order.refunded_amount, order.refundable) == (3750, 0)


def test_unpaid_orders_cannot_be_refunded() -> None:
    order = _order(datetime(2025, 1, 1, tzinfo=UTC))
    order.status = S.AWAITING_PAYMENT
    assert order.refundable == 0
    with pytest.raises(RefundTooLarge):
        order.refund(1, datetime(2025, 1, 1, tzinfo=UTC))


def _order(now: datetime) -> Order:
    return Order.place(
        id=uuid4(),
        shop_id=DEFAULT_SHOP_ID,
        order_no="F20250101000000ABCDEF",
        product_id=uuid4(),
        product_title="Game key",
        quantity=3,
        unit_price=1250,
        currency="CNY",
        buyer_email="a@example.com",
        buyer_ip="127.0.0.1",
        locale="en",
        password_hash=None,
        now=now,
        payment_window=timedelta(minutes=10),
    )


def test_placed_order_is_pending_risk_with_amount_and_window() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    order = _order(now)
    assert order.status is S.PENDING_RISK
    assert order.amount == 3750
    assert order.expires_at == now + timedelta(minutes=10)
    assert [(t.from_state, t.to_state, t.trigger) for t in order.pending_transitions] == [
        (None, S.PENDING_RISK, "place")
    ]


def test_apply_records_each_transition() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    order = _order(now)
    order.approve(now + timedelta(seconds=1), timedelta(minutes=10))
    order.apply(T.STOCK_RESERVED, now + timedelta(seconds=2))
    order.pay(now + timedelta(seconds=3))
    assert order.status is S.PAID
    assert order.paid_at == now + timedelta(seconds=3)
    assert [(t.from_state, t.to_state, t.trigger) for t in order.pending_transitions][1:] == [
        (S.PENDING_RISK, S.RESERVING, "approve"),
        (S.RESERVING, S.AWAITING_PAYMENT, "stock_reserved"),
        (S.AWAITING_PAYMENT, S.PAID, "pay"),
    ]


def test_invalid_trigger_changes_nothing() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    order = _order(now)
    before = (order.status, order.updated_at, len(order.pending_transitions))
    with pytest.raises(InvalidTransition):
        order.pay(now + timedelta(seconds=5))
    with pytest.raises(InvalidTransition):
        order.deliver(now + timedelta(seconds=5))
    assert (order.status, order.updated_at, len(order.pending_transitions)) == before
    assert order.paid_at is None and order.delivered_at is None


def test_approval_window_runs_from_placement_or_from_a_review_approval() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    direct = _order(now)
    assert direct.approve(now + timedelta(seconds=30), timedelta(minutes=10)) == now + timedelta(minutes=10)
    reviewed = _order(now)
    reviewed.apply(T.REVIEW, now)
    later = now + timedelta(hours=2)
    assert reviewed.approve(later, timedelta(minutes=10)) == later + timedelta(minutes=10)


def test_failure_keeps_its_reason() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    order = _order(now)
    order.status = S.PAID
    order.fail(T.ALLOCATION_FAILED, "reservation lapsed", now)
    assert order.status is S.DELIVERY_FAILED
    assert order.status_reason == "reservation lapsed"


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (S.PAID, "duplicate_payment_needs_refund"),
        (S.DELIVERED, "duplicate_payment_needs_refund"),
        (S.PENDING_RISK, "unexpected_payment_needs_refund"),
    ],
)
def test_extra_payment_is_flagged(state: Status, reason: str) -> None:
    order = _order(datetime(2025, 1, 1, tzinfo=UTC))
    order.status = state
    assert order.flag_extra_payment(datetime(2025, 1, 2, tzinfo=UTC)) == reason
    assert order.status is state


def test_the_shared_status_names_are_the_state_machines() -> None:
    assert set(get_args(OrderStatus)) == {status.value for status in Status}
