"""The late-payment policy against the real order database: a late payment that finds no stock is refunded
automatically through the sandbox provider exactly once (even with two jobs at once, or a lost provider
answer), with OrderRefunded and a seller alert in the outbox; a refund that cannot be made is left to the
operator with another alert."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faka_common.contracts import AllocationFailed
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.adapters.payments.base import PaidTrade, ProviderError, RefundResult, RefundUnsupported
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import DbLedger, SandboxProvider
from order.domain.model import Status
from order.domain.payments import VerifiedPayment
from order.service_layer import auto_refunds, handlers, payments

pytestmark = pytest.mark.integration


class CountingSandbox(SandboxProvider):
    """The sandbox provider, counting the refund calls it receives."""

    calls: list[str]

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        self.calls.append(refund_no)
        await asyncio.sleep(0)
        return await super().refund(trade, amount, refund_no)


class LostAnswerSandbox(CountingSandbox):
    """Refunds on the first call but the answer never arrives (as if we crashed before committing)."""

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        result = await super().refund(trade, amount, refund_no)
        if len(self.calls) == 1:
            raise ProviderError("connection reset after the provider refunded")
        return result


class NoRefunds(CountingSandbox):
    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        self.calls.append(refund_no)
        raise RefundUnsupported("this provider cannot refund")


def sandbox(db: Any, cls: type[CountingSandbox] = CountingSandbox) -> tuple[PaymentProviders, list[str]]:
    provider = cls("auto-refund-secret", "http://127.0.0.1:9", DbLedger(db.sessions))
    provider.calls = []
    return PaymentProviders({"sandbox": provider}), provider.calls


async def late_paid_out_of_stock(db: Any, amount: int = 2500) -> Any:
    """An order that expired, was paid anyway, and whose stock inventory could no longer find."""
    order = await db.awaiting_order(amount, status=Status.EXPIRED)
    notice = VerifiedPayment("sandbox", order.order_no, f"SBX-{order.order_no}", amount, "CNY")
    assert await payments.apply_payment(DEFAULT_SHOP_ID, notice, db.uow(), datetime.now(UTC)) == "accepted"
    event = AllocationFailed(
        order_id=order.id, product_id=order.product_id, reason="out_of_stock_after_expiry"
    )
    async with db.uow() as uow:
        await handlers.on_allocation_failed(event, uow)
        await uow.commit()
    return order


async def outbox(db: Any, type_name: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT value FROM outbox WHERE type = $1 ORDER BY id", type_name)
    return [json.loads(r["value"])["payload"] for r in rows]


async def test_late_payment_without_stock_is_refunded_once_with_an_alert(db: Any) -> None:
    order = await late_paid_out_of_stock(db)
    [owed] = await db.fetch("SELECT state, refund_no FROM auto_refunds WHERE order_id = $1", order.id)
    assert owed["state"] == "pending"
    [alert] = await outbox(db, "OrderNeedsAttention")
    assert (alert["order_no"], alert["reason"]) == (order.order_no, "late_payment_out_of_stock")

    providers, calls = sandbox(db)
    first, second = await asyncio.gather(
        auto_refunds.auto_refund_once(db.uow, providers),
        auto_refunds.auto_refund_once(db.uow, providers),
    )
    assert first.refunded + second.refunded == 1
    assert calls == [owed["refund_no"]]
    [row] = await db.fetch(
        "SELECT status, refunded_amount, status_reason FROM orders WHERE id = $1", order.id
    )
    assert (row["status"], row["refunded_amount"], row["status_reason"]) == (
        "refunded",
        2500,
        "auto_refunded",
    )
    [refunded] = await outbox(db, "OrderRefunded")
    assert (refunded["refund_no"], refunded["amount"], refunded["full"]) == (owed["refund_no"], 2500, True)
    assert [r["state"] for r in await db.fetch("SELECT state FROM auto_refunds")] == ["succeeded"]
    again = await auto_refunds.auto_refund_once(db.uow, providers)
    assert (again.refunded, calls) == (0, [owed["refund_no"]])


async def test_a_lost_provider_answer_is_retried_under_the_same_refund_number(db: Any) -> None:
    order = await late_paid_out_of_stock(db, 1800)
    providers, calls = sandbox(db, LostAnswerSandbox)
    now = datetime.now(UTC)
    first = await auto_refunds.auto_refund_once(db.uow, providers, now=now)
    assert (first.refunded, first.retrying) == (0, 1)
    [owed] = await db.fetch("SELECT state, attempts, next_attempt_at FROM auto_refunds")
    assert (owed["state"], owed["attempts"]) == ("pending", 1) and owed["next_attempt_at"] > now
    assert (await auto_refunds.auto_refund_once(db.uow, providers, now=now)).retrying == 0  # not due yet

    later = await auto_refunds.auto_refund_once(db.uow, providers, now=now + timedelta(hours=2))
    assert later.refunded == 1
    assert len(calls) == 2 and calls[0] == calls[1]
    [trade] = await db.fetch("SELECT refunded FROM sandbox_trades WHERE order_no = $1", order.order_no)
    assert trade["refunded"] == 1800
    [row] = await db.fetch("SELECT status, refunded_amount FROM orders WHERE id = $1", order.id)
    assert (row["status"], row["refunded_amount"]) == ("refunded", 1800)
    assert len(await outbox(db, "OrderRefunded")) == 1


async def test_a_refund_the_provider_refuses_is_left_to_the_operator(db: Any) -> None:
    order = await late_paid_out_of_stock(db)
    providers, calls = sandbox(db, NoRefunds)
    summary = await auto_refunds.auto_refund_once(db.uow, providers)
    assert (summary.failed, len(calls)) == (1, 1)
    [owed] = await db.fetch("SELECT state, last_error FROM auto_refunds")
    assert owed["state"] == "failed" and "cannot refund" in owed["last_error"]
    alerts = await outbox(db, "OrderNeedsAttention")
    assert [a["reason"] for a in alerts] == ["late_payment_out_of_stock", "auto_refund_failed"]
    [row] = await db.fetch("SELECT status, refunded_amount FROM orders WHERE id = $1", order.id)
    assert (row["status"], row["refunded_amount"]) == ("delivery_failed", 0)
    assert await outbox(db, "OrderRefunded") == []
