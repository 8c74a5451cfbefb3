"""Shops on the order service's internal API. The walker fails on a route that is neither scoped by X-Shop-Id
nor listed as not shop-owned, and on a scoped route without a scenario here. Each scenario: shop A's order,
coupon or product asked for with shop B's header answers as an unknown one (404, or absent from B's list)
and is left as it was; with shop A's header it works. The few platform-wide routes (a buyer's order opened
by its secret, a signed payment notification) also serve a request that names no shop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common import sandbox_payment
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound
from faka_common.http import SHOP_HEADER, InternalClient
from faka_common.service_auth import ServiceCredential
from faka_common.testing import OPERATIONAL_ROUTES, as_caller, shop_scoping
from order.adapters.inventory import InventoryCatalog, Product
from order.entrypoints.api import order_app

from .conftest import Db, ShopCatalog, order_api, order_service

pytestmark = pytest.mark.integration

SHOP_A, SHOP_B = uuid4(), uuid4()
A, B = {SHOP_HEADER: str(SHOP_A)}, {SHOP_HEADER: str(SHOP_B)}
PRODUCT_A = Product(uuid4(), "A's key", 1999, "CNY", True)
PRODUCT_B = Product(uuid4(), "B's key", 500, "CNY", True)
PASSWORD = "pw-123456"

#: Routes that serve the whole platform when the request names no shop (and the named shop when it does).
PLATFORM_WIDE = {
    ("POST", "/internal/orders/lookup"),
    ("POST", "/internal/orders/{order_no}/view"),
    ("POST", "/internal/orders/{order_no}/cancel"),
    ("POST", "/internal/orders/{order_no}/payments"),
    ("POST", "/internal/payments/{provider}/notify"),
    ("POST", "/internal/orders/{order_no}/link-emails"),
}

Api = httpx.AsyncClient
Scenario = Callable[[Api, Db], Awaitable[None]]
SCENARIOS: dict[tuple[str, str], Scenario] = {}


def scenario(method: str, path: str) -> Callable[[Scenario], Scenario]:
    def register(check: Scenario) -> Scenario:
        SCENARIOS[(method, path)] = check
        return check

    return register


async def test_every_route_is_scoped_by_shop_or_listed_as_not_shop_owned(db: Db) -> None:
    async with order_service(db, ShopCatalog()) as service:
        routes = shop_scoping(order_app(service))
    # the keyring is the platform's: a rotation re-seals every shop's channel credentials
    not_shop_owned = OPERATIONAL_ROUTES | {("POST", "/internal/keys/reencrypt")}
    # the platform console's figures are every shop's together, by design
    not_shop_owned |= {("GET", "/internal/platform-figures")}
    assert routes.unscoped == not_shop_owned, "a route that is not scoped by shop must be listed"
    assert routes.optional == PLATFORM_WIDE
    assert set(routes.scoped) == set(SCENARIOS), "every scoped route has an isolation scenario"


@pytest.fixture
async def api(db: Db) -> AsyncIterator[Api]:
    async with order_api(db, ShopCatalog(PRODUCT_A, shop_id=SHOP_A).add(SHOP_B, PRODUCT_B)) as client:
        yield client


# Helpers: shop A's things, and what the database holds of them.


def order_body(product: Product = PRODUCT_A, **extra: Any) -> dict[str, Any]:
    return {"product_id": str(product.product_id), "quantity": 1, "buyer_email": "a@example.com", **extra}


async def awaiting_order_of_a(api: Api, db: Db) -> dict[str, Any]:
    placed = await api.post("/internal/orders", json=order_body(query_password=PASSWORD), headers=A)
    assert placed.status_code == 201, placed.text
    await db.fetch(
        "UPDATE orders SET status = 'awaiting_payment' WHERE order_no = $1", placed.json()["order_no"]
    )
    body: dict[str, Any] = placed.json()
    return body


async def row(db: Db, order_no: str) -> dict[str, Any]:
    [found] = await db.fetch("SELECT * FROM orders WHERE order_no = $1", order_no)
    return dict(found)


async def outbox(db: Db, type_name: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT value FROM outbox WHERE type = $1 ORDER BY id", type_name)
    return [json.loads(r["value"])["payload"] for r in rows]


async def count(db: Db, table: str) -> int:
    return len(await db.fetch(f"SELECT 1 FROM {table}"))


def notification(order: dict[str, Any], trade_no: str = "T-A-1") -> bytes:
    params = sandbox_payment.signed_notification(
        order["order_no"], trade_no, order["amount"], order["currency"], sandbox_payment.DEV_SANDBOX_SECRET
    )
    return json.dumps(params).encode()


async def paid_order_of_a(api: Api, db: Db) -> dict[str, Any]:
    order = await awaiting_order_of_a(api, db)
    paid = await api.post("/internal/payments/sandbox/notify", content=notification(order), headers=A)
    assert paid.status_code == 200, paid.text
    return order


async def coupon_of_a(api: Api, code: str = "SPRING") -> None:
    created = await api.post(
        "/internal/coupons", json={"code": code, "kind": "percent", "value": 10}, headers=A
    )
    assert created.status_code == 201, created.text


# Scenarios, one per scoped route.


@scenario("POST", "/internal/orders")
async def placing(api: Api, db: Db) -> None:
    refused = await api.post("/internal/orders", json=order_body(PRODUCT_A), headers=B)
    assert refused.status_code == 404 and "unknown product" in refused.json()["message"]
    assert await count(db, "orders") == 0
    key = {"Idempotency-Key": "checkout-1"}
    placed = await api.post("/internal/orders", json=order_body(), headers={**A, **key})
    assert placed.status_code == 201, placed.text
    assert (await row(db, placed.json()["order_no"]))["shop_id"] == SHOP_A
    [announced] = await outbox(db, "OrderPlaced")
    assert announced["shop_id"] == str(SHOP_A)
    not_replayed = await api.post("/internal/orders", json=order_body(), headers={**B, **key})
    assert not_replayed.status_code == 404, "another shop's Idempotency-Key of the same name is not a replay"
    b_coupon = await api.post(
        "/internal/coupons", json={"code": "BONLY", "kind": "percent", "value": 5}, headers=B
    )
    assert b_coupon.status_code == 201
    foreign_coupon = await api.post("/internal/orders", json=order_body(coupon_code="BONLY"), headers=A)
    assert foreign_coupon.status_code == 409 and foreign_coupon.json()["error"] == "coupon_unknown"
    own = await api.post("/internal/orders", json=order_body(PRODUCT_B), headers=B)
    assert own.status_code == 201 and (await row(db, own.json()["order_no"]))["shop_id"] == SHOP_B


@scenario("POST", "/internal/orders/lookup")
async def looking_up(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    asked = {"email": "a@example.com", "password": PASSWORD}
    in_b = await api.post("/internal/orders/lookup", json=asked, headers=B)
    assert in_b.status_code == 200 and in_b.json() == {"items": []}
    for headers in (A, {}):
        found = await api.post("/internal/orders/lookup", json=asked, headers=headers)
        assert [(o["order_no"], o["shop_id"]) for o in found.json()["items"]] == [
            (order["order_no"], str(SHOP_A))
        ]


@scenario("POST", "/internal/orders/{order_no}/view")
async def viewing(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/view"
    for secret in ({"token": order["token"]}, {"password": PASSWORD}):
        refused = await api.post(path, json=secret, headers=B)
        assert refused.status_code == 404, refused.text
        for headers in (A, {}):
            shown = await api.post(path, json=secret, headers=headers)
            assert shown.status_code == 200 and shown.json()["shop_id"] == str(SHOP_A)


@scenario("POST", "/internal/orders/{order_no}/cancel")
async def cancelling(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/cancel"
    assert (await api.post(path, json={"token": order["token"]}, headers=B)).status_code == 404
    assert (await row(db, order["order_no"]))["status"] == "awaiting_payment"
    assert await outbox(db, "OrderCancelled") == []
    cancelled = await api.post(path, json={"token": order["token"]}, headers=A)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    [released] = await outbox(db, "OrderCancelled")
    assert released["shop_id"] == str(SHOP_A)


@scenario("POST", "/internal/orders/{order_no}/secret-rotations")
async def rotating(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/secret-rotations"
    assert (await api.post(path, headers=B)).status_code == 404
    assert (await row(db, order["order_no"]))["secret_version"] == 0
    view = f"/internal/orders/{order['order_no']}/view"
    assert (await api.post(view, json={"token": order["token"]}, headers=A)).status_code == 200
    rotated = await api.post(path, headers=A)
    assert rotated.status_code == 201 and rotated.json()["secret_version"] == 1


@scenario("POST", "/internal/orders/{order_no}/payments")
async def starting_payment(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/payments"
    body = {"provider": "sandbox", "token": order["token"]}
    assert (await api.post(path, json=body, headers=B)).status_code == 404
    assert await count(db, "payment_attempts") == 0
    started = await api.post(path, json=body, headers=A)
    assert started.status_code == 200 and started.json()["provider"] == "sandbox"
    [attempt] = await db.fetch("SELECT shop_id FROM payment_attempts")
    assert attempt["shop_id"] == SHOP_A


@scenario("POST", "/internal/payments/{provider}/notify")
async def notifying(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    refused = await api.post("/internal/payments/sandbox/notify", content=notification(order), headers=B)
    assert refused.status_code == 404
    assert (await row(db, order["order_no"]))["status"] == "awaiting_payment"
    assert await count(db, "payments") == await count(db, "payment_checks") == 0
    paid = await api.post("/internal/payments/sandbox/notify", content=notification(order), headers=A)
    assert paid.status_code == 200 and paid.json() == {"result": "accepted"}
    assert (await row(db, order["order_no"]))["status"] == "paid"
    [payment] = await db.fetch("SELECT shop_id FROM payments")
    [announced] = await outbox(db, "OrderPaid")
    assert payment["shop_id"] == SHOP_A and announced["shop_id"] == str(SHOP_A)
    other = await awaiting_order_of_a(api, db)
    unnamed = await api.post("/internal/payments/sandbox/notify", content=notification(other, "T-A-2"))
    assert unnamed.status_code == 200, "a notification naming no shop finds the order of any shop"


@scenario("GET", "/internal/reconciliation")
async def reconciling(api: Api, db: Db) -> None:
    await paid_order_of_a(api, db)
    day = {"date": datetime.now(UTC).date().isoformat()}
    in_b = await api.get("/internal/reconciliation", params=day, headers=B)
    assert in_b.status_code == 200 and in_b.json()["providers"] == {}
    in_a = await api.get("/internal/reconciliation", params=day, headers=A)
    assert in_a.json()["providers"]["sandbox"]["ours"] == {"count": 1, "amount": PRODUCT_A.price}


@scenario("POST", "/internal/orders/{order_no}/refunds")
async def refunding(api: Api, db: Db) -> None:
    order = await paid_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/refunds"
    assert (await api.post(path, json={}, headers=B)).status_code == 404
    assert (await row(db, order["order_no"]))["refunded_amount"] == 0
    assert await count(db, "refunds") == 0
    refunded = await api.post(path, json={}, headers=A)
    assert refunded.status_code == 201 and refunded.json()["order_status"] == "refunded"
    [refund] = await db.fetch("SELECT shop_id FROM refunds")
    [announced] = await outbox(db, "OrderRefunded")
    assert refund["shop_id"] == SHOP_A and announced["shop_id"] == str(SHOP_A)


@scenario("POST", "/internal/orders/{order_no}/releases")
async def releasing(api: Api, db: Db) -> None:
    order = await paid_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/releases"
    body = {"reason": "the payer is known", "by": "owner@example.com"}
    refused = await api.post(path, json=body, headers=B)
    assert refused.status_code == 404, refused.text
    # the own shop reaches the order and its rule: it is paid, not held, so there is nothing to release
    own = await api.post(path, json=body, headers=A)
    assert own.status_code == 409, own.text
    assert await count(db, "order_releases") == 0


@scenario("GET", "/internal/orders")
async def searching(api: Api, db: Db) -> None:
    order = await paid_order_of_a(api, db)
    for q in (order["order_no"], "a@example.com", "T-A-1"):
        in_b = await api.get("/internal/orders", params={"q": q}, headers=B)
        assert in_b.status_code == 200 and in_b.json()["items"] == [], q
        in_a = await api.get("/internal/orders", params={"q": q}, headers=A)
        assert [o["order_no"] for o in in_a.json()["items"]] == [order["order_no"]], q


@scenario("GET", "/internal/orders/{order_no}/history")
async def reading_the_history(api: Api, db: Db) -> None:
    order = await paid_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/history"
    assert (await api.get(path, headers=B)).status_code == 404
    shown = await api.get(path, headers=A)
    assert shown.status_code == 200 and shown.json()["order"]["shop_id"] == str(SHOP_A)
    assert [p["trade_no"] for p in shown.json()["payments"]] == ["T-A-1"]


@scenario("GET", "/internal/shop-figures")
async def reading_the_dashboard_figures(api: Api, db: Db) -> None:
    order = await paid_order_of_a(api, db)
    today = datetime.now(UTC).date().isoformat()
    period = {"first": today, "last": today}
    of_b = (await api.get("/internal/shop-figures", params=period, headers=B)).json()
    assert of_b["totals"] == {"orders": 0, "paid_orders": 0, "gmv": {}} and of_b["hot_products"] == []
    of_a = (await api.get("/internal/shop-figures", params=period, headers=A)).json()
    assert of_a["totals"] == {"orders": 1, "paid_orders": 1, "gmv": {order["currency"]: order["amount"]}}


TIERS_A = f"/internal/products/{PRODUCT_A.product_id}/price-tiers"
SOME_TIERS = {"tiers": [{"min_quantity": 3, "unit_price": 1500}]}


@scenario("GET", "/internal/products/{product_id}/price-tiers")
async def reading_tiers(api: Api, db: Db) -> None:
    assert (await api.put(TIERS_A, json=SOME_TIERS, headers=A)).status_code == 200
    assert (await api.get(TIERS_A, headers=B)).status_code == 404
    shown = await api.get(TIERS_A, headers=A)
    assert shown.status_code == 200 and shown.json()["tiers"] == SOME_TIERS["tiers"]


@scenario("PUT", "/internal/products/{product_id}/price-tiers")
async def replacing_tiers(api: Api, db: Db) -> None:
    assert (await api.put(TIERS_A, json=SOME_TIERS, headers=A)).status_code == 200
    assert (await api.put(TIERS_A, json={"tiers": []}, headers=B)).status_code == 404
    assert (await api.get(TIERS_A, headers=A)).json()["tiers"] == SOME_TIERS["tiers"]
    [tier] = await db.fetch("SELECT shop_id FROM order_price_tiers")
    assert tier["shop_id"] == SHOP_A
    assert (await api.put(TIERS_A, json={"tiers": []}, headers=A)).json()["tiers"] == []


@scenario("POST", "/internal/coupons")
async def creating_coupons(api: Api, db: Db) -> None:
    await coupon_of_a(api)
    same_code = {"code": "spring", "kind": "fixed", "value": 100, "currency": "CNY"}
    assert (await api.post("/internal/coupons", json=same_code, headers=B)).status_code == 201
    assert (await api.post("/internal/coupons", json=same_code, headers=A)).status_code == 409
    kept = await db.fetch("SELECT shop_id, kind FROM coupons WHERE code = 'SPRING' ORDER BY kind")
    assert [(r["shop_id"], r["kind"]) for r in kept] == [(SHOP_B, "fixed"), (SHOP_A, "percent")]


@scenario("GET", "/internal/coupons")
async def listing_coupons(api: Api, db: Db) -> None:
    await coupon_of_a(api)
    assert (await api.get("/internal/coupons", headers=B)).json() == {"items": []}
    listed = await api.get("/internal/coupons", headers=A)
    assert [c["code"] for c in listed.json()["items"]] == ["SPRING"]


@scenario("POST", "/internal/coupons/{code}/disable")
async def disabling_coupons(api: Api, db: Db) -> None:
    await coupon_of_a(api)
    assert (await api.post("/internal/coupons/SPRING/disable", headers=B)).status_code == 404
    [coupon] = await db.fetch("SELECT active FROM coupons")
    assert coupon["active"] is True
    disabled = await api.post("/internal/coupons/SPRING/disable", headers=A)
    assert disabled.status_code == 200 and disabled.json()["active"] is False


@scenario("POST", "/internal/orders/{order_no}/link-emails")
async def requesting_the_link(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/link-emails"
    asked = {"email": "a@example.com"}
    in_b = await api.post(path, json=asked, headers=B)
    assert in_b.status_code == 202 and await outbox(db, "OrderLinkRequested") == []
    in_a = await api.post(path, json=asked, headers=A)
    assert in_a.content == in_b.content
    [requested] = await outbox(db, "OrderLinkRequested")
    assert requested["shop_id"] == str(SHOP_A)


@scenario("POST", "/internal/orders/{order_no}/links")
async def issuing_the_link(api: Api, db: Db) -> None:
    order = await awaiting_order_of_a(api, db)
    path = f"/internal/orders/{order['order_no']}/links"
    notification_as = as_caller("notification")
    assert (await api.post(path, headers={**notification_as, **B})).status_code == 404
    issued = await api.post(path, headers={**notification_as, **A})
    assert issued.status_code == 200 and issued.json()["order_no"] == order["order_no"]


SANDBOX_CHANNEL = {"credentials": {"secret": "shop-a-sandbox-secret"}}


@scenario("GET", "/internal/payment-channels")
async def listing_payment_channels(api: Api, db: Db) -> None:
    put = await api.put("/internal/payment-channels/sandbox", json=SANDBOX_CHANNEL, headers=A)
    assert put.status_code == 200, put.text
    assert (await api.get("/internal/payment-channels", headers=B)).json() == {"items": []}
    [channel] = (await api.get("/internal/payment-channels", headers=A)).json()["items"]
    assert channel["provider"] == "sandbox"


def setting_a_payment_channel(provider: str) -> Scenario:
    async def setting(api: Api, db: Db) -> None:
        path = f"/internal/payment-channels/{provider}"
        await api.put("/internal/payment-channels/sandbox", json=SANDBOX_CHANNEL, headers=A)
        # B's request for the same provider is B's own channel (a bad one here: refused, A's unchanged)
        assert (await api.put(path, json={"credentials": {}}, headers=B)).status_code == 422
        assert [r["shop_id"] for r in await db.fetch("SELECT shop_id FROM payment_channels")] == [SHOP_A]

    return setting


def removing_a_payment_channel(provider: str) -> Scenario:
    async def removing(api: Api, db: Db) -> None:
        path = f"/internal/payment-channels/{provider}"
        await api.put("/internal/payment-channels/sandbox", json=SANDBOX_CHANNEL, headers=A)
        assert (await api.delete(path, headers=B)).status_code == 404
        assert await count(db, "payment_channels") == 1
        assert (await api.delete(path, headers=A)).status_code == (204 if provider == "sandbox" else 404)
        assert await count(db, "payment_channels") == (0 if provider == "sandbox" else 1)

    return removing


for _provider in ("sandbox", "epay", "alipay", "wechatpay", "stripe", "usdt"):
    scenario("PUT", f"/internal/payment-channels/{_provider}")(setting_a_payment_channel(_provider))
    scenario("DELETE", f"/internal/payment-channels/{_provider}")(removing_a_payment_channel(_provider))


@pytest.mark.parametrize("route", sorted(SCENARIOS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_another_shops_thing_is_unknown_and_unchanged_and_the_own_shop_is_served(
    api: Api, db: Db, route: tuple[str, str]
) -> None:
    await SCENARIOS[route](api, db)


# Placement asks the scoped inventory about the product as the order's shop.


def scoped_inventory(products: dict[UUID, tuple[UUID, Product]], asked: list[str | None]) -> InventoryCatalog:
    """The real catalog adapter over HTTP to an inventory that answers each product to its own shop only."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get(SHOP_HEADER))
        product_id = UUID(request.url.path.rsplit("/", 1)[1])
        shop, product = products.get(product_id, (None, None))
        if product is None or str(shop) != request.headers.get(SHOP_HEADER):
            return httpx.Response(404, json={"error": "not_found", "message": f"no product {product_id}"})
        view = {**product.__dict__, "product_id": str(product.product_id)}
        return httpx.Response(200, json=view)

    client = InternalClient(
        "http://inventory.test", ServiceCredential.development("order"), transport=httpx.MockTransport(answer)
    )
    return InventoryCatalog(client)


