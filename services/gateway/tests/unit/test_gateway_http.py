"""The gateway's routes over ASGI with in-memory fake owners (no runtime: no Kafka, no Postgres)."""

import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from faka_common.http import InternalClient
from faka_common.sandbox_payment import DEV_SANDBOX_SECRET, signature_valid
from faka_common.service_auth import ServiceCredential
from gateway.adapters.principals import PLATFORM_ADMIN_SECRET, KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.adapters.storefront import StorefrontUnavailable
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app
from gateway.service_layer.rate_limits import lookup_keys, storage_url, subject_id

Handler = Callable[[httpx.Request], httpx.Response]
PRODUCT_ID = "0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"
ORDER_ID = "0190f3a2-0000-7d4b-9a8e-2f6c1b5d4e3a"
ADMIN = {"Authorization": f"Bearer {PLATFORM_ADMIN_SECRET}"}


class FakeOwner(InternalClient):
    """The real InternalClient (and its error mapping) over an in-memory transport."""

    def __init__(self, handler: Handler) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(base_url="http://owner.test", transport=httpx.MockTransport(handler))


def not_found(message: str) -> httpx.Response:
    return httpx.Response(404, json={"error": "not_found", "message": message})


class FakeInventory:
    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.product = {
            "product_id": PRODUCT_ID,
            "title": "Steam <50>",
            "description": "",
            "price": 4800,
            "currency": "CNY",
            "delivery_type": "card_key",
            "usage_instructions": "Redeem",
            "active": True,
            "stock": {"available": 2, "reserved": 0, "sold": 0},
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path, method = request.url.path, request.method
        if path == "/internal/products" and method == "GET":
            hidden = {**self.product, "product_id": "other", "active": False}
            return httpx.Response(200, json={"items": [self.product, hidden]})
        if path == "/internal/products" and method == "POST":
            return httpx.Response(201, json={**json.loads(request.content), "product_id": PRODUCT_ID})
        if path == f"/internal/products/{PRODUCT_ID}" and method == "GET":
            return httpx.Response(200, json=self.product)
        if path == f"/internal/products/{PRODUCT_ID}/keys" and method == "POST":
            if len(request.content) > 1000:
                return httpx.Response(413, json={"error": "payload_too_large", "message": "over 1000 bytes"})
            lines = [line for line in request.content.decode().splitlines() if line.strip()]
            return httpx.Response(
                200, json={"batch_id": "b1", "imported": len(lines), "duplicates": 0, "invalid": 0}
            )
        if path == "/internal/keys/reveals" and method == "POST":
            keys = {"product_id": PRODUCT_ID, "keys": [{"key_id": "k1", "content": "AAAA-1111"}]}
            asked = json.loads(request.content)["orders"]
            revealed = [{**named, **keys, "usage_instructions": "Redeem"} for named in asked]
            return httpx.Response(200, json={"orders": [o for o in revealed if o["order_id"] == ORDER_ID]})
        return not_found(f"nothing at {path}")


class FakeStorefront:
    """The Redis read model in memory: None until built, or raising as an unreachable Redis does."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] | None = None
        self.error: Exception | None = None

    async def products(self, shop_id: uuid.UUID) -> list[dict[str, Any]] | None:
        if self.error is not None:
            raise self.error
        return self.items

    async def aclose(self) -> None:
        return None


class FakeOrders:
    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.order = {
            "order_id": ORDER_ID,
            "order_no": "F20260101ABC",
            "status": "awaiting_payment",
            "product_id": PRODUCT_ID,
            "product_title": "Steam <50>",
            "quantity": 1,
            "amount": 4800,
            "currency": "CNY",
            "created_at": "2026-01-01T00:00:00+00:00",
            "expires_at": "2026-01-01T00:15:00+00:00",
            "paid_at": None,
            "delivered_at": None,
            "pay_url": "http://gateway.test/pay/sandbox/F20260101ABC?token=tok",
        }
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.busy = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path, method = request.url.path, request.method
        if path == "/internal/orders" and method == "POST" and self.busy:
            busy = {
                "error": "busy",
                "message": "too many orders are waiting for their stock",
                "retry_after": 2,
            }
            return httpx.Response(503, json=busy, headers={"Retry-After": "2"})
        if path == "/internal/orders" and method == "POST":
            body = json.loads(request.content)
            key = request.headers.get("idempotency-key")
            if key is not None:
                asked = {k: v for k, v in body.items() if k != "buyer_ip"}
                if self.idempotency.setdefault(key, asked) != asked:
                    return httpx.Response(
                        409, json={"error": "idempotency_conflict", "message": "different request body"}
                    )
            if body["product_id"] != PRODUCT_ID:
                return not_found("no product with that id")
            return httpx.Response(
                201,
                json={
                    "order_id": ORDER_ID,
                    "order_no": "F20260101ABC",
                    "status": "pending_risk",
                    "amount": 4800 * body["quantity"],
                    "currency": "CNY",
                    "token": "tok",
                    "expires_at": "2026-01-01T00:15:00+00:00",
                },
            )
        if path == "/internal/orders/F20260101ABC/view" and method == "POST":
            body = json.loads(request.content)
            if body.get("token") == "tok" or body.get("password") == "secret-pw":
                return httpx.Response(200, json=self.order)
            return not_found("no order with that number and secret")
        if path == "/internal/orders/F20260101ABC/payments" and method == "POST":
            body = json.loads(request.content)
            if body.get("token") == "tok" or body.get("password") == "secret-pw":
                pay_url = f"https://pay.example.com/{body['provider']}"
                return httpx.Response(200, json={"provider": body["provider"], "pay_url": pay_url})
            return not_found("no order with that number and secret")
        if path == "/internal/orders/F20260101ABC/secret-rotations" and method == "POST":
            return httpx.Response(
                201, json={"order_no": "F20260101ABC", "token": "new-token", "secret_version": 1}
            )
        if path == "/internal/orders/F20260101ABC/cancel" and method == "POST":
            body = json.loads(request.content)
            if body.get("token") == "tok" or body.get("password") == "secret-pw":
                return httpx.Response(200, json={**self.order, "status": "cancelled"})
            return not_found("no order with that number and secret")
        if path == "/internal/orders/lookup" and method == "POST":
            body = json.loads(request.content)
            if body == {"email": "buyer@example.com", "password": "secret-pw"}:
                return httpx.Response(200, json={"items": [{"order_no": "F20260101ABC", "amount": 4800}]})
            return httpx.Response(200, json={"items": []})
        if path == "/internal/coupons" and method == "POST":
            return httpx.Response(201, json={**json.loads(request.content), "used_count": 0, "active": True})
        if path == "/internal/coupons" and method == "GET":
            return httpx.Response(200, json={"items": []})
        if path == "/internal/coupons/SPRING10/disable" and method == "POST":
            return httpx.Response(200, json={"code": "SPRING10", "active": False})
        if path == f"/internal/products/{PRODUCT_ID}/price-tiers":
            tiers = json.loads(request.content)["tiers"] if method == "PUT" else []
            return httpx.Response(200, json={"product_id": PRODUCT_ID, "tiers": tiers})
        if path == "/internal/payments/sandbox/notify" and method == "POST":
            body = json.loads(request.content)
            if not signature_valid(body, DEV_SANDBOX_SECRET):
                return httpx.Response(400, json={"error": "bad_signature", "message": "signature mismatch"})
            if body["amount"] != self.order["amount"]:
                return httpx.Response(400, json={"error": "amount_mismatch", "message": "amount differs"})
            self.order = {**self.order, "status": "paid"}
            return httpx.Response(200, json={"result": "accepted"})
        return not_found(f"nothing at {path}")


class Edge:
    def __init__(self, gateway: Gateway, orders: FakeOrders, inventory: FakeInventory) -> None:
        self.gateway, self.orders, self.inventory = gateway, orders, inventory
        self.app = edge_app(gateway)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.7", 5555)),
            base_url="http://gateway.test",
        )


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    orders, inventory = FakeOrders(), FakeInventory()
    settings = Settings(
        public_base_url="http://gateway.test/",
        lookup_limit_storage_url="memory://",
        lookup_per_ip_per_minute=5,
        lookup_per_order_per_hour=3,
        lookup_per_email_per_hour=3,
        orders_per_ip_per_hour=8,
        orders_per_email_per_hour=4,
        kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}",
    )
    gateway = build_gateway(
        principals=KnownPrincipals.platform_admin(),
        shops=KnownShops.default_only(),
        settings=settings,
        order=FakeOwner(orders),
        inventory=FakeOwner(inventory),
        storefront=FakeStorefront(),
    )
    result = Edge(gateway, orders, inventory)
    # the sandbox provider reaches the public notify URL: here the same app, over ASGI
    await gateway.provider_http.aclose()
    gateway.provider_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=result.app))
    yield result
    await result.client.aclose()
    await gateway.aclose()


# --- admin -----------------------------------------------------------------------------------------


async def test_admin_needs_a_session_or_token_that_opens_someone(edge: Edge) -> None:
    wrong = (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer "},
        {"Cookie": "faka_session=x"},
    )
    for headers in wrong:
        response = await edge.client.get("/api/admin/products", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    assert edge.inventory.calls == []
    assert (await edge.client.get("/api/admin/products", headers=ADMIN)).status_code == 200


async def test_admin_creates_a_product(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/admin/products", headers=ADMIN, json={"title": "Steam", "price": 4800}
    )
    assert response.status_code == 201
    assert response.json()["product_id"] == PRODUCT_ID
    sent = json.loads(edge.inventory.calls[-1].content)
    assert sent["currency"] == "CNY" and sent["delivery_type"] == "card_key"


async def test_bad_product_is_a_clear_422(edge: Edge) -> None:
    response = await edge.client.post("/api/admin/products", headers=ADMIN, json={"title": "", "price": -1})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "price" in response.json()["message"]


async def test_admin_product_404_is_passed_on(edge: Edge) -> None:
    response = await edge.client.get(
        "/api/admin/products/00000000-0000-0000-0000-000000000000", headers=ADMIN
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "nothing at /internal/products/00000000-0000-0000-0000-000000000000",
    }


@pytest.mark.parametrize("route", ["keys", "key-batches"])
async def test_a_key_upload_streams_through_to_the_inventory_with_its_type_and_batch_options(
    edge: Edge, route: str
) -> None:
    url = f"/api/admin/products/{PRODUCT_ID}/{route}?cost_price=30&format=text&debug=1"
    assert (await edge.client.post(url, content=b"A-1\n")).status_code == 401
    response = await edge.client.post(
        url, headers={**ADMIN, "Content-Type": "text/plain"}, content=b"A-1\nB-2\n"
    )
    assert response.status_code == 200 and response.json()["imported"] == 2
    forwarded = edge.inventory.calls[-1]
    assert forwarded.headers["content-type"].startswith("text/plain")
    assert forwarded.content == b"A-1\nB-2\n"
    assert dict(forwarded.url.params) == {"cost_price": "30", "format": "text"}  # nothing else passes

    response = await edge.client.post(
        url, headers=ADMIN, files={"file": ("k.txt", b"C-3\r\nD-4\r\nE-5", "text/plain")}
    )
    forwarded = edge.inventory.calls[-1]
    assert response.status_code == 200
    assert forwarded.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b"C-3\r\nD-4\r\nE-5" in forwarded.content  # the inventory parses the form


async def test_the_inventorys_refusal_of_an_upload_is_passed_on(edge: Edge) -> None:
    response = await edge.client.post(
        f"/api/admin/products/{PRODUCT_ID}/keys",
        headers={**ADMIN, "Content-Type": "text/plain"},
        content=b"K" * 2000,
    )
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "message": "over 1000 bytes"}


# --- storefront ------------------------------------------------------------------------------------


async def test_catalog_lists_active_products_from_the_inventory_while_the_read_model_is_not_built(
    edge: Edge,
) -> None:
    response = await edge.client.get("/api/v1/products")
    assert response.json() == {
        "items": [
            {
                "id": PRODUCT_ID,
                "title": "Steam <50>",
                "description": "",
                "price": 4800,
                "currency": "CNY",
                "delivery_type": "card_key",
                "category_id": None,
                "sort_order": 0,
                "max_per_order": None,
                "max_per_buyer": None,
                "usage_instructions": "Redeem",
                "in_stock": True,
                "available": 2,
                "variant_of": None,
                "variant_label": None,
                "variants": [],
            }
        ]
    }
    assert [(c.method, c.url.path) for c in edge.inventory.calls] == [("GET", "/internal/products")]


async def test_catalog_comes_from_the_read_model_when_built_and_from_the_inventory_when_redis_fails(
    edge: Edge,
) -> None:
    storefront = edge.gateway.storefront
    assert isinstance(storefront, FakeStorefront)
    storefront.items = [{**edge.inventory.product, "title": "From Redis", "visible": True}]
    assert [p["title"] for p in (await edge.client.get("/api/v1/products")).json()["items"]] == ["From Redis"]
    assert edge.inventory.calls == []

    storefront.error = StorefrontUnavailable("ConnectionError: refused")
    response = await edge.client.get("/api/v1/products")
    assert response.status_code == 200
    assert [p["title"] for p in response.json()["items"]] == ["Steam <50>"]
    assert len(edge.inventory.calls) == 1


async def test_place_order_forwards_buyer_ip_and_answers_with_order_url(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/v1/orders",
        json={
            "product_id": PRODUCT_ID,
            "quantity": 2,
            "email": "buyer@example.com",
            "query_password": "secret-pw",
        },
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["order_no"] == "F20260101ABC" and body["token"] == "tok" and body["amount"] == 9600
    assert body["order_url"] == "http://gateway.test/api/v1/orders/F20260101ABC?token=tok"
    sent = json.loads(edge.orders.calls[-1].content)
    assert sent == {
        "product_id": PRODUCT_ID,
        "quantity": 2,
        "buyer_email": "buyer@example.com",
        "query_password": "secret-pw",
        "locale": "en",
        "buyer_ip": "203.0.113.7",
    }


async def test_idempotency_key_is_forwarded_to_the_order_service(edge: Edge) -> None:
    order = {"product_id": PRODUCT_ID, "quantity": 1, "email": "buyer@example.com"}
    headers = {"Idempotency-Key": "checkout-7f3a"}
    first = await edge.client.post("/api/v1/orders", json=order, headers=headers)
    again = await edge.client.post("/api/v1/orders", json=order, headers=headers)
    assert first.status_code == again.status_code == 201
    assert [c.headers.get("idempotency-key") for c in edge.orders.calls] == ["checkout-7f3a"] * 2
    other = await edge.client.post("/api/v1/orders", json={**order, "quantity": 2}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_conflict"
    plain = await edge.client.post("/api/v1/orders", json=order)
    assert plain.status_code == 201 and "idempotency-key" not in edge.orders.calls[-1].headers
    too_long = await edge.client.post("/api/v1/orders", json=order, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 422 and "idempotency" in too_long.json()["message"].lower()
    assert len(edge.orders.calls) == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_id": PRODUCT_ID, "quantity": 1, "email": "not-an-email"}, "email"),
        ({"product_id": PRODUCT_ID, "quantity": 0, "email": "a@example.com"}, "quantity"),
        ({"product_id": PRODUCT_ID, "quantity": 1001, "email": "a@example.com"}, "quantity"),
        ({"product_id": "nope", "quantity": 1, "email": "a@example.com"}, "product_id"),
        ({"product_id": PRODUCT_ID, "email": "a@example.com", "query_password": "123"}, "query_password"),
        ({"product_id": PRODUCT_ID, "email": "a@example.com", "locale": "fr"}, "locale"),
    ],
)
async def test_bad_order_input_is_422_naming_the_field(edge: Edge, body: dict[str, Any], field: str) -> None:
    response = await edge.client.post("/api/v1/orders", json=body)
    assert response.status_code == 422
    assert field in response.json()["message"]
    assert edge.orders.calls == []


async def test_malformed_json_is_422(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/v1/orders", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_unknown_product_404_is_passed_on(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/v1/orders",
        json={"product_id": "00000000-0000-0000-0000-000000000000", "email": "a@example.com"},
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "no product with that id"}


async def test_order_view_without_keys_before_delivery(edge: Edge) -> None:
    response = await edge.client.get("/api/v1/orders/F20260101ABC", params={"token": "tok"})
    assert response.status_code == 200
    assert response.json()["status"] == "awaiting_payment"
    assert "items" not in response.json()
    assert response.headers["cache-control"] == "no-store"
    assert edge.inventory.calls == []


async def test_order_view_with_keys_once_delivered(edge: Edge) -> None:
    edge.orders.order["status"] = "delivered"
    response = await edge.client.get("/api/v1/orders/F20260101ABC", params={"password": "secret-pw"})
    body = response.json()
    assert body["items"] == [{"content": "AAAA-1111"}]
    assert body["usage_instructions"] == "Redeem"
    assert edge.inventory.calls[-1].url.query == b""  # the reader is the gateway's own credential


@pytest.mark.parametrize("query", ["", "?token=wrong", "?password=wrong"])
async def test_missing_or_wrong_secret_is_the_same_404(edge: Edge, query: str) -> None:
    response = await edge.client.get(f"/api/v1/orders/F20260101ABC{query}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "no order with that number and secret"}


async def test_malformed_order_number_never_reaches_the_order_service(edge: Edge) -> None:
    response = await edge.client.get("/api/v1/orders/..%2F..%2Fproducts", params={"token": "tok"})
    assert response.status_code == 404
    assert edge.orders.calls == []


async def test_a_busy_order_service_turns_the_buyer_away_busy_with_retry_after(edge: Edge) -> None:
    """Not "unavailable": the buyer is told to try again in a moment, in JSON and on the order form's page."""
    edge.orders.busy = True
    order = {"product_id": PRODUCT_ID, "quantity": 1, "email": "buyer@example.com"}
    answer = await edge.client.post("/api/v1/orders", json=order)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    assert answer.json() == {
        "error": "busy",
        "message": "too many orders are waiting for their stock",
        "retry_after": 2,
    }
    page = await edge.client.post("/shop/orders", data={**order, "quantity": "1"})
    assert page.status_code == 503 and page.headers["retry-after"] == "2"
    assert "too many orders are waiting for their stock" in page.text


async def test_unreachable_owner_is_503() -> None:
    unbuilt = f"unit-{uuid.uuid4().hex[:8]}"  # no storefront read model under this namespace
    gateway = build_gateway(
        principals=KnownPrincipals.platform_admin(),
        shops=KnownShops.default_only(),
        settings=Settings(
            order_url="http://127.0.0.1:9", inventory_url="http://127.0.0.1:9", kafka_namespace=unbuilt
        ),
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=edge_app(gateway)), base_url="http://g")
    response = await client.get("/api/v1/products")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert "unreachable" in response.json()["message"]
    await client.aclose()
    await gateway.aclose()


