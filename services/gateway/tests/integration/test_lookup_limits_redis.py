"""Buyer-lookup rate limits against the real Redis at REDIS_URL: the windows live under the documented
keys, a full window answers 429 with Retry-After, and two gateways share one window."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis
from faka_common.http import InternalClient
from faka_common.rate_limits import RateLimited, Window
from faka_common.service_auth import ServiceCredential
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app
from gateway.service_layer.rate_limits import lookup_limits

pytestmark = pytest.mark.integration

ORDER_NO = "F20260101000000ABCDEF"


def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: point it at a Redis server, e.g. redis://127.0.0.1:16379/0")
    return url


def order_service(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/internal/orders/lookup":
        return httpx.Response(200, json={"items": []})
    secret = json.loads(request.content or b"{}").get("token")
    if request.url.path == f"/internal/orders/{ORDER_NO}/view" and secret == "tok":
        return httpx.Response(200, json={"order_id": "o1", "order_no": ORDER_NO, "status": "paid"})
    return httpx.Response(404, json={"error": "not_found", "message": "no order with that number and secret"})


class FakeOwner(InternalClient):
    def __init__(self) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(
            base_url="http://owner.test", transport=httpx.MockTransport(order_service)
        )


def gateway(namespace: str) -> Gateway:
    settings = Settings(
        redis_url=redis_url(),
        kafka_namespace=namespace,
        lookup_per_ip_per_minute=4,
        lookup_per_order_per_hour=3,
        lookup_per_email_per_hour=2,
    )
    return build_gateway(
        shops=KnownShops.default_only(), settings=settings, order=FakeOwner(), inventory=FakeOwner()
    )


def client(gw: Gateway, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=edge_app(gw), client=(ip, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@pytest.fixture
async def store() -> AsyncIterator[tuple[str, redis.Redis]]:
    namespace = f"it-{uuid.uuid4().hex[:10]}"
    connection = redis.from_url(redis_url())
    yield namespace, connection
    async for key in connection.scan_iter(match=f"*faka/{namespace}/*"):
        await connection.delete(key)
    await connection.aclose()


async def test_failed_order_lookups_fill_the_orders_window_in_redis_then_guesses_get_429_but_the_token_works(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    gw = gateway(namespace)
    async with client(gw, "198.51.100.1") as shop:
        answers = [await shop.get(f"/api/v1/orders/{ORDER_NO}", params={"token": "guess"}) for _ in range(4)]
        password = await shop.get(f"/api/v1/orders/{ORDER_NO}", params={"password": "guess-pw"})
        rightful = await shop.get(f"/api/v1/orders/{ORDER_NO}", params={"token": "tok"})
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "rate_limited"
    assert 3000 < int(refused.headers["retry-after"]) <= 3600
    assert password.status_code == 429
    assert rightful.status_code == 200
    keys = {k.decode() async for k in connection.scan_iter(match=f"*faka/{namespace}/*")}
    assert keys == {
        f"LIMITS:LIMITER/faka/{namespace}/lookup/order/subject/{ORDER_NO}/3/1/hour",
        f"LIMITS:LIMITER/faka/{namespace}/lookup/order/ip/198.51.100.1/4/1/minute",
    }
    order_key = f"LIMITS:LIMITER/faka/{namespace}/lookup/order/subject/{ORDER_NO}/3/1/hour"
    assert await connection.llen(order_key) == 3
    assert 0 < await connection.ttl(order_key) <= 3600
    await gw.aclose()


async def test_a_rightful_token_opens_the_order_without_a_window_read_and_only_failures_read_them(
    store: tuple[str, redis.Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace, _ = store
    gw = gateway(namespace)
    limits = lookup_limits(gw)
    reads: list[list[str]] = []
    read = limits.full

    async def counted(windows: list[Window]) -> RateLimited | None:
        reads.append([window.key for window in windows])
        return await read(windows)

    monkeypatch.setattr(limits, "full", counted)
    path = f"/api/v1/orders/{ORDER_NO}"
    async with client(gw, "198.51.100.7") as buyer:
        assert [(await buyer.get(path, params={"token": "tok"})).status_code for _ in range(3)] == [200] * 3
        assert reads == []  # the page's reads of its own order cost no moving-window reads
        assert (await buyer.get(path, params={"token": "guess"})).status_code == 404
        assert len(reads) == 1 and len(reads[0]) == 2  # the client's and the order's window, once
        assert (await buyer.get(path, params={"password": "guess-pw"})).status_code == 404
        assert len(reads) == 2  # a password is held at the windows before its (costly) check
    await gw.aclose()


async def test_two_gateways_share_the_email_window(store: tuple[str, redis.Redis]) -> None:
    namespace, _ = store
    first, second = gateway(namespace), gateway(namespace)
    body = {"email": "buyer@example.com", "password": "guess-pw"}
    async with client(first, "198.51.100.2") as a, client(second, "198.51.100.3") as b:
        assert (await a.post("/api/v1/orders/lookup", json=body)).status_code == 200
        assert (await b.post("/api/v1/orders/lookup", json=body)).status_code == 200
        refused = await a.post("/api/v1/orders/lookup", json={**body, "email": "BUYER@example.com"})
        other = await b.post("/api/v1/orders/lookup", json={**body, "email": "someone@example.com"})
    assert refused.status_code == 429 and "e-mail" in refused.json()["message"]
    assert json.loads(other.content) == {"items": []}
    await first.aclose()
    await second.aclose()


async def test_per_address_window_spans_order_numbers(store: tuple[str, redis.Redis]) -> None:
    namespace, _ = store
    gw = gateway(namespace)
    async with client(gw, "198.51.100.4") as shop:
        answers = [
            (await shop.get(f"/api/v1/orders/F2026010100000{i}ABCDEF", params={"token": "guess"})).status_code
            for i in range(5)
        ]
    assert answers == [404, 404, 404, 404, 429]
    await gw.aclose()


class PlacingOwner(InternalClient):
    """The order service placing orders, or turning them away busy while `busy`."""

    def __init__(self) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self.busy = True
        self._client = httpx.AsyncClient(
            base_url="http://owner.test", transport=httpx.MockTransport(self.answer)
        )

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.busy:
            busy = {
                "error": "busy",
                "message": "too many orders are waiting for their stock",
                "retry_after": 2,
            }
            return httpx.Response(503, json=busy, headers={"Retry-After": "2"})
        placed = {
            "order_id": "o1", "order_no": ORDER_NO, "status": "pending_risk", "amount": 100,
            "currency": "CNY", "token": "tok", "expires_at": "2026-01-01T00:15:00+00:00",
        }  # fmt: skip
        return httpx.Response(201, json=placed)


async def test_a_placement_turned_away_busy_is_given_back_so_a_buyer_retrying_a_rush_keeps_the_hourly_room(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    owner = PlacingOwner()
    settings = Settings(
        redis_url=redis_url(),
        kafka_namespace=namespace,
        orders_per_ip_per_hour=2,
        orders_per_email_per_hour=2,
    )
    gw = build_gateway(shops=KnownShops.default_only(), settings=settings, order=owner, inventory=FakeOwner())
    order = {"product_id": str(uuid.uuid4()), "quantity": 1, "email": "rush@example.com"}
    async with client(gw, "198.51.100.9") as buyer:
        busy = [await buyer.post("/api/v1/orders", json=order) for _ in range(5)]
        windows = [k async for k in connection.scan_iter(match=f"*faka/{namespace}/place/*")]
        held = [await connection.llen(key) for key in windows]
        owner.busy = False
        placed = [(await buyer.post("/api/v1/orders", json=order)).status_code for _ in range(3)]
    assert [(a.status_code, a.json()["error"]) for a in busy] == [(503, "busy")] * 5
    assert sum(held) == 0  # each window given back its attempt (an emptied window's key is gone)
    assert placed == [201, 201, 429]
    await gw.aclose()
