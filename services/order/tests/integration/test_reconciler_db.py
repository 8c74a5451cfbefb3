"""The reconciler against the real order database: a provider that never calls back (the sandbox told
to drop its callbacks) still gets its paid orders completed, once, its payer checked against the risk
blocklists (the real Redis) as a notified payment's; the daily report compares our books with the
provider's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import DbLedger, SandboxProvider
from order.domain.payments import VerifiedPayment
from order.service_layer import payments, services

from .test_blocked_payers_db import payer_lists

pytestmark = pytest.mark.integration

LEAD, LOOKBACK, EVERY = timedelta(minutes=2), timedelta(minutes=30), timedelta(seconds=30)


def sandbox(db: Any) -> tuple[SandboxProvider, PaymentProviders]:
    provider = SandboxProvider(
        "reconcile-secret", "http://127.0.0.1:9", DbLedger(db.sessions), drop_callbacks=True
    )
    return provider, PaymentProviders({"sandbox": provider})


async def state(db: Any, order: Any) -> tuple[str, int, int]:
    [row] = await db.fetch("SELECT status FROM orders WHERE id = $1", order.id)
    paid_events = await db.fetch("SELECT 1 FROM outbox WHERE type = 'OrderPaid' AND key = $1", str(order.id))
    recorded = await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id)
    return row["status"], len(recorded), len(paid_events)


async def reconcile(db: Any, providers: PaymentProviders, now: datetime) -> payments.ReconcileSummary:
    return await payments.reconcile_once(db.uow, providers, LEAD, LOOKBACK, EVERY, now=now)


async def test_a_lost_callback_is_completed_by_the_reconciler(db: Any) -> None:
    provider, providers = sandbox(db)
    now = datetime.now(UTC)
    lost = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    unpaid = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    later = await db.awaiting_order(2599, expires_at=now + timedelta(minutes=9))
    await provider.pay(payments.payment_order(lost))
    await provider.pay(payments.payment_order(later))
    assert await state(db, lost) == ("awaiting_payment", 0, 0)  # the callback never came

    summary = await reconcile(db, providers, now)
    assert (summary.asked, summary.completed, summary.failures) == (2, 1, [])
    assert await state(db, lost) == ("paid", 1, 1)
    assert await state(db, unpaid) == ("awaiting_payment", 0, 0)
    assert await state(db, later) == ("awaiting_payment", 0, 0)  # not near its expiry yet

    again = await reconcile(db, providers, now + EVERY + timedelta(seconds=1))
    assert again.completed == 0
    assert await state(db, lost) == ("paid", 1, 1)


async def test_a_reconciled_sandbox_payment_from_a_blocked_payer_is_held_and_its_release_names_the_payer(
    db: Any,
) -> None:
    provider, providers = sandbox(db)
    providers.payers = await payer_lists({str(DEFAULT_SHOP_ID): "sandbox:stolen-1"})
    now = datetime.now(UTC)
    blocked = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    honest = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    await provider.pay(payments.payment_order(blocked), payer="stolen-1")
    await provider.pay(payments.payment_order(honest), payer="honest-buyer")
    try:
        summary = await reconcile(db, providers, now)
    finally:
        await providers.payers.aclose()
    assert (summary.completed, summary.failures) == (2, [])
    states = "SELECT status, status_reason FROM orders WHERE id = $1"
    assert [tuple(r) for r in await db.fetch(states, blocked.id)] == [("paid", "payer_account_blocked")]
    assert [m["type"] for m in await announced(db, blocked)] == ["OrderNeedsAttention"]
    assert [m["payer_account"] for m in await announced(db, honest)] == ["sandbox:honest-buyer"]

    await payments.release_held_order(DEFAULT_SHOP_ID, blocked.order_no, "card checked", "owner", db.uow())
    _, paid = await announced(db, blocked)
    assert (paid["type"], paid["payer_account"]) == ("OrderPaid", "sandbox:stolen-1")


async def announced(db: Any, order: Any) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT type, value FROM outbox WHERE key = $1 ORDER BY id", str(order.id))
    return [{"type": r["type"], **json.loads(r["value"])["payload"]} for r in rows]


async def test_an_order_expired_before_the_lost_callback_is_still_completed(db: Any) -> None:
    provider, providers = sandbox(db)
    now = datetime.now(UTC)
    order = await db.awaiting_order(2599, expires_at=now - timedelta(seconds=5))
    await provider.pay(payments.payment_order(order))
    assert await services.expire_overdue(db.uow(), now) == 1
    assert (await reconcile(db, providers, now)).completed == 1
    assert await state(db, order) == ("paid", 1, 1)


async def test_a_transient_verification_failure_queues_the_order_for_a_provider_query(db: Any) -> None:
    provider, providers = sandbox(db)
    now = datetime.now(UTC)
    order = await db.awaiting_order(2599, expires_at=now + timedelta(minutes=9))
    await provider.pay(payments.payment_order(order))
    async with db.uow() as uow:
        await uow.checks.add(
            DEFAULT_SHOP_ID, "sandbox", order.order_no, "unknown platform certificate serial", now
        )
        await uow.commit()
    assert (await reconcile(db, providers, now)).completed == 1
    assert await state(db, order) == ("paid", 1, 1)
    assert await db.fetch("SELECT 1 FROM payment_checks WHERE done_at IS NULL") == []


async def test_the_daily_report_compares_our_books_with_the_provider(db: Any) -> None:
    provider, providers = sandbox(db)
    now = datetime.now(UTC)
    confirmed = await db.awaiting_order(1000)
    provider_only = await db.awaiting_order(2000)
    for order in (confirmed, provider_only):
        await provider.pay(payments.payment_order(order))
    trade = await provider.ledger.find(confirmed.order_no)
    assert trade is not None
    await payments.apply_payment(
        DEFAULT_SHOP_ID,
        VerifiedPayment("sandbox", confirmed.order_no, trade.trade_no, 1000, "CNY"),
        db.uow(),
        now,
    )
    report = await payments.reconciliation_report(DEFAULT_SHOP_ID, now.date(), db.uow, providers)
    sandbox_books = report["providers"]["sandbox"]
    assert sandbox_books["ours"] == {"count": 1, "amount": 1000}
    assert sandbox_books["confirmed"] == 1 and sandbox_books["mismatches"] == []
    assert [o["order_no"] for o in sandbox_books["provider_only"]] == [provider_only.order_no]
    assert report["date"] == now.date().isoformat()


async def test_an_expired_unpaid_order_is_asked_about_less_often_the_longer_it_has_been_expired(
    db: Any,
) -> None:
    _, providers = sandbox(db)
    start = datetime.now(UTC)
    abandoned = await db.awaiting_order(2599, expires_at=start)  # never paid
    asked_at = []
    for second in range(0, int(LOOKBACK.total_seconds()) + 120, 15):  # a reconciler round every 15 s
        now = start + timedelta(seconds=second)
        if (await reconcile(db, providers, now)).asked:
            asked_at.append(second)
    # spaced by half the time since expiry once that is longer than EVERY: not every 30 s for 30 minutes
    assert asked_at[:2] == [0, 45], asked_at  # EVERY (30 s) after the last ask, as before expiry
    gaps = [b - a for a, b in pairwise(asked_at)]
    assert all(gap >= EVERY.total_seconds() for gap in gaps)
    assert gaps == sorted(gaps) and gaps[-1] >= 8 * 60, asked_at  # 0, 45 s, 1.75, 3.75, 7.75, 15.75 min
    assert 5 <= len(asked_at) <= 7, asked_at  # against 61 without the spacing
    assert asked_at[-1] <= LOOKBACK.total_seconds()
    assert await state(db, abandoned) == ("awaiting_payment", 0, 0)