async def test_unknown_route_is_json_404(edge: Edge) -> None:
    response = await edge.client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- payments and the sandbox checkout ---------------------------------------------------------


async def test_notification_is_forwarded_raw_and_the_answer_passed_back(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/v1/payments/sandbox/notify",
        content=b'{"order_no": "x"}',
        headers={"Content-Type": "application/json"},
    )
    forwarded = edge.orders.calls[-1]
    assert forwarded.url.path == "/internal/payments/sandbox/notify"
    assert forwarded.content == b'{"order_no": "x"}'
    assert forwarded.headers["content-type"] == "application/json"
    assert response.status_code == 400
    assert response.json() == {"error": "bad_signature", "message": "signature mismatch"}


async def test_sandbox_checkout_page_and_payment(edge: Edge) -> None:
    page = await edge.client.get("/pay/sandbox/F20260101ABC", params={"token": "tok"})
    assert page.status_code == 200
    assert "48.00 CNY" in page.text
    assert "Steam &lt;50&gt;" in page.text
    action = re.search(r'action="([^"]+)"', page.text)
    assert action is not None and action.group(1) == "pay/sandbox/F20260101ABC/complete?token=tok"

    english = {"Accept-Language": "en"}
    done = await edge.client.post("/" + action.group(1).replace("&amp;", "&"), headers=english)
    assert done.status_code == 200, done.text
    assert "Payment received" in done.text
    notification = json.loads(edge.orders.calls[-1].content)
    assert edge.orders.calls[-1].url.path == "/internal/payments/sandbox/notify"
    assert signature_valid(notification, DEV_SANDBOX_SECRET)
    assert notification["trade_no"].startswith("SBX") and notification["amount"] == 4800
    assert edge.orders.order["status"] == "paid"