async def test_placing_another_shops_product_is_a_clear_404_from_the_scoped_inventory(db: Db) -> None:
    asked: list[str | None] = []
    inventory = scoped_inventory({PRODUCT_A.product_id: (SHOP_A, PRODUCT_A)}, asked)
    async with order_api(db, inventory) as api:
        refused = await api.post("/internal/orders", json=order_body(), headers=B)
        placed = await api.post("/internal/orders", json=order_body(), headers=A)
        unnamed = await api.post("/internal/orders", json=order_body())
    assert refused.status_code == 404, refused.text
    assert refused.json()["message"] == f"unknown product {PRODUCT_A.product_id}"
    assert placed.status_code == 201, placed.text
    assert unnamed.status_code == 404, "a request naming no shop places in the default shop"
    assert asked == [str(SHOP_B), str(SHOP_A), str(DEFAULT_SHOP_ID)]


async def test_an_inventory_refusal_other_than_404_is_passed_on_as_the_same_4xx(db: Db) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": "shop_closed", "message": "the shop is suspended"})

    client = InternalClient(
        "http://inventory.test", ServiceCredential.development("order"), transport=httpx.MockTransport(refuse)
    )
    async with order_api(db, InventoryCatalog(client)) as api:
        refused = await api.post("/internal/orders", json=order_body(), headers=A)
    assert (refused.status_code, refused.json()["error"]) == (409, "shop_closed")
    with pytest.raises(NotFound):
        await scoped_inventory({}, []).product(PRODUCT_A.product_id, SHOP_A)
