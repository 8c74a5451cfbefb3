"""The order's business metrics move when the order does, once, and only for what committed: GMV on payment,
state transitions, fulfilments and the paid-to-delivered time, payment discrepancies, what the reconciler
finds. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from faka_common.contracts import DeliverySucceeded
from faka_common.contracts.delivery import DeliveryFailed
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.metrics import shop_label
from faka_common.sandbox_payment import signed_notification
from order.domain.model import Status
from order.domain.payments import BadNotification
from order.service_layer import handlers, payments
from prometheus_client import REGISTRY

from .test_payments_db import SECRET, notification, receive
from .test_reconciler_db import reconcile, sandbox

pytestmark = pytest.mark.integration

#: the label as the metrics write it (taken at collection: the default shop keeps its own past 500 shops)
SHOP = shop_label(DEFAULT_SHOP_ID)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def moves(*metrics: tuple[str, dict[str, str]]) -> Callable[[], list[float]]:
    """A reading of each metric's change since this call."""
    before = [sample(name, **labels) for name, labels in metrics]
    return lambda: [sample(name, **labels) - b for (name, labels), b in zip(metrics, before, strict=True)]


GMV = ("faka_gmv_minor_units_total", {"shop": SHOP, "currency": "CNY"})
PAID = ("faka_order_transitions_total", {"from_state": "awaiting_payment", "to_state": "paid"})
SHOP_PAID = ("faka_shop_orders_total", {"shop": SHOP, "state": "paid"})


async def test_a_paid_order_raises_gmv_by_its_amount_once_however_often_it_is_notified(
    db: Any,
) -> None:
    order = await db.awaiting_order(amount=4200)
    changed = moves(GMV, PAID, SHOP_PAID)
    await asyncio.gather(*(receive(notification(order), db) for _ in range(5)))
    assert changed() == [4200, 1, 1]


async def test_a_transition_rolled_back_counts_nothing(db: Any) -> None:
    order = await db.awaiting_order()
    changed = moves(GMV, PAID, SHOP_PAID)
    async with db.uow() as uow:
        locked = await uow.orders.lock(order.shop_id, order.id)
        locked.pay(datetime.now(UTC))
        await uow.orders.save(locked)
    assert changed() == [0, 0, 0]


async def test_a_payment_of_the_wrong_amount_counts_a_discrepancy_and_no_gmv(db: Any) -> None:
    order = await db.awaiting_order(amount=2500)
    changed = moves(
        GMV, ("faka_payment_discrepancies_total", {"reason": "payment_amount_mismatch_needs_refund"})
    )
    signed = signed_notification(order.order_no, "T-1", 1, order.currency, SECRET)
    with pytest.raises(BadNotification):
        await receive(json.dumps(signed).encode(), db)
    assert changed() == [0, 1]


async def test_a_second_payment_counts_a_duplicate_payment_discrepancy(db: Any) -> None:
    order = await db.awaiting_order()
    await receive(notification(order, "T-1"), db)
    changed = moves(GMV, ("faka_payment_discrepancies_total", {"reason": "duplicate_payment_needs_refund"}))
    await receive(notification(order, "T-2"), db)
    assert changed() == [0, 1]


async def handle(db: Any, handler: Any, event: Any) -> None:
    async with db.uow() as uow:
        await handler(event, uow)
        await uow.commit()


async def test_delivery_observes_the_time_since_payment_and_counts_a_delivered_fulfilment(db: Any) -> None:
    paid_at = datetime.now(UTC) - timedelta(seconds=90)
    order = await db.awaiting_order(status=Status.FULFILLING, paid_at=paid_at, delivery_type="loop_key")
    changed = moves(
        ("faka_order_paid_to_delivered_seconds_count", {"mode": "loop_key"}),
        ("faka_order_paid_to_delivered_seconds_bucket", {"mode": "loop_key", "le": "60.0"}),
        ("faka_order_paid_to_delivered_seconds_bucket", {"mode": "loop_key", "le": "120.0"}),
        ("faka_order_fulfilments_total", {"mode": "loop_key", "outcome": "delivered"}),
    )
    event = DeliverySucceeded(
        order_id=order.id, shop_id=order.shop_id, delivery_id=uuid4(), mode="loop_key", item_count=1
    )
    await handle(db, handlers.on_delivery_succeeded, event)
    assert changed() == [1, 0, 1, 1]


async def test_a_failed_delivery_counts_a_failed_fulfilment_of_its_mode(db: Any) -> None:
    order = await db.awaiting_order(
        status=Status.FULFILLING, paid_at=datetime.now(UTC), delivery_type="manual"
    )
    changed = moves(("faka_order_fulfilments_total", {"mode": "manual", "outcome": "delivery_failed"}))
    event = DeliveryFailed(order_id=order.id, shop_id=order.shop_id, delivery_id=uuid4(), reason="rejected")
    await handle(db, handlers.on_delivery_failed, event)
    assert changed() == [1]


async def test_a_payment_the_reconciler_finds_at_the_provider_is_counted_as_completed(db: Any) -> None:
    provider, providers = sandbox(db)
    now = datetime.now(UTC)
    lost = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    await provider.pay(payments.payment_order(lost))
    outcomes = [
        ("faka_reconciliation_orders_total", {"outcome": o}) for o in ("asked", "completed", "failed")
    ]
    changed = moves(*outcomes)
    await reconcile(db, providers, now)
    assert changed() == [2, 1, 0]
