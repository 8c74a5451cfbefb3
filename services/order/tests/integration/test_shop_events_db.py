"""What the order service emits names the order's shop: each event it acts on, about an order of a shop
that is not the default, leads to messages carrying that shop; the same event naming another shop changes
nothing; the order's own jobs (expiry, payment, automatic refunds) announce the order's shop; and no message
reaches the outbox without naming its shop."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import (
    AllocationFailed,
    DeliveryFailed,
    DeliverySucceeded,
    Message,
    OrderCancelled,
    RiskDecided,
    StockReserved,
    StockUnavailable,
)
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.adapters.payments.registry import PaymentProviders
from order.domain.model import Order, Status
from order.domain.payments import VerifiedPayment
from order.service_layer import auto_refunds, handlers, payments, services

from .conftest import Db, awaiting_payment_order

pytestmark = pytest.mark.integration

SHOP = uuid4()
WINDOW = timedelta(minutes=10)

Handler = Callable[[Any, Any], Any]
#: (the order's state, the handler, the event for an order and a shop, what it emits)
CASES: dict[str, tuple[Status, Handler, Callable[[Order, UUID], Message], list[str]]] = {
    "approved": (
        Status.PENDING_RISK,
        partial(handlers.on_risk_decided, payment_window=WINDOW),
        lambda o, shop: RiskDecided(order_id=o.id, shop_id=shop, verdict="approve"),
        ["OrderApproved"],
    ),
    "rejected": (
        Status.PENDING_RISK,
        partial(handlers.on_risk_decided, payment_window=WINDOW),
        lambda o, shop: RiskDecided(order_id=o.id, shop_id=shop, verdict="reject", reasons=["ip_velocity"]),
        ["OrderRejected"],
    ),
    "out of stock": (
        Status.RESERVING,
        handlers.on_stock_unavailable,
        lambda o, shop: StockUnavailable(
            order_id=o.id, shop_id=shop, product_id=o.product_id, requested=1, available=0
        ),
        ["OrderCancelled"],
    ),
    "free and reserved": (
        Status.RESERVING,
        handlers.on_stock_reserved,
        lambda o, shop: StockReserved(
            order_id=o.id, shop_id=shop, product_id=o.product_id, quantity=1, expires_at=None
        ),
        ["OrderPaid"],
    ),
    "paid and out of stock": (
        Status.PAID,
        handlers.on_allocation_failed,
        lambda o, shop: AllocationFailed(
            order_id=o.id, shop_id=shop, product_id=o.product_id, reason="out_of_stock"
        ),
        ["OrderNeedsAttention"],
    ),
    "delivered": (
        Status.FULFILLING,
        handlers.on_delivery_succeeded,
        lambda o, shop: DeliverySucceeded(
            order_id=o.id, shop_id=shop, delivery_id=uuid4(), mode="card_key", item_count=1
        ),
        ["OrderDelivered"],
    ),
    "delivery failed": (
        Status.FULFILLING,
        handlers.on_delivery_failed,
        lambda o, shop: DeliveryFailed(order_id=o.id, shop_id=shop, delivery_id=uuid4(), reason="smtp"),
        [],
    ),
}


async def emitted(db: Db) -> list[tuple[str, str]]:
    rows = await db.fetch("SELECT type, value FROM outbox ORDER BY id")
    return [(r["type"], json.loads(r["value"])["payload"]["shop_id"]) for r in rows]


async def status_of(db: Db, order: Order) -> str:
    [row] = await db.fetch("SELECT status FROM orders WHERE id = $1", order.id)
    return str(row["status"])


async def order_of_the_shop(db: Db, case: str) -> Order:
    """The shop's order in the state the case starts from (a free one for the free case)."""
    return await awaiting_payment_order(
        db, 0 if case.startswith("free") else 2500, shop_id=SHOP, status=CASES[case][0]
    )


async def handle(db: Db, handler: Handler, event: Message) -> None:
    async with db.uow() as uow:
        await handler(event, uow)
        await uow.commit()


@pytest.mark.parametrize("case", list(CASES))
async def test_an_event_about_a_shops_order_leads_to_messages_naming_that_shop(db: Db, case: str) -> None:
    state, handler, event, emits = CASES[case]
    order = await order_of_the_shop(db, case)
    await handle(db, handler, event(order, SHOP))
    assert await status_of(db, order) != state.value
    assert await emitted(db) == [(type_name, str(SHOP)) for type_name in emits]
    owed = await db.fetch("SELECT shop_id FROM auto_refunds")
    assert [r["shop_id"] for r in owed] == ([SHOP] if case == "paid and out of stock" else [])


@pytest.mark.parametrize("case", list(CASES))
async def test_an_event_naming_another_shop_changes_nothing(db: Db, case: str) -> None:
    state, handler, event, _ = CASES[case]
    order = await order_of_the_shop(db, case)
    await handle(db, handler, event(order, DEFAULT_SHOP_ID))
    assert await status_of(db, order) == state.value
    assert await emitted(db) == []


async def test_expiry_payment_and_a_recharge_request_name_the_orders_shop(db: Db) -> None:
    overdue = await awaiting_payment_order(db, shop_id=SHOP)
    await services.expire_overdue(db.uow(), now=datetime.now(UTC) + 2 * WINDOW)
    recharge = await awaiting_payment_order(
        db, shop_id=SHOP, delivery_type="recharge", buyer_fields={"account": "13800138000"}
    )
    notice = VerifiedPayment("sandbox", recharge.order_no, "T-1", recharge.amount, "CNY")
    assert await payments.apply_payment(None, notice, db.uow(), datetime.now(UTC)) == "accepted"
    assert await status_of(db, overdue) == "expired"
    assert await emitted(db) == [
        ("OrderCancelled", str(SHOP)),
        ("OrderPaid", str(SHOP)),
        ("RechargeRequested", str(SHOP)),
    ]
    [payment] = await db.fetch("SELECT shop_id FROM payments")
    assert payment["shop_id"] == SHOP


async def test_an_automatic_refund_that_gives_up_alerts_the_orders_shop(db: Db) -> None:
    order = await awaiting_payment_order(db, shop_id=SHOP, status=Status.PAID)
    async with db.uow() as uow:
        await uow.auto_refunds.add(order, "R-1", "out_of_stock", datetime.now(UTC))
        await uow.commit()
    summary = await auto_refunds.auto_refund_once(db.uow, PaymentProviders({}), max_attempts=1)
    assert summary.failed == 1
    assert await emitted(db) == [("OrderNeedsAttention", str(SHOP))]


async def test_a_message_that_does_not_name_its_shop_never_reaches_the_outbox(db: Db) -> None:
    order = await awaiting_payment_order(db, shop_id=SHOP)
    async with db.uow() as uow:
        with pytest.raises(TypeError, match="shop_id"):
            uow.publish(OrderCancelled(order_id=order.id, order_no=order.order_no, reason="expired"))
        uow.publish(
            OrderCancelled(order_id=order.id, shop_id=SHOP, order_no=order.order_no, reason="expired")
        )
        await uow.commit()
    assert await emitted(db) == [("OrderCancelled", str(SHOP))]