async def test_sandbox_checkout_with_wrong_token_is_a_404_page(edge: Edge) -> None:
    page = await edge.client.get("/pay/sandbox/F20260101ABC", params={"token": "bad"})
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    done = await edge.client.post("/pay/sandbox/F20260101ABC/complete?token=bad")
    assert done.status_code == 404
    assert not any(c.url.path.endswith("/notify") for c in edge.orders.calls)


async def test_order_page_shows_keys_once_delivered(edge: Edge) -> None:
    edge.orders.order["status"] = "delivered"
    page = await edge.client.get("/orders/F20260101ABC", params={"token": "tok"})
    assert page.status_code == 200
    assert "AAAA-1111" in page.text and "Steam &lt;50&gt;" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_shop_form_places_an_order_and_redirects_to_the_order_page(edge: Edge) -> None:
    response = await edge.client.post(
        "/shop/orders", data={"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/orders/F20260101ABC?token=tok"
    bad = await edge.client.post("/shop/orders", data={"product_id": PRODUCT_ID, "email": "nope"})
    assert bad.status_code == 400 and "email" in bad.text


async def test_sandbox_refuses_to_pay_an_order_already_paid(edge: Edge) -> None:
    edge.orders.order["status"] = "fulfilling"
    done = await edge.client.post("/pay/sandbox/F20260101ABC/complete?token=tok")
    assert done.status_code == 409
    assert "nothing to pay" in done.text
    assert not any(c.url.path.endswith("/notify") for c in edge.orders.calls)


# --- pricing, buyer fields, lookups and their rate limits -----------------------------------------


async def test_coupon_and_buyer_fields_are_forwarded_with_the_order(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/v1/orders",
        json={
            "product_id": PRODUCT_ID,
            "email": "a@example.com",
            "coupon_code": " spring10 ",
            "buyer_fields": {" account ": "13800138000"},
            "phone": "+86 138 0013 8000",
        },
    )
    assert response.status_code == 201
    sent = json.loads(edge.orders.calls[-1].content)
    assert sent["coupon_code"] == "spring10"
    assert sent["buyer_phone"] == "+86 138 0013 8000"
    assert sent["buyer_fields"] == {"account": "13800138000"}


async def test_a_phone_that_is_not_one_is_422_and_no_order_is_placed(edge: Edge) -> None:
    response = await edge.client.post(
        "/api/v1/orders", json={"product_id": PRODUCT_ID, "email": "a@example.com", "phone": "call me"}
    )
    assert response.status_code == 422 and "phone" in response.json()["message"]
    assert edge.orders.calls == []


@pytest.mark.parametrize(
    "fields",
    [
        {f"f{i}": "v" for i in range(11)},
        {"k" * 41: "v"},
        {"account": "v" * 201},
        {"": "v"},
    ],
)
async def test_buyer_fields_out_of_bounds_are_422(edge: Edge, fields: dict[str, str]) -> None:
    response = await edge.client.post(
        "/api/v1/orders", json={"product_id": PRODUCT_ID, "email": "a@example.com", "buyer_fields": fields}
    )
    assert response.status_code == 422 and "buyer_fields" in response.json()["message"]
    assert edge.orders.calls == []


async def test_admin_coupons_and_price_tiers_go_to_the_order_service(edge: Edge) -> None:
    coupon = {"code": "SPRING10", "kind": "percent", "value": 10, "usage_limit": 5}
    assert (await edge.client.post("/api/admin/coupons", json=coupon)).status_code == 401
    created = await edge.client.post("/api/admin/coupons", json=coupon, headers=ADMIN)
    assert created.status_code == 201 and created.json()["used_count"] == 0
    assert json.loads(edge.orders.calls[-1].content) == coupon
    assert (await edge.client.get("/api/admin/coupons", headers=ADMIN)).json() == {"items": []}
    disabled = await edge.client.post("/api/admin/coupons/SPRING10/disable", headers=ADMIN)
    assert disabled.json()["active"] is False
    bad = await edge.client.post("/api/admin/coupons", json={**coupon, "kind": "bogo"}, headers=ADMIN)
    assert bad.status_code == 422 and "kind" in bad.json()["message"]

    tiers = {"tiers": [{"min_quantity": 10, "unit_price": 4000}]}
    put = await edge.client.put(f"/api/admin/products/{PRODUCT_ID}/price-tiers", json=tiers, headers=ADMIN)
    assert put.status_code == 200 and put.json()["tiers"] == tiers["tiers"]
    assert edge.orders.calls[-1].method == "PUT"
    one = {"tiers": [{"min_quantity": 1, "unit_price": 4000}]}
    refused = await edge.client.put(f"/api/admin/products/{PRODUCT_ID}/price-tiers", json=one, headers=ADMIN)
    assert refused.status_code == 422


async def test_lookup_by_email_and_password_answers_the_same_for_wrong_password_and_no_orders(
    edge: Edge,
) -> None:
    right = await edge.client.post(
        "/api/v1/orders/lookup", json={"email": "buyer@example.com", "password": "secret-pw"}
    )
    assert right.status_code == 200 and right.json()["items"][0]["order_no"] == "F20260101ABC"
    assert right.headers["cache-control"] == "no-store"
    wrong = await edge.client.post(
        "/api/v1/orders/lookup", json={"email": "buyer@example.com", "password": "guess-pw"}
    )
    nobody = await edge.client.post(
        "/api/v1/orders/lookup", json={"email": "nobody@example.com", "password": "secret-pw"}
    )
    assert wrong.status_code == nobody.status_code == 200
    assert wrong.json() == nobody.json() == {"items": []}


async def test_email_lookups_past_the_limit_are_429_with_retry_after(edge: Edge) -> None:
    body = {"email": "Buyer@Example.com", "password": "guess-pw"}
    answers = [(await edge.client.post("/api/v1/orders/lookup", json=body)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]  # 3 per hour per e-mail
    refused = await edge.client.post("/api/v1/orders/lookup", json={**body, "email": "buyer@example.com"})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited" and "e-mail" in refused.json()["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert len([c for c in edge.orders.calls if c.url.path == "/internal/orders/lookup"]) == 3


async def test_guesses_on_an_order_are_limited_but_its_valid_token_is_never_refused(edge: Edge) -> None:
    for _ in range(5):
        assert (
            await edge.client.get("/api/v1/orders/F20260101ABC", params={"token": "tok"})
        ).status_code == 200
    misses = [
        (await edge.client.get("/api/v1/orders/F20260101ABC", params={"token": "guess"})).status_code
        for _ in range(4)
    ]
    assert misses == [404, 404, 404, 429]  # 3 failures per hour per order
    # another order from the same address is still answered (5 failures per minute per address)
    other = await edge.client.get("/api/v1/orders/F20260101XYZ", params={"token": "guess"})
    assert other.status_code == 404
    rightful = await edge.client.get("/api/v1/orders/F20260101ABC", params={"token": "tok"})
    assert rightful.status_code == 200
    page = await edge.client.get("/orders/F20260101ABC", params={"token": "tok"})
    assert page.status_code == 200
    guessed = await edge.client.get("/orders/F20260101ABC", params={"token": "guess-again"})
    assert guessed.status_code == 429 and guessed.headers["retry-after"]  # the HTML page shares the limits


def order_service_calls(edge: Edge, suffix: str) -> list[httpx.Request]:
    return [c for c in edge.orders.calls if c.url.path == f"/internal/orders/F20260101ABC{suffix}"]


async def test_password_guesses_on_pay_are_limited_and_refused_ones_cost_no_hash(edge: Edge) -> None:
    answers = [
        await edge.client.post(
            "/api/v1/orders/F20260101ABC/pay", json={"provider": "alipay", "password": f"guess-{i}"}
        )
        for i in range(5)
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429, 429]
    assert "this order" in answers[-1].json()["message"] and int(answers[-1].headers["retry-after"]) >= 1
    assert len(order_service_calls(edge, "/payments")) == 3  # refused guesses never reach the scrypt
    # the right password is refused too while the window is full (it would cost a hash); the token is not
    by_password = await edge.client.post(
        "/api/v1/orders/F20260101ABC/pay", json={"provider": "alipay", "password": "secret-pw"}
    )
    by_token = await edge.client.post(
        "/api/v1/orders/F20260101ABC/pay", json={"provider": "alipay", "token": "tok", "password": "x"}
    )
    assert by_password.status_code == 429
    assert by_token.status_code == 200 and by_token.json()["pay_url"] == "https://pay.example.com/alipay"
    assert json.loads(order_service_calls(edge, "/payments")[-1].content)["password"] is None


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v1/orders/F20260101ABC?token=guess", None),
        ("GET", "/orders/F20260101ABC?password=guess", None),
        ("POST", "/api/v1/orders/F20260101ABC/cancel", {"token": "guess"}),
        ("POST", "/api/v1/orders/F20260101ABC/pay", {"provider": "alipay", "password": "guess"}),
        ("GET", "/pay/sandbox/F20260101ABC?token=guess", None),
        ("POST", "/pay/sandbox/F20260101ABC/complete?token=guess", None),
    ],
)
async def test_every_route_that_checks_an_order_secret_counts_failures_in_the_same_windows(
    edge: Edge, method: str, url: str, body: dict[str, str] | None
) -> None:
    for _ in range(3):
        await edge.client.request(method, url, json=body)
    refused = await edge.client.request(method, url, json=body)
    elsewhere = await edge.client.get("/api/v1/orders/F20260101ABC", params={"password": "guess"})
    assert refused.status_code == 429
    assert elsewhere.status_code == 429


async def test_secrets_reach_the_order_service_in_the_body_never_in_a_url(edge: Edge) -> None:
    await edge.client.get("/api/v1/orders/F20260101ABC", params={"token": "tok"})
    await edge.client.get("/orders/F20260101ABC", params={"password": "secret-pw"})
    await edge.client.post("/api/v1/orders/F20260101ABC/pay", json={"provider": "alipay", "token": "tok"})
    await edge.client.post("/api/v1/orders/F20260101ABC/cancel", json={"password": "secret-pw"})
    await edge.client.post("/api/v1/orders/lookup", json={"email": "b@example.com", "password": "secret-pw"})
    await edge.client.get("/pay/sandbox/F20260101ABC", params={"token": "tok"})
    assert len(edge.orders.calls) >= 6
    for call in edge.orders.calls:
        assert "tok" not in str(call.url) and "secret-pw" not in str(call.url), call.url


async def test_order_placement_is_limited_per_address_and_per_email(edge: Edge) -> None:
    async def place(email: str) -> httpx.Response:
        order = {"product_id": PRODUCT_ID, "quantity": 1, "email": email}
        return await edge.client.post("/api/v1/orders", json=order)

    by_email = [(await place("Same@example.com")).status_code for _ in range(5)]
    assert by_email == [201, 201, 201, 201, 429]  # 4 per hour per e-mail
    refused = await place("same@example.com")
    assert refused.status_code == 429 and "e-mail" in refused.json()["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    others = [(await place(f"buyer{i}@example.com")).status_code for i in range(5)]
    assert others == [201, 201, 201, 201, 429]  # 8 per hour per address; refused ones are not counted
    assert "your address" in (await place("new@example.com")).json()["message"]
    placed = [c for c in edge.orders.calls if c.url.path == "/internal/orders"]
    assert len(placed) == 8


async def test_admin_rotates_an_orders_secret_and_gets_the_new_links(edge: Edge) -> None:
    assert (await edge.client.post("/api/admin/orders/F20260101ABC/secret-rotations")).status_code == 401
    rotated = await edge.client.post("/api/admin/orders/F20260101ABC/secret-rotations", headers=ADMIN)
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    assert body["token"] == "new-token"
    assert body["page_url"] == "http://gateway.test/orders/F20260101ABC?token=new-token"
    assert rotated.headers["cache-control"] == "no-store"


def test_lookup_key_scheme() -> None:
    settings = Settings(kafka_namespace="shop1", lookup_per_ip_per_minute=10, lookup_per_order_per_hour=20)
    by_ip, by_order = lookup_keys(settings, "order", "203.0.113.7", "F20260101ABC")
    assert by_ip.key == "LIMITER/faka/shop1/lookup/order/ip/203.0.113.7/10/1/minute"
    assert by_order.key == "LIMITER/faka/shop1/lookup/order/subject/F20260101ABC/20/1/hour"
    [by_email] = lookup_keys(Settings(), "email", None, " Buyer@Example.COM ")
    digest = subject_id("email", "buyer@example.com")
    assert by_email.key == f"LIMITER/faka/default/lookup/email/subject/{digest}/20/1/hour"
    assert "example" not in by_email.key and len(digest) == 32
    assert storage_url(Settings(redis_url="redis://127.0.0.1:6379/0")) == "async+redis://127.0.0.1:6379/0"
    assert storage_url(Settings(lookup_limit_storage_url="memory://")) == "async+memory://"


async def test_the_order_page_offers_a_pay_button_per_method_and_the_button_redirects_to_the_provider(
    edge: Edge,
) -> None:
    edge.orders.order = {**edge.orders.order, "pay_url": None, "payment_methods": ["alipay", "wechatpay"]}
    page = await edge.client.get("/orders/F20260101ABC", params={"token": "tok"})
    assert page.status_code == 200
    assert "/pay/sandbox/" not in page.text
    assert page.text.count('action="orders/F20260101ABC/pay"') == 2  # relative to <base href="/">
    assert 'name="token" value="tok"' in page.text and 'value="wechatpay"' in page.text
    pay = await edge.client.post(
        "/orders/F20260101ABC/pay", content=b"provider=alipay&token=tok", follow_redirects=False
    )
    assert pay.status_code == 303 and pay.headers["location"] == "https://pay.example.com/alipay"


async def test_sandbox_pages_are_mounted_only_when_the_sandbox_provider_is_enabled() -> None:
    async def sandbox_route_answer(providers: list[str]) -> int:
        gateway = build_gateway(
            principals=KnownPrincipals.platform_admin(),
            shops=KnownShops.default_only(),
            settings=Settings(payment_providers=providers),
        )
        transport = httpx.ASGITransport(app=edge_app(gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            answer = await client.post("/pay/sandbox/F20260101ABC/complete")
        await gateway.aclose()
        return answer.status_code if "no route" not in answer.text else -1

    assert await sandbox_route_answer(["alipay"]) == -1
    assert await sandbox_route_answer(["sandbox", "alipay"]) != -1
    names = ("service_token", "sandbox_secret")
    strong = {name: secrets.token_urlsafe(32) for name in names}
    assert not Settings(environment="production", **strong).sandbox_enabled  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sandbox payment provider takes no money"):
        Settings(environment="production", payment_providers=["sandbox"], **strong)  # type: ignore[arg-type]
