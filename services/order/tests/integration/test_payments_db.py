"""Payments against a real PostgreSQL: concurrent identical notifications pay an order exactly once, and
rejected notifications leave no trace. Needs DATABASE_URL (a server URL, e.g.
postgresql://postgres@127.0.0.1:15432/postgres); each test runs in a fresh database."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound
from faka_common.sandbox_payment import signed_notification
from faka_common.testing import statements_run
from order.adapters.payments.base import RawNotification
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import MemoryLedger, SandboxProvider
from order.domain.model import Order
from order.domain.payments import BadNotification
from order.service_layer import payments, services

pytestmark = pytest.mark.integration

SECRET = "integration-sandbox-secret"


def notification(order: Order, trade_no: str = "T-1", **overrides: object) -> bytes:
    params = signed_notification(order.order_no, trade_no, order.amount, order.currency, SECRET)
    params.update(overrides)
    return json.dumps(params).encode()


PROVIDERS = PaymentProviders({"sandbox": SandboxProvider(SECRET, "http://127.0.0.1:8000", MemoryLedger())})


async def receive(body: bytes, db: Any) -> str:
    return await payments.receive_payment(
        DEFAULT_SHOP_ID, "sandbox", RawNotification(body), db.uow(), PROVIDERS
    )


async def counts(db: Any, order: Order) -> tuple[int, int]:
    payments = await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id)
    paid_events = await db.fetch("SELECT 1 FROM outbox WHERE type = 'OrderPaid' AND key = $1", str(order.id))
    return len(payments), len(paid_events)


async def status_of(db: Any, order: Order) -> tuple[str, str | None]:
    [row] = await db.fetch("SELECT status, status_reason FROM orders WHERE id = $1", order.id)
    return row["status"], row["status_reason"]


async def test_five_identical_concurrent_notifications_pay_exactly_once(db: Any) -> None:
    order = await db.awaiting_order()
    body = notification(order)
    results = await asyncio.gather(*(receive(body, db) for _ in range(5)))
    assert sorted(results) == ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert await counts(db, order) == (1, 1)
    assert await status_of(db, order) == ("paid", None)
    transitions = await db.fetch(
        "SELECT from_state, to_state, trigger FROM order_transitions WHERE order_id = $1 ORDER BY id",
        order.id,
    )
    assert [tuple(r) for r in transitions] == [
        (None, "pending_risk", "place"),
        ("awaiting_payment", "paid", "pay"),
    ]
    [event] = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderPaid'")
    payload = json.loads(event["value"])["payload"]
    assert (payload["order_no"], payload["trade_no"], payload["amount"]) == (order.order_no, "T-1", 2500)


async def test_a_payment_takes_three_statements_its_order_read_locked_with_who_collects_it(db: Any) -> None:
    """The order's locked read answers whom the payment is owed to as well (the buyer's start with the
    provider, the shop's channel): then the payment, then the order's move with its transition and its
    OrderPaid in one statement, between BEGIN and COMMIT."""
    warm, order = await db.awaiting_order(), await db.awaiting_order()
    assert db.engine is not None
    assert await receive(notification(warm, "T-0"), db) == "accepted"  # the connection's codecs set up
    async with statements_run(db.engine) as sent:
        assert await receive(notification(order), db) == "accepted"

    work = [s for s in sent if not s.startswith(("BEGIN", "COMMIT"))]
    assert [s.split()[0] for s in work] == ["SELECT", "INSERT", "WITH"], work
    assert "FROM orders" in work[0] and "payment_attempts" in work[0] and "payment_channels" in work[0]
    assert "FOR NO KEY UPDATE OF orders" in work[0]
    assert all(part in work[2] for part in ("UPDATE orders SET", "INTO order_transitions", "INTO outbox"))
    assert await counts(db, order) == (1, 1)
    assert await status_of(db, order) == ("paid", None)
    paid = await db.fetch("SELECT 1 FROM outbox WHERE type = 'OrderPaid' AND key = $1", str(order.id))
    assert len(paid) == 1


async def test_concurrent_different_trades_pay_once_and_flag_the_rest(db: Any) -> None:
    order = await db.awaiting_order()
    results = await asyncio.gather(*(receive(notification(order, f"T-{i}"), db) for i in range(5)))
    assert results == ["accepted"] * 5
    assert await counts(db, order) == (5, 1)
    assert await status_of(db, order) == ("paid", "duplicate_payment_needs_refund")


async def test_late_payment_of_an_expired_order_pays_it(db: Any) -> None:
    order = await db.awaiting_order(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await services.expire_overdue(db.uow()) == 1
    assert await status_of(db, order) == ("expired", None)
    cancelled = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderCancelled'")
    assert [json.loads(r["value"])["payload"]["reason"] for r in cancelled] == ["expired"]
    assert await receive(notification(order), db) == "accepted"
    assert await counts(db, order) == (1, 1)
    assert await status_of(db, order) == ("paid", None)


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("forged signature", BadNotification),
        ("wrong amount", BadNotification),
        ("wrong currency", BadNotification),
        ("stale timestamp", BadNotification),
        ("unknown order", NotFound),
        ("malformed body", BadNotification),
    ],
)
async def test_rejected_notifications_leave_no_trace(db: Any, case: str, error: type[Exception]) -> None:
    order = await db.awaiting_order()

    def signed(amount: int = order.amount, currency: str = "CNY", **kwargs: int) -> bytes:
        params = signed_notification(order.order_no, "T-1", amount, currency, SECRET, **kwargs)
        return json.dumps(params).encode()

    if case == "forged signature":
        body = notification(order, signature="0" * 64)
    elif case == "wrong amount":
        body = signed(amount=order.amount - 1)
    elif case == "wrong currency":
        body = signed(currency="USD")
    elif case == "stale timestamp":
        body = signed(timestamp=int(time.time()) - 301)
    elif case == "unknown order":
        body = json.dumps(signed_notification("F20990101000000ZZZZZZ", "T-1", 2500, "CNY", SECRET)).encode()
    else:
        body = b'{"order_no": '
    with pytest.raises(error) as caught:
        await receive(body, db)
    assert caught.value.status_code in (400, 404)  # type: ignore[attr-defined]
    assert await db.fetch("SELECT 1 FROM payments") == []
    assert await db.fetch("SELECT 1 FROM outbox") == []
    flagged = case == "wrong amount" or case == "wrong currency"
    # a real payment of the wrong amount is kept for a refund and flags the order, which stays unpaid
    reason = "payment_amount_mismatch_needs_refund" if flagged else None
    assert await status_of(db, order) == ("awaiting_payment", reason)
    assert len(await db.fetch("SELECT 1 FROM payment_exceptions")) == (1 if flagged else 0)
