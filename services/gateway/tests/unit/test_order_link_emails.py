"""POST /api/v1/orders/{order_no}/link-emails over ASGI with a fake order service: one answer whatever the
order and the address (even when the order service fails), the address passed on in a body, every request
counted per client address and per order number, bad input a 422."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from faka_common.errors import Unavailable
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app

from .test_gateway_http import FakeOwner, FakeStorefront

ORDER_NO = "F20260101000000ABCDEF"
BUYER = "buyer@example.com"


class FakeOrderService:
    """Order's link-emails route: 202 always (as the real one), or down when `down` is set."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.down:
            raise httpx.ConnectError("order service down")
        return httpx.Response(202, json={"status": "accepted"})


class Shop:
    def __init__(self, gw: Gateway, orders: FakeOrderService) -> None:
        self.gw, self.orders = gw, orders
        self.app = edge_app(gw)

    def client(self, ip: str = "203.0.113.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 5555))
        return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    async def ask(self, order_no: str, email: str = BUYER, ip: str = "203.0.113.7") -> httpx.Response:
        async with self.client(ip) as client:
            return await client.post(f"/api/v1/orders/{order_no}/link-emails", json={"email": email})


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    settings = Settings(
        lookup_limit_storage_url="memory://",
        link_emails_per_ip_per_hour=3,
        link_emails_per_order_per_hour=2,
        kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}",
    )
    orders = FakeOrderService()
    gw = build_gateway(
        shops=KnownShops.default_only(),
        settings=settings,
        order=FakeOwner(orders),
        inventory=FakeOwner(orders),
        storefront=FakeStorefront(),
    )
    yield Shop(gw, orders)
    await gw.aclose()


async def test_every_link_request_gets_the_same_answer_whatever_the_order_and_the_address(shop: Shop) -> None:
    answers = [
        await shop.ask(ORDER_NO, BUYER, ip="198.51.100.1"),
        await shop.ask(ORDER_NO, "someone-else@example.com", ip="198.51.100.2"),
        await shop.ask("F20990101000000ZZZZZZ", BUYER, ip="198.51.100.3"),
        await shop.ask("no%20such%20order", BUYER, ip="198.51.100.4"),
        await shop.ask("F20260101000000OTHER1", "not an address", ip="198.51.100.5"),
    ]
    assert {a.status_code for a in answers} == {202}
    assert {a.content for a in answers} == {b'{"status":"accepted"}'}
    assert {a.headers["cache-control"] for a in answers} == {"no-store"}
    # each well-formed one is passed on, the address in the body and never in the URL
    passed = [(c.url.path, json.loads(c.content)["email"]) for c in shop.orders.calls]
    assert passed == [
        (f"/internal/orders/{ORDER_NO}/link-emails", BUYER),
        (f"/internal/orders/{ORDER_NO}/link-emails", "someone-else@example.com"),
        ("/internal/orders/F20990101000000ZZZZZZ/link-emails", BUYER),
        ("/internal/orders/F20260101000000OTHER1/link-emails", "not an address"),
    ]
    assert all(not c.url.query for c in shop.orders.calls)


async def test_an_order_service_that_cannot_be_reached_changes_nothing_in_the_answer(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    reached = await shop.ask(ORDER_NO, ip="198.51.100.1")
    shop.orders.down = True
    with caplog.at_level(logging.WARNING, logger="gateway.service_layer.order_links"):
        unreached = await shop.ask(ORDER_NO, ip="198.51.100.2")
    assert (unreached.status_code, unreached.content) == (reached.status_code, reached.content)
    [warning] = caplog.records
    assert ORDER_NO in warning.getMessage() and BUYER not in warning.getMessage()
    assert Unavailable.code in warning.getMessage()


async def test_link_requests_are_limited_per_order_and_per_client_address(shop: Shop) -> None:
    per_order = [(await shop.ask(ORDER_NO)).status_code for _ in range(3)]
    assert per_order == [202, 202, 429]  # 2 per hour per order number
    refused = await shop.ask(ORDER_NO, ip="192.0.2.9")  # from anywhere
    assert refused.status_code == 429 and "this order" in refused.json()["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    # the address's third request (the refused one was not counted), then its window is full
    assert (await shop.ask("F20260101000000OTHER1")).status_code == 202
    by_address = await shop.ask("F20260101000000OTHER2")
    assert by_address.status_code == 429 and "your address" in by_address.json()["message"]
    assert len(shop.orders.calls) == 3  # refused requests are not passed on


@pytest.mark.parametrize(
    "body",
    [
        {"email": "buyer\x00@example.com"},
        {"email": "\u202emoc.elpmaxe@reyub"},
        {"email": "b" * 255},
        {"email": ""},
        {},
        {"email": BUYER, "token": "x"},
    ],
)
async def test_a_bad_body_is_a_422_and_never_reaches_the_order_service(
    shop: Shop, body: dict[str, str]
) -> None:
    async with shop.client() as client:
        answer = await client.post(f"/api/v1/orders/{ORDER_NO}/link-emails", json=body)
    assert answer.status_code == 422, answer.text
    assert shop.orders.calls == []
