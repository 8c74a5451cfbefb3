"""The seller's order search and an order's history on a real PostgreSQL: found by number, e-mail in any case
or payment trade number; filtered by status and creation time; paged by key without a gap or a repeat even
when orders share a creation time; the history holds every transition with its trigger, the payments and
the refunds; bad input is a 422 naming the field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from faka_common import sandbox_payment
from faka_common.http import SHOP_HEADER
from order.adapters.inventory import Product

from .conftest import Db, ShopCatalog, order_api

pytestmark = pytest.mark.integration

SHOP = uuid4()
HEADERS = {SHOP_HEADER: str(SHOP)}
PRODUCT = Product(uuid4(), "Gift card", 1999, "CNY", True)


@pytest.fixture
async def api(db: Db) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, ShopCatalog(PRODUCT, shop_id=SHOP)) as client:
        yield client


async def place(api: httpx.AsyncClient, db: Db, email: str = "buyer@example.com") -> dict[str, Any]:
    body = {"product_id": str(PRODUCT.product_id), "quantity": 1, "buyer_email": email}
    placed = await api.post("/internal/orders", json=body, headers=HEADERS)
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    await db.fetch("UPDATE orders SET status = 'awaiting_payment' WHERE order_no = $1", order["order_no"])
    return order


async def pay(api: httpx.AsyncClient, order: dict[str, Any], trade_no: str) -> None:
    params = sandbox_payment.signed_notification(
        order["order_no"], trade_no, order["amount"], order["currency"], sandbox_payment.DEV_SANDBOX_SECRET
    )
    paid = await api.post(
        "/internal/payments/sandbox/notify", content=json.dumps(params).encode(), headers=HEADERS
    )
    assert paid.status_code == 200, paid.text


async def found(api: httpx.AsyncClient, **params: Any) -> list[str]:
    answer = await api.get("/internal/orders", params=params, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return [item["order_no"] for item in answer.json()["items"]]


async def test_an_order_is_found_by_its_number_the_buyers_email_in_any_case_and_its_trade_number(
    api: httpx.AsyncClient, db: Db
) -> None:
    wanted = await place(api, db, "Buyer.One@Example.com")
    other = await place(api, db, "someone@example.com")
    await pay(api, wanted, "TRADE-WANTED-1")
    await pay(api, other, "TRADE-OTHER-1")
    assert await found(api, q=wanted["order_no"]) == [wanted["order_no"]]
    assert await found(api, q="buyer.one@EXAMPLE.com") == [wanted["order_no"]]
    assert await found(api, q="  TRADE-WANTED-1 ") == [wanted["order_no"]]
    assert await found(api, q="TRADE-WANTED") == []
    assert await found(api) == [other["order_no"], wanted["order_no"]]
    [item] = (await api.get("/internal/orders", params={"q": "TRADE-WANTED-1"}, headers=HEADERS)).json()[
        "items"
    ]
    assert item["buyer_email"] == "Buyer.One@Example.com" and item["status"] == "paid"


async def test_orders_are_filtered_by_status_and_creation_time(api: httpx.AsyncClient, db: Db) -> None:
    old = await place(api, db)
    paid = await place(api, db)
    unpaid = await place(api, db)
    await pay(api, paid, "TRADE-PAID")
    last_week = datetime.now(UTC) - timedelta(days=7)
    await db.fetch("UPDATE orders SET created_at = $1 WHERE order_no = $2", last_week, old["order_no"])
    assert await found(api, status="paid") == [paid["order_no"]]
    assert await found(api, status=["paid", "awaiting_payment"]) == [
        unpaid["order_no"],
        paid["order_no"],
        old["order_no"],
    ]
    since = (last_week + timedelta(days=1)).isoformat()
    assert await found(api, **{"from": since}) == [unpaid["order_no"], paid["order_no"]]
    assert await found(api, to=since) == [old["order_no"]]


async def test_pages_by_key_hold_every_order_once_even_when_orders_share_a_creation_time(
    api: httpx.AsyncClient, db: Db
) -> None:
    placed = [(await place(api, db))["order_no"] for _ in range(7)]
    same = datetime.now(UTC).replace(microsecond=0)
    await db.fetch("UPDATE orders SET created_at = $1 WHERE order_no = ANY($2)", same, placed[2:6])
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"after": after} if after else {})}
        answer = (await api.get("/internal/orders", params=params, headers=HEADERS)).json()
        seen += [item["order_no"] for item in answer["items"]]
        pages += 1
        after = answer["next_cursor"]
        if after is None:
            break
    assert sorted(seen) == sorted(placed) and len(seen) == 7 and pages == 3


async def test_bad_search_input_is_a_422_naming_what_is_wrong(api: httpx.AsyncClient) -> None:
    for params, named in (
        ({"after": "bm90IGEgY3Vyc29y"}, "after"),
        ({"from": "2026-12-01T00:00:00"}, "from"),
        ({"to": "0001-01-01T00:00:00+05:00"}, "to"),
        ({"status": "lost"}, "status"),
        ({"limit": 1000}, "limit"),
        ({"q": "x" * 255}, "q"),
    ):
        refused = await api.get("/internal/orders", params=params, headers=HEADERS)
        assert refused.status_code == 422, (params, refused.text)
        assert named in refused.text, (params, refused.text)


async def test_an_orders_history_holds_its_transitions_with_triggers_payments_and_refunds(
    api: httpx.AsyncClient, db: Db
) -> None:
    order = await place(api, db, "history@example.com")
    await pay(api, order, "TRADE-HISTORY")
    refunded = await api.post(
        f"/internal/orders/{order['order_no']}/refunds",
        json={"amount": 500, "reason": "one code did not work"},
        headers=HEADERS,
    )
    assert refunded.status_code == 201, refunded.text
    answer = await api.get(f"/internal/orders/{order['order_no']}/history", headers=HEADERS)
    assert answer.status_code == 200, answer.text
    history = answer.json()
    assert history["order"]["buyer_email"] == "history@example.com"
    assert history["order"]["status"] == "partially_refunded"
    steps = [(t["from_state"], t["to_state"], t["trigger"]) for t in history["transitions"]]
    assert steps[0][0] is None and steps[0][1] == "pending_risk"
    assert ("awaiting_payment", "paid", "pay") in steps
    assert steps[-1] == ("paid", "partially_refunded", "refund_partially")
    assert all(datetime.fromisoformat(t["at"]).tzinfo is not None for t in history["transitions"])
    [payment] = history["payments"]
    assert (payment["provider"], payment["trade_no"], payment["amount"]) == ("sandbox", "TRADE-HISTORY", 1999)
    [refund] = history["refunds"]
    assert (refund["amount"], refund["reason"]) == (500, "one code did not work")
    assert history["payment_exceptions"] == []
    missing = await api.get("/internal/orders/NO-SUCH-ORDER/history", headers=HEADERS)
    assert missing.status_code == 404, missing.text
