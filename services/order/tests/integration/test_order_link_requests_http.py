"""A buyer who lost the order's link asks for it by e-mail: the order's own address (any case) stages
OrderLinkRequested on the outbox, any other address or order number stages nothing, and the answer is the
same 202 either way. Notification then has a token issued now, in a response body; only it may ask."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from faka_common.testing import as_caller
from order.adapters.inventory import Product

from .conftest import Db, ShopCatalog, awaiting_payment_order, order_api

pytestmark = pytest.mark.integration

NOTIFICATION = as_caller("notification")
CATALOG = ShopCatalog(Product(uuid4(), "Game key", 1999, "CNY", True))


async def link_requests(db: Db) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderLinkRequested' ORDER BY id")
    return [json.loads(row["value"])["payload"] for row in rows]


async def test_the_orders_own_address_in_any_case_stages_one_link_request(db: Db) -> None:
    order = await awaiting_payment_order(db)
    async with order_api(db, CATALOG) as api:
        answer = await api.post(
            f"/internal/orders/{order.order_no}/link-emails", json={"email": " BUYER@example.com "}
        )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "accepted"}
    [requested] = await link_requests(db)
    assert requested["order_id"] == str(order.id) and requested["order_no"] == order.order_no
    assert requested["shop_id"] == str(order.shop_id)
    assert set(requested) == {"order_id", "shop_id", "order_no", "requested_at"}  # no token, no address


async def test_another_address_or_an_unknown_order_gets_the_same_answer_and_stages_nothing(db: Db) -> None:
    order = await awaiting_payment_order(db)
    async with order_api(db, CATALOG) as api:
        matching = await api.post(
            f"/internal/orders/{order.order_no}/link-emails", json={"email": "buyer@example.com"}
        )
        await db.fetch("DELETE FROM outbox")
        asked = [
            (order.order_no, "other@example.com"),
            (order.order_no, "buyer@example.co"),
            ("F20990101000000ZZZZZZ", "buyer@example.com"),
        ]
        answers = [
            await api.post(f"/internal/orders/{number}/link-emails", json={"email": email})
            for number, email in asked
        ]
    assert [a.status_code for a in answers] == [202] * 3
    assert {a.content for a in answers} == {matching.content}
    assert await link_requests(db) == []


async def test_a_bad_address_is_a_422_not_a_500(db: Db) -> None:
    order = await awaiting_payment_order(db)
    async with order_api(db, CATALOG) as api:
        path = f"/internal/orders/{order.order_no}/link-emails"
        answers = [
            await api.post(path, json={"email": "buyer\x00@example.com"}),
            await api.post(path, json={"email": "\u202emoc.elpmaxe@reyub"}),
            await api.post(path, json={"email": "b" * 255}),
            await api.post(path, json={}),
        ]
    assert [a.status_code for a in answers] == [422] * 4
    assert await link_requests(db) == []


async def test_notification_gets_a_link_whose_token_opens_the_order_now_and_the_gateway_does_not(
    db: Db,
) -> None:
    order = await awaiting_payment_order(db, secret_version=2)
    async with order_api(db, CATALOG, public_base_url="https://shop.test/") as api:
        issued = await api.post(f"/internal/orders/{order.order_no}/links", headers=NOTIFICATION)
        by_gateway = await api.post(f"/internal/orders/{order.order_no}/links")
        unknown = await api.post("/internal/orders/F20990101000000ZZZZZZ/links", headers=NOTIFICATION)
        assert issued.status_code == 200, issued.text
        link = issued.json()
        url = urlsplit(link["url"])
        [token] = parse_qs(url.query)["token"]
        view = await api.post(f"/internal/orders/{order.order_no}/view", json={"token": token})
    assert (url.scheme, url.netloc, url.path) == ("https", "shop.test", f"/orders/{order.order_no}")
    assert view.status_code == 200 and view.json()["order_no"] == order.order_no
    expires = datetime.fromisoformat(link["token_expires_at"])
    assert expires > datetime.now(UTC)
    assert by_gateway.status_code == 403
    assert unknown.status_code == 404


@pytest.mark.parametrize("number", ["A%00B", "%E2%80%AEX", "F" * 65])
async def test_an_odd_order_number_is_a_422_on_both_routes(db: Db, number: str) -> None:
    async with order_api(db, CATALOG) as api:
        asked = await api.post(f"/internal/orders/{number}/link-emails", json={"email": "buyer@example.com"})
        issued = await api.post(f"/internal/orders/{number}/links", headers=NOTIFICATION)
    assert (asked.status_code, issued.status_code) == (422, 422), (asked.text, issued.text)
