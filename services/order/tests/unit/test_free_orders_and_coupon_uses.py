"""Domain rules: which transitions give a coupon use back or take it again, and a zero-amount order paid
directly when its stock is reserved."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.domain.model import PAID_STATES, UNPAID_ENDS, InvalidTransition, Order, Status, Trigger
from order.domain.payments import FREE, free_payment
from order.domain.pricing import Coupon, coupon_use_change, price

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def order(unit_price: int = 500, discount: int = 0, status: Status = Status.RESERVING) -> Order:
    placed = Order.place(
        id=uuid4(),
        shop_id=DEFAULT_SHOP_ID,
        order_no="F20260101000000ABCDEF",
        product_id=uuid4(),
        product_title="Key",
        quantity=2,
        unit_price=unit_price,
        currency="CNY",
        buyer_email="a@example.com",
        buyer_ip=None,
        locale="en",
        password_hash=None,
        now=NOW,
        payment_window=timedelta(minutes=10),
        discount=discount,
        coupon_code="ALL" if discount else None,
    )
    placed.status = status
    return placed


@pytest.mark.parametrize(("before", "after"), list(itertools.product(Status, Status)))
def test_coupon_use_change_for_every_pair_of_states(before: Status, after: Status) -> None:
    expected = 0
    if before not in UNPAID_ENDS and after in UNPAID_ENDS:
        expected = -1
    elif before in UNPAID_ENDS and after not in UNPAID_ENDS:
        expected = 1
    assert coupon_use_change(before, after) == expected


def test_every_unpaid_ending_edge_gives_the_use_back_and_no_paid_state_does() -> None:
    from order.domain.model import TRANSITIONS

    endings = {(s, t) for (s, t), target in TRANSITIONS.items() if coupon_use_change(s, target) == -1}
    assert endings == {
        (Status.PENDING_RISK, Trigger.REJECT),
        (Status.REVIEW, Trigger.REJECT),
        (Status.RESERVING, Trigger.STOCK_UNAVAILABLE),
        (Status.AWAITING_PAYMENT, Trigger.EXPIRE),
        (Status.AWAITING_PAYMENT, Trigger.CANCEL),
    }
    taken_again = {(s, t) for (s, t), target in TRANSITIONS.items() if coupon_use_change(s, target) == 1}
    assert taken_again == {(Status.EXPIRED, Trigger.PAY), (Status.CANCELLED, Trigger.PAY)}
    assert all(coupon_use_change(s, s) == 0 for s in PAID_STATES)
    assert coupon_use_change(Status.PAID, Status.REFUNDED) == 0  # a refund does not give the use back


def test_a_zero_amount_order_is_paid_when_its_stock_is_reserved() -> None:
    free = order(unit_price=0)
    assert free.free and free.amount == 0
    assert free.reserve(NOW) is True
    assert (free.status, free.paid_at) == (Status.PAID, NOW)
    assert [(t.from_state, t.to_state, t.trigger) for t in free.pending_transitions][-2:] == [
        (Status.RESERVING, Status.AWAITING_PAYMENT, "stock_reserved"),
        (Status.AWAITING_PAYMENT, Status.PAID, "pay"),
    ]


def test_a_whole_price_coupon_makes_the_order_free_and_a_priced_order_waits() -> None:
    everything = Coupon.new(
        shop_id=DEFAULT_SHOP_ID, code="all", kind="percent", value=100, currency=None, product_id=None,
        category_id=None, usage_limit=None, per_buyer_limit=None, expires_at=None, now=NOW,
    )  # fmt: skip
    priced = price(500, 2, everything)
    assert (priced.discount, priced.amount) == (1000, 0)
    free = order(unit_price=500, discount=priced.discount)
    assert free.free and free.reserve(NOW) and free.status is Status.PAID
    paying = order(unit_price=500)
    assert not paying.free and paying.reserve(NOW) is False
    assert paying.status is Status.AWAITING_PAYMENT and paying.paid_at is None


def test_reserve_is_guarded_like_any_transition() -> None:
    free = order(unit_price=0, status=Status.PAID)
    with pytest.raises(InvalidTransition):
        free.reserve(NOW)
    assert free.status is Status.PAID


def test_the_free_payment_record_is_one_per_order_and_takes_nothing() -> None:
    record = free_payment("F1", "CNY")
    assert (record.provider, record.trade_no, record.amount, record.currency) == (FREE, "FREE-F1", 0, "CNY")
    assert free_payment("F1", "CNY") == record
    assert order(unit_price=0, status=Status.PAID).refundable == 0
