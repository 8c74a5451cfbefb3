"""Refunds against the real order database through the sandbox provider: partial then full, each with
OrderRefunded; more than was paid is refused; concurrent refunds never give back more than was paid; a
provider that refuses leaves the order as it was."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Conflict, DomainError
from order.adapters.payments.base import RefundUnsupported
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import DbLedger, SandboxProvider
from order.domain.payments import VerifiedPayment
from order.service_layer import payments

pytestmark = pytest.mark.integration


class NoRefunds(SandboxProvider):
    async def refund(self, *args: Any, **kwargs: Any) -> Any:
        raise RefundUnsupported("this provider cannot refund")


async def paid_order(db: Any, amount: int = 3000) -> Any:
    order = await db.awaiting_order(amount)
    notice = VerifiedPayment("sandbox", order.order_no, f"SBX-{order.order_no}", amount, "CNY")
    assert await payments.apply_payment(DEFAULT_SHOP_ID, notice, db.uow(), datetime.now(UTC)) == "accepted"
    return order


def providers(db: Any, cls: type[SandboxProvider] = SandboxProvider) -> PaymentProviders:
    return PaymentProviders({"sandbox": cls("refund-secret", "http://127.0.0.1:9", DbLedger(db.sessions))})


async def refunded_events(db: Any) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderRefunded' ORDER BY id")
    return [json.loads(r["value"])["payload"] for r in rows]


async def test_partial_then_full_refund(db: Any) -> None:
    order = await paid_order(db)
    first = await payments.refund_order(
        DEFAULT_SHOP_ID, order.order_no, 1000, "buyer_request", db.uow, providers(db)
    )
    assert (first.order.status.value, first.order.refunded_amount) == ("partially_refunded", 1000)
    rest = await payments.refund_order(
        DEFAULT_SHOP_ID, order.order_no, None, "buyer_request", db.uow, providers(db)
    )
    assert (rest.amount, rest.order.status.value, rest.order.refunded_amount) == (2000, "refunded", 3000)
    events = await refunded_events(db)
    assert [(e["amount"], e["refunded_total"], e["full"]) for e in events] == [
        (1000, 1000, False),
        (2000, 3000, True),
    ]
    assert {e["refund_no"] for e in events} == {first.refund_no, rest.refund_no}
    statuses = await db.fetch("SELECT status FROM refunds ORDER BY requested_at")
    assert [r["status"] for r in statuses] == ["succeeded", "succeeded"]
    with pytest.raises(Conflict):
        await payments.refund_order(DEFAULT_SHOP_ID, order.order_no, 1, "again", db.uow, providers(db))


async def test_concurrent_refunds_never_exceed_what_was_paid(db: Any) -> None:
    order = await paid_order(db, 3000)
    results = await asyncio.gather(
        *(
            payments.refund_order(DEFAULT_SHOP_ID, order.order_no, 1000, "r", db.uow, providers(db))
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(done), len(refused)) == (3, 2), results
    [row] = await db.fetch("SELECT status, refunded_amount FROM orders WHERE id = $1", order.id)
    assert (row["status"], row["refunded_amount"]) == ("refunded", 3000)
    assert sum(e["amount"] for e in await refunded_events(db)) == 3000


async def test_unpaid_orders_and_refused_refunds_change_nothing(db: Any) -> None:
    unpaid = await db.awaiting_order(3000)
    with pytest.raises(Conflict, match="nothing has been paid"):
        await payments.refund_order(DEFAULT_SHOP_ID, unpaid.order_no, None, "r", db.uow, providers(db))
    order = await paid_order(db)
    with pytest.raises(DomainError, match="cannot refund"):
        await payments.refund_order(
            DEFAULT_SHOP_ID, order.order_no, 500, "r", db.uow, providers(db, NoRefunds)
        )
    [row] = await db.fetch("SELECT status, refunded_amount FROM orders WHERE id = $1", order.id)
    assert (row["status"], row["refunded_amount"]) == ("paid", 0)
    assert [r["status"] for r in await db.fetch("SELECT status FROM refunds")] == ["failed"]
    assert await refunded_events(db) == []
    again = await payments.refund_order(DEFAULT_SHOP_ID, order.order_no, 3000, "r", db.uow, providers(db))
    assert again.order.status.value == "refunded"
