"""A shop's payment channels through the admin API, over ASGI with an in-memory order service: the gateway
passes the credentials on for the shop the request acts for, refuses a body order would refuse before order
hears of it, hands order's refusals back as they are, and lets only owners and managers near them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from gateway.adapters.principals import KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app

from .test_gateway_http import FakeOwner
from .test_notification_admin import SHOP, person, signed_in

EPAY = {"url": "https://pay.cards.example", "pid": "2002", "key": "cards-epay-key"}
SHOWN = {"url": EPAY["url"], "pid": "2002", "type": "alipay", "key_set": True}
VIEW = {"provider": "epay", "enabled": True, "credentials": SHOWN, "updated_at": "2026-12-01T20:00:00+00:00"}


@dataclass
class Order:
    """Order's internal API: answers `answer` (else the channel), keeps every request."""

    answer: httpx.Response | None = None
    calls: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/audit-entries":
            return httpx.Response(201, json={})
        self.calls.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return self.answer or httpx.Response(200, json=VIEW)


@pytest.fixture
async def edge() -> AsyncIterator[tuple[httpx.AsyncClient, Order]]:
    order = Order()
    gateway = build_gateway(
        Settings(lookup_limit_storage_url="memory://", kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}"),
        **{role: FakeOwner(order) for role in ("order", "inventory", "delivery", "merchant", "notification")},
        shops=KnownShops([SHOP]),
        principals=KnownPrincipals({role: person(role) for role in ("owner", "manager", "operator")}),
    )
    transport = httpx.ASGITransport(app=edge_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client, order
    await gateway.aclose()


async def test_a_manager_sets_the_shops_epay_channel_at_order_for_the_shop(
    edge: tuple[httpx.AsyncClient, Order],
) -> None:
    client, order = edge
    put = await client.put(
        "/api/admin/payment-channels/epay", json={"credentials": EPAY}, headers=signed_in("manager")
    )
    listed = await client.get("/api/admin/payment-channels", headers=signed_in("owner"))
    removed = await client.delete("/api/admin/payment-channels/epay", headers=signed_in("owner"))
    assert (put.status_code, listed.status_code, removed.status_code) == (200, 200, 204), put.text
    sent = order.calls[0]
    assert [(c.method, c.url.path) for c in order.calls] == [
        ("PUT", "/internal/payment-channels/epay"),
        ("GET", "/internal/payment-channels"),
        ("DELETE", "/internal/payment-channels/epay"),
    ]
    assert {c.headers["X-Shop-Id"] for c in order.calls} == {str(SHOP.id)}
    assert json.loads(sent.content) == {"enabled": True, "credentials": {**EPAY, "type": "alipay"}}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("epay", {"credentials": {**EPAY, "unknown": 1}}),
        ("epay", {"credentials": {**EPAY, "url": "pay.cards.example"}}),
        ("epay", {"credentials": {**EPAY, "key": " "}}),
        ("epay", {"credentials": {"secret_key": "sk", "webhook_secret": "wh"}}),
        ("stripe", {"credentials": {"secret_key": "sk"}}),
        ("wechatpay", {"credentials": {"appid": "a", "mchid": "m", "merchant_serial": "s", "private_key": "k",
                                       "apiv3_key": "v", "platform_serial": "only-one"}}),
    ],
)  # fmt: skip
async def test_a_body_order_would_refuse_never_reaches_order(
    edge: tuple[httpx.AsyncClient, Order], path: str, body: dict[str, Any]
) -> None:
    client, order = edge
    refused = await client.put(f"/api/admin/payment-channels/{path}", json=body, headers=signed_in("owner"))
    assert refused.status_code == 422, refused.text
    assert order.calls == []


async def test_orders_refusal_comes_back_as_it_is(edge: tuple[httpx.AsyncClient, Order]) -> None:
    client, order = edge
    message = "alipay credentials: private key is not a readable RSA private key"
    order.answer = httpx.Response(422, json={"error": "bad_credentials", "message": message})
    body = {"credentials": {"app_id": "1", "private_key": "x", "public_key": "y"}}
    refused = await client.put("/api/admin/payment-channels/alipay", json=body, headers=signed_in("owner"))
    assert refused.status_code == 422
    assert refused.json()["error"] == "bad_credentials" and message in refused.json()["message"]


async def test_an_operator_may_neither_see_nor_change_the_shops_payment_channels(
    edge: tuple[httpx.AsyncClient, Order],
) -> None:
    client, order = edge
    assert (await client.get("/api/admin/payment-channels", headers=signed_in("operator"))).status_code == 403
    put = await client.put(
        "/api/admin/payment-channels/epay", json={"credentials": EPAY}, headers=signed_in("operator")
    )
    assert put.status_code == 403
    assert order.calls == []
