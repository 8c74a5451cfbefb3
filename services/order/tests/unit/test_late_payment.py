"""The late-payment policy's decision: which allocation failures owe an automatic refund, how retries back
off and when they give up, and what the AllocationFailed handler writes for them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import AllocationFailed
from faka_common.contracts.envelope import Message
from faka_common.contracts.order import OrderNeedsAttention
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.domain import credentials, late_payment
from order.domain.model import Order, Status
from order.service_layer import handlers

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("reason", ["out_of_stock", "out_of_stock_after_expiry"])
def test_a_paid_order_out_of_stock_is_owed_a_refund(reason: str) -> None:
    assert late_payment.needs_auto_refund(Status.PAID, reason)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (Status.PAID, "supplier_error"),
        (Status.PAID, "no stock left"),
        (Status.FULFILLING, "out_of_stock"),
        (Status.AWAITING_PAYMENT, "out_of_stock"),
        (Status.REFUNDED, "out_of_stock"),
    ],
)
def test_other_failures_or_states_owe_no_automatic_refund(state: Status, reason: str) -> None:
    assert not late_payment.needs_auto_refund(state, reason)


def test_retries_back_off_exponentially_then_give_up() -> None:
    base = timedelta(seconds=10)
    waits = [late_payment.next_attempt(n, NOW, 4, base) for n in range(1, 5)]
    assert waits[:3] == [NOW + timedelta(seconds=s) for s in (10, 20, 40)]
    assert waits[3] is None


def test_backoff_is_capped() -> None:
    assert late_payment.next_attempt(30, NOW, 100) == NOW + late_payment.MAX_BACKOFF


class Orders:
    def __init__(self) -> None:
        self.rows: dict[UUID, Order] = {}

    async def lock(self, shop_id: UUID, order_id: UUID) -> Order | None:
        order = self.rows.get(order_id)
        return replace(order, pending_transitions=[]) if order and order.shop_id == shop_id else None

    async def save(self, order: Order) -> None:
        self.rows[order.id] = replace(order, pending_transitions=[])


class AutoRefunds:
    def __init__(self) -> None:
        self.owed: dict[UUID, str] = {}

    async def add(self, order: Order, refund_no: str, reason: str, at: datetime) -> bool:
        if order.id in self.owed:
            return False
        self.owed[order.id] = refund_no
        return True


class Uow:
    def __init__(self) -> None:
        self.orders = Orders()
        self.auto_refunds = AutoRefunds()
        self.published: list[Message] = []

    def publish(self, message: Message) -> None:
        self.published.append(message)


def order_in(uow: Uow, status: Status) -> Order:
    order = Order.place(
        id=uuid4(),
        shop_id=DEFAULT_SHOP_ID,
        order_no=credentials.new_order_no(NOW),
        product_id=uuid4(),
        product_title="Key",
        quantity=1,
        unit_price=500,
        currency="CNY",
        buyer_email="b@example.com",
        buyer_ip=None,
        locale="en",
        password_hash=None,
        now=NOW,
        payment_window=timedelta(minutes=10),
    )
    order.status = status
    uow.orders.rows[order.id] = order
    return order


async def fail(uow: Uow, order: Order, reason: str) -> None:
    event = AllocationFailed(order_id=order.id, product_id=order.product_id, reason=reason)
    await handlers.on_allocation_failed(event, uow)  # type: ignore[arg-type]


async def test_out_of_stock_after_payment_owes_a_refund_and_alerts_the_seller() -> None:
    uow = Uow()
    order = order_in(uow, Status.PAID)
    await fail(uow, order, "out_of_stock_after_expiry")
    stored = uow.orders.rows[order.id]
    assert (stored.status, stored.status_reason) == (Status.DELIVERY_FAILED, "auto_refund_pending")
    assert list(uow.auto_refunds.owed) == [order.id]
    [alert] = uow.published
    assert isinstance(alert, OrderNeedsAttention)
    assert (alert.order_no, alert.reason) == (order.order_no, "late_payment_out_of_stock")


async def test_other_allocation_failures_alert_the_seller_without_an_automatic_refund() -> None:
    uow = Uow()
    order = order_in(uow, Status.PAID)
    await fail(uow, order, "supplier_error")
    assert uow.orders.rows[order.id].status_reason == "supplier_error"
    assert uow.auto_refunds.owed == {}
    [alert] = uow.published
    assert isinstance(alert, OrderNeedsAttention) and alert.reason == "allocation_failed"


async def test_a_repeated_allocation_failure_is_a_no_op() -> None:
    uow = Uow()
    order = order_in(uow, Status.PAID)
    await fail(uow, order, "out_of_stock")
    await fail(uow, order, "out_of_stock")
    assert len(uow.auto_refunds.owed) == 1 and len(uow.published) == 1
