"""The order service's pricing, checkout and lookup routes over HTTP (ASGI) on the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from order.adapters.inventory import Product

from .conftest import ShopCatalog, order_api

pytestmark = pytest.mark.integration

CATEGORY = uuid4()
PRODUCT = Product(uuid4(), "Game key", 1999, "CNY", True, category_id=CATEGORY)


def Catalog() -> ShopCatalog:
    return ShopCatalog(PRODUCT)


@pytest.fixture
async def api(db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, Catalog()) as client:
        yield client


def order(**extra: Any) -> dict[str, Any]:
    return {"product_id": str(PRODUCT.product_id), "quantity": 1, "buyer_email": "a@example.com", **extra}


async def test_checkout_with_tier_and_category_coupon_and_the_view_shows_the_discount(
    api: httpx.AsyncClient,
) -> None:
    tiers = {"tiers": [{"min_quantity": 3, "unit_price": 1333}]}
    put = await api.put(f"/internal/products/{PRODUCT.product_id}/price-tiers", json=tiers)
    assert put.status_code == 200 and put.json()["tiers"] == tiers["tiers"]
    coupon = {"code": "cat15", "kind": "percent", "value": 15, "category_id": str(CATEGORY), "usage_limit": 2}
    created = await api.post("/internal/coupons", json=coupon)
    assert created.status_code == 201 and created.json()["code"] == "CAT15"
    assert (await api.post("/internal/coupons", json=coupon)).status_code == 409

    placed = await api.post(
        "/internal/orders", json=order(quantity=3, coupon_code="Cat15", query_password="pw-1")
    )
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert (body["unit_price"], body["discount"], body["amount"], body["coupon_code"]) == (
        1333,
        600,
        3399,
        "CAT15",
    )
    view = await api.post(f"/internal/orders/{body['order_no']}/view", json={"token": body["token"]})
    assert (view.json()["amount"], view.json()["discount"], view.json()["delivery_type"]) == (
        3399,
        600,
        "card_key",
    )
    [listed] = (await api.get("/internal/coupons")).json()["items"]
    assert listed["used_count"] == 1

    found = await api.post("/internal/orders/lookup", json={"email": "A@example.com", "password": "pw-1"})
    assert [o["order_no"] for o in found.json()["items"]] == [body["order_no"]]
    assert "token" not in found.json()["items"][0]
    wrong = await api.post("/internal/orders/lookup", json={"email": "a@example.com", "password": "nope"})
    assert wrong.status_code == 200 and wrong.json() == {"items": []}


@pytest.mark.parametrize(
    ("coupon", "code"),
    [
        ({"code": "OTHER", "kind": "fixed", "value": 100, "currency": "CNY", "product_id": str(uuid4())},
         "coupon_not_applicable"),
        ({"code": "USD", "kind": "fixed", "value": 100, "currency": "USD"}, "coupon_not_applicable"),
        (None, "coupon_unknown"),
    ],
)  # fmt: skip
async def test_a_coupon_that_cannot_be_used_is_a_409_naming_why(
    api: httpx.AsyncClient, coupon: dict[str, Any] | None, code: str
) -> None:
    if coupon:
        assert (await api.post("/internal/coupons", json=coupon)).status_code == 201
    response = await api.post(
        "/internal/orders", json=order(coupon_code=coupon["code"] if coupon else "NOPE")
    )
    assert response.status_code == 409 and response.json()["error"] == code
    assert "coupon" in response.json()["message"]


async def test_disabled_coupon_and_idempotent_replay(api: httpx.AsyncClient) -> None:
    await api.post("/internal/coupons", json={"code": "OFF", "kind": "percent", "value": 50})
    disabled = await api.post("/internal/coupons/off/disable")
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    refused = await api.post("/internal/orders", json=order(coupon_code="OFF"))
    assert refused.json()["error"] == "coupon_disabled"
    assert (await api.post("/internal/coupons/none/disable")).status_code == 404

    first = await api.post("/internal/orders", json=order(), headers={"Idempotency-Key": "k-1"})
    again = await api.post("/internal/orders", json=order(), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert first.json() == again.json()


async def test_buyer_fields_are_bounded_at_the_edge(api: httpx.AsyncClient) -> None:
    too_many = {f"f{i}": "v" for i in range(11)}
    assert (await api.post("/internal/orders", json=order(buyer_fields=too_many))).status_code == 422
    assert (await api.post("/internal/orders", json=order(buyer_fields={"a": "v" * 201}))).status_code == 422
    ok = await api.post("/internal/orders", json=order(buyer_fields={"server": "asia"}))
    assert ok.status_code == 201


async def test_the_buyer_cancels_an_unpaid_order_and_gets_the_coupon_use_back(
    api: httpx.AsyncClient, db: Any
) -> None:
    coupon = {"code": "ONCE", "kind": "fixed", "value": 100, "currency": "CNY", "usage_limit": 1}
    assert (await api.post("/internal/coupons", json=coupon)).status_code == 201
    placed = (await api.post("/internal/orders", json=order(coupon_code="once"))).json()
    await db.fetch("UPDATE orders SET status = 'awaiting_payment' WHERE order_no = $1", placed["order_no"])
    path = f"/internal/orders/{placed['order_no']}/cancel"
    for wrong in ({}, {"token": "forged"}, {"password": "guess"}):
        refused = await api.post(path, json=wrong)
        assert refused.status_code == 404 and "no order with that number and secret" in refused.text
    cancelled = await api.post(path, json={"token": placed["token"]})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["pay_url"]) == ("cancelled", None)
    again = await api.post(path, json={"token": placed["token"]})
    assert again.status_code == 409 and "cancel" in again.json()["message"]
    [row] = await db.fetch("SELECT used_count FROM coupons WHERE code = 'ONCE'")
    assert row["used_count"] == 0
    [event] = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderCancelled'")
    assert b'"cancelled_by_buyer"' in event["value"]
    assert (await api.post("/internal/orders", json=order(coupon_code="ONCE"))).status_code == 201


async def test_an_optional_buyer_phone_is_kept_and_a_bad_one_is_a_clear_422(api: httpx.AsyncClient) -> None:
    placed = (await api.post("/internal/orders", json=order(buyer_phone=" +86 138-0013-8000 "))).json()
    shown = await api.post(f"/internal/orders/{placed['order_no']}/view", json={"token": placed["token"]})
    assert shown.json()["buyer_phone"] == "+86 138-0013-8000"
    plain = (await api.post("/internal/orders", json=order())).json()
    shown = await api.post(f"/internal/orders/{plain['order_no']}/view", json={"token": plain["token"]})
    assert shown.json()["buyer_phone"] is None
    for bad in ("call me", "12", "+86 138 <script>", "1" * 40):
        refused = await api.post("/internal/orders", json=order(buyer_phone=bad))
        assert refused.status_code == 422 and "buyer_phone" in refused.text, bad
