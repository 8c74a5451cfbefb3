"""A payment from an account a risk blocklist names, on a real PostgreSQL and the real Redis where the risk
service publishes its lists: the money is kept on record and the order paid, but held - no OrderPaid (so
nothing is allocated or delivered) and an OrderNeedsAttention for the seller, who can refund it or release
it for delivery (once, with who and why recorded). Any other
payer's payment is announced with the payer on OrderPaid; a payer list out of reach refuses the
notification (the provider sends it again) instead of delivering unchecked."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio as redis
from faka_common.contracts.risk_rules import payers_key
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound, Unavailable
from faka_common.sandbox_payment import signed_notification
from order.adapters.payer_lists import RedisPayerLists
from order.adapters.payments.base import RawNotification
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import MemoryLedger, SandboxProvider
from order.domain.model import NotHeld, Order
from order.domain.payments import BadNotification
from order.service_layer import order_history, payments

pytestmark = pytest.mark.integration

SECRET = "integration-sandbox-secret"


async def payer_lists(listed: dict[str, str]) -> RedisPayerLists:
    """The payer lists in a Redis namespace of the test's own, each scope (`platform` or a shop's id)
    listing the account `listed` gives it."""
    namespace = f"payers-{uuid4().hex[:8]}."
    store = redis.from_url(os.environ["REDIS_URL"])
    try:
        for scope, account in listed.items():
            await store.sadd(payers_key(namespace, scope), account)
    finally:
        await store.aclose()
    return RedisPayerLists(os.environ["REDIS_URL"], namespace)


@pytest.fixture
async def providers() -> AsyncIterator[PaymentProviders]:
    """The sandbox, and the payer lists, the shop's listing one stolen account and the platform's
    another."""
    built = PaymentProviders({"sandbox": SandboxProvider(SECRET, "http://127.0.0.1:8000", MemoryLedger())})
    built.payers = await payer_lists(
        {str(DEFAULT_SHOP_ID): "sandbox:stolen-1", "platform": "sandbox:known-fraud"}
    )
    try:
        yield built
    finally:
        await built.payers.aclose()


def notification(order: Order, payer: str | None, sent: dict[str, object] | None = None) -> bytes:
    """A signed notification naming `payer`, with `sent` written over it after signing."""
    params = signed_notification(
        order.order_no, f"T-{uuid4().hex[:8]}", order.amount, order.currency, SECRET, payer=payer
    )
    return json.dumps({**params, **(sent or {})}).encode()


async def pay(db: Any, providers: PaymentProviders, body: bytes) -> str:
    return await payments.receive_payment(
        DEFAULT_SHOP_ID, "sandbox", RawNotification(body), db.uow(), providers
    )


async def outbox(db: Any, order: Order) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT type, value FROM outbox WHERE key = $1 ORDER BY id", str(order.id))
    return [{"type": r["type"], **json.loads(r["value"])["payload"]} for r in rows]


@pytest.mark.parametrize(("payer", "lists"), [("stolen-1", "the shop's"), ("known-fraud", "the platform's")])
async def test_a_payment_from_a_blocked_payer_is_kept_but_held_and_the_seller_is_told(
    db: Any, providers: PaymentProviders, payer: str, lists: str
) -> None:
    order = await db.awaiting_order()
    assert await pay(db, providers, notification(order, payer)) == "accepted"
    [row] = await db.fetch("SELECT status, status_reason FROM orders WHERE id = $1", order.id)
    assert (row["status"], row["status_reason"]) == ("paid", "payer_account_blocked")
    assert len(await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id)) == 1
    announced = await outbox(db, order)
    assert [m["type"] for m in announced] == ["OrderNeedsAttention"]
    assert announced[0]["reason"] == "payer_account_blocked"
    assert (
        f"sandbox:{payer}" in announced[0]["detail"] and f"{lists} risk blocklist" in announced[0]["detail"]
    )


async def test_another_payers_payment_is_announced_with_the_payer(
    db: Any, providers: PaymentProviders
) -> None:
    order = await db.awaiting_order()
    assert await pay(db, providers, notification(order, "honest-buyer")) == "accepted"
    [paid] = [m for m in await outbox(db, order) if m["type"] == "OrderPaid"]
    assert paid["payer_account"] == "sandbox:honest-buyer"
    unnamed = await db.awaiting_order()
    assert await pay(db, providers, notification(unnamed, None)) == "accepted"
    [paid] = [m for m in await outbox(db, unnamed) if m["type"] == "OrderPaid"]
    assert paid["payer_account"] is None


async def test_a_payer_changed_after_signing_is_a_bad_signature(db: Any, providers: PaymentProviders) -> None:
    order = await db.awaiting_order()
    with pytest.raises(BadNotification, match="bad signature"):
        await pay(db, providers, notification(order, "stolen-1", {"payer": "someone-else"}))
    with pytest.raises(BadNotification, match="bad signature"):
        await pay(db, providers, notification(order, None, {"payer": "someone-else"}))
    assert await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id) == []


async def test_payer_lists_out_of_reach_refuse_the_notification_and_change_nothing(db: Any) -> None:
    providers = PaymentProviders(
        {"sandbox": SandboxProvider(SECRET, "http://127.0.0.1:8000", MemoryLedger())}
    )
    providers.payers = RedisPayerLists("redis://127.0.0.1:9/0", timeout=0.2)
    order = await db.awaiting_order()
    try:
        with pytest.raises(Unavailable):
            await pay(db, providers, notification(order, "anyone"))
    finally:
        await providers.payers.aclose()
    [row] = await db.fetch("SELECT status FROM orders WHERE id = $1", order.id)
    assert row["status"] == "awaiting_payment"
    assert await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id) == []


async def held_order(db: Any, providers: PaymentProviders) -> Order:
    order = await db.awaiting_order()
    assert await pay(db, providers, notification(order, "stolen-1")) == "accepted"
    return order


async def test_a_held_order_released_by_a_person_is_announced_paid_once_naming_its_payer_who_and_why(
    db: Any, providers: PaymentProviders
) -> None:
    order = await held_order(db, providers)
    released = await payments.release_held_order(
        DEFAULT_SHOP_ID, order.order_no, "the buyer proved the card is theirs", "owner@shop.example", db.uow()
    )
    assert (released.status.value, released.status_reason) == ("paid", "released_for_delivery")
    announced = await outbox(db, order)
    assert [m["type"] for m in announced] == ["OrderNeedsAttention", "OrderPaid"]
    [trade] = await db.fetch("SELECT trade_no, amount FROM payments WHERE order_id = $1", order.id)
    assert (announced[1]["trade_no"], announced[1]["amount"]) == (trade["trade_no"], trade["amount"])
    assert announced[1]["payer_account"] == "sandbox:stolen-1"  # the payer it was held for
    history = await order_history.order_history(DEFAULT_SHOP_ID, order.order_no, db.uow())
    [release] = history.releases
    assert release["held_for"] == "payer_account_blocked"
    assert (release["reason"], release["released_by"]) == (
        "the buyer proved the card is theirs",
        "owner@shop.example",
    )
    with pytest.raises(NotHeld):
        await payments.release_held_order(DEFAULT_SHOP_ID, order.order_no, "again", "owner", db.uow())
    assert [m["type"] for m in await outbox(db, order)] == ["OrderNeedsAttention", "OrderPaid"]


async def test_two_releases_at_once_announce_the_payment_once(db: Any, providers: PaymentProviders) -> None:
    order = await held_order(db, providers)
    outcomes = await asyncio.gather(
        *(
            payments.release_held_order(DEFAULT_SHOP_ID, order.order_no, "checked", f"person {n}", db.uow())
            for n in range(2)
        ),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["NotHeld", "Order"]
    assert [m["type"] for m in await outbox(db, order)].count("OrderPaid") == 1
    assert len(await db.fetch("SELECT 1 FROM order_releases WHERE order_id = $1", order.id)) == 1


async def test_only_an_order_held_for_its_payer_can_be_released(db: Any, providers: PaymentProviders) -> None:
    delivered_normally = await db.awaiting_order()
    assert await pay(db, providers, notification(delivered_normally, "honest-buyer")) == "accepted"
    unpaid = await db.awaiting_order()
    for order in (delivered_normally, unpaid):
        with pytest.raises(NotHeld, match="not held"):
            await payments.release_held_order(DEFAULT_SHOP_ID, order.order_no, "why", "owner", db.uow())
    held = await held_order(db, providers)
    with pytest.raises(NotFound):  # another shop's order
        await payments.release_held_order(uuid4(), held.order_no, "why", "owner", db.uow())
