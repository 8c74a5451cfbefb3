"""Every provider's notification through the real order database: a valid one pays the order once; a
correctly signed one for a different amount or order number changes nothing that delivers; ten concurrent
notifications of one trade, out of order and mixed with non-final statuses, pay the order exactly once."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound
from order.domain.payments import BadNotification
from order.service_layer import payments

pytestmark = pytest.mark.integration

PROVIDERS = ["sandbox", "epay", "alipay", "wechatpay", "stripe", "usdt"]


async def ledger(db: Any, order: Any) -> dict[str, Any]:
    rows = await db.fetch("SELECT status, status_reason FROM orders WHERE id = $1", order.id)
    return {
        "status": rows[0]["status"],
        "reason": rows[0]["status_reason"],
        "payments": len(await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id)),
        "paid_events": len(await db.fetch("SELECT 1 FROM outbox WHERE type = 'OrderPaid'")),
        "pay_transitions": len(
            await db.fetch(
                "SELECT 1 FROM order_transitions WHERE order_id = $1 AND trigger = 'pay'", order.id
            )
        ),
    }


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_valid_notification_pays_the_order_once(db: Any, kit: Any, provider: str) -> None:
    order = await db.awaiting_order(2599)
    providers = kit.providers()
    raw = kit.notice(provider, order.order_no, 2599, "T-1")
    assert await payments.receive_payment(DEFAULT_SHOP_ID, provider, raw, db.uow(), providers) == "accepted"
    assert await payments.receive_payment(DEFAULT_SHOP_ID, provider, raw, db.uow(), providers) == "duplicate"
    assert await ledger(db, order) == {
        "status": "paid",
        "reason": None,
        "payments": 1,
        "paid_events": 1,
        "pay_transitions": 1,
    }
    [event] = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderPaid'")
    payload = json.loads(event["value"])["payload"]
    assert (payload["provider"], payload["trade_no"], payload["amount"]) == (provider, "T-1", 2599)


@pytest.mark.parametrize("first", ["session", "intent"])
async def test_stripe_checkout_session_and_payment_intent_events_record_one_payment(
    db: Any, kit: Any, first: str
) -> None:
    """An endpoint subscribed to both checkout.session.completed and payment_intent.succeeded gets both for
    one payment, in either order; both name it by the PaymentIntent id, so the second is a duplicate."""
    order = await db.awaiting_order(2599)
    providers = kit.providers()
    session = kit.notice("stripe", order.order_no, 2599, "pi_3OrderIntent0001")
    intent = kit.notice("stripe", order.order_no, 2599, "pi_3OrderIntent0001", intent=True)
    events = [session, intent] if first == "session" else [intent, session]
    results = [
        await payments.receive_payment(DEFAULT_SHOP_ID, "stripe", raw, db.uow(), providers) for raw in events
    ]
    assert results == ["accepted", "duplicate"]
    assert (await ledger(db, order))["payments"] == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_different_amount_is_refused_and_flags_the_order(db: Any, kit: Any, provider: str) -> None:
    order = await db.awaiting_order(2599)
    raw = kit.notice(provider, order.order_no, 100, "T-1")
    with pytest.raises(BadNotification, match="amount mismatch"):
        await payments.receive_payment(DEFAULT_SHOP_ID, provider, raw, db.uow(), kit.providers())
    assert await ledger(db, order) == {
        "status": "awaiting_payment",
        "reason": "payment_amount_mismatch_needs_refund",
        "payments": 0,
        "paid_events": 0,
        "pay_transitions": 0,
    }
    [kept] = await db.fetch("SELECT provider, trade_no, amount FROM payment_exceptions")
    assert tuple(kept) == (provider, "T-1", 100)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_another_order_number_changes_nothing(db: Any, kit: Any, provider: str) -> None:
    order = await db.awaiting_order(2599)
    raw = kit.notice(provider, "F20990101000000ZZZZZZ", 2599, "T-1")
    with pytest.raises(NotFound):
        await payments.receive_payment(DEFAULT_SHOP_ID, provider, raw, db.uow(), kit.providers())
    assert await ledger(db, order) == {
        "status": "awaiting_payment",
        "reason": None,
        "payments": 0,
        "paid_events": 0,
        "pay_transitions": 0,
    }
    assert await db.fetch("SELECT 1 FROM payment_exceptions") == []


@pytest.mark.parametrize("provider", ["alipay", "epay", "wechatpay"])
async def test_ten_concurrent_out_of_order_notifications_pay_once(db: Any, kit: Any, provider: str) -> None:
    order = await db.awaiting_order(2599)
    final = {
        "alipay": ["TRADE_SUCCESS", "TRADE_FINISHED"],
        "epay": ["TRADE_SUCCESS"],
        "wechatpay": ["SUCCESS"],
    }
    pending = {"alipay": "WAIT_BUYER_PAY", "epay": "WAIT_PAY", "wechatpay": "USERPAYING"}
    statuses = [final[provider][i % len(final[provider])] for i in range(7)] + [pending[provider]] * 3
    random.Random(7).shuffle(statuses)
    notices = [kit.notice(provider, order.order_no, 2599, "T-same", status=s) for s in statuses]
    providers = kit.providers()
    results = await asyncio.gather(
        *(payments.receive_payment(DEFAULT_SHOP_ID, provider, n, db.uow(), providers) for n in notices),
        return_exceptions=True,
    )
    accepted = [r for r in results if r == "accepted"]
    duplicates = [r for r in results if r == "duplicate"]
    refused = [r for r in results if isinstance(r, BadNotification)]
    assert (len(accepted), len(duplicates), len(refused)) == (1, 6, 3), results
    assert await ledger(db, order) == {
        "status": "paid",
        "reason": None,
        "payments": 1,
        "paid_events": 1,
        "pay_transitions": 1,
    }
