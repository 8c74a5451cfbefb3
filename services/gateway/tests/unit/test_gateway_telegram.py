"""The Telegram webhook and the order page's deep link, over ASGI with in-memory fake owners."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from faka_common import chat_link
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.owners import ShopOwner
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app
from gateway.entrypoints.telegram import SECRET_HEADER, deep_link

HOOK_SECRET = "hook-secret_1"
LINK_SECRET = "link-secret"
ORDER_ID = "0190f3a2-0000-7d4b-9a8e-2f6c1b5d4e3a"
GATEWAY = ServiceCredential.development("gateway")
ORDER_NO = "F20260101000000ABCDEF"
URL = "/api/v1/telegram/webhook"


@dataclass
class FakeService:
    """An owner's internal API over an in-memory transport: records requests, answers `status`."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"linked": True})
    calls: list[httpx.Request] = field(default_factory=list)

    def owner(self) -> InternalClient:
        return InternalClient("http://owner.test", GATEWAY, transport=httpx.MockTransport(self.answer))

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        return httpx.Response(self.status, json=self.body)


def orders(request: httpx.Request) -> httpx.Response:
    secret = json.loads(request.content or b"{}").get("token")
    if request.url.path == f"/internal/orders/{ORDER_NO}/view" and secret == "tok":
        order = {"order_id": ORDER_ID, "order_no": ORDER_NO, "status": "awaiting_payment", "amount": 100}
        return httpx.Response(200, json={**order, "currency": "CNY", "product_title": "P", "quantity": 1})
    return httpx.Response(404, json={"error": "not_found", "message": "no such order"})


@dataclass
class Edge:
    gateway: Gateway
    notification: FakeService
    client: httpx.AsyncClient


def make_gateway(notification: FakeService, **overrides: Any) -> Gateway:
    values: dict[str, Any] = {
        "lookup_limit_storage_url": "memory://",
        "telegram_bot_username": "faka_shop_bot",
        "telegram_link_secret": LINK_SECRET,
        "telegram_webhook_secret": HOOK_SECRET,
        **overrides,
    }
    return build_gateway(
        shops=KnownShops.default_only(),
        settings=Settings(**values),
        order=FakeService().owner(),
        inventory=FakeService().owner(),
        delivery=FakeService().owner(),
        notification=notification.owner(),
    )


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    notification = FakeService()
    gateway = make_gateway(notification)
    gateway.order = ShopOwner(FakeOwner(orders))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=edge_app(gateway)),
        base_url="http://127.0.0.1:8000",  # the platform's own host: its root names no shop
    ) as client:
        yield Edge(gateway, notification, client)
    await gateway.aclose()


class FakeOwner(InternalClient):
    def __init__(self, handler: Any) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(base_url="http://owner.test", transport=httpx.MockTransport(handler))


def start(text: str, chat_id: Any = 4242, language: str | None = "en") -> dict[str, Any]:
    sender = {"id": 1, "is_bot": False, "first_name": "B"} | ({"language_code": language} if language else {})
    return {
        "update_id": 10,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": chat_id, "type": "private"},
            "from": sender,
            "text": text,
        },
    }


async def post(
    edge: Edge, body: Any, secret: str | None = HOOK_SECRET, raw: bytes | None = None
) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    content = raw if raw is not None else json.dumps(body).encode()
    return await edge.client.post(
        URL, content=content, headers={**headers, "content-type": "application/json"}
    )


async def test_a_start_with_a_token_is_forwarded_to_notification(edge: Edge) -> None:
    token = chat_link.sign(LINK_SECRET, UUID(ORDER_ID), 600)
    response = await post(edge, start(f"/start {token}"))

    assert response.status_code == 200 and response.json() == {"ok": True, "linked": True}
    [call] = edge.notification.calls
    assert call.method == "POST" and call.url.path == "/internal/telegram/links"
    assert call.headers["X-Internal-Caller"] == "gateway"
    assert call.headers["X-Internal-Token"] == GATEWAY.token
    assert (
        "X-Shop-Id" not in call.headers
    )  # the platform's bot: the order's shop is the token's, not a path's
    assert json.loads(call.content) == {"chat_id": "4242", "token": token, "language_code": "en"}


async def test_a_start_addressed_to_the_bot_in_a_group_is_forwarded_too(edge: Edge) -> None:
    response = await post(edge, start("/start@faka_shop_bot abc-DEF_1", chat_id=-100123, language=None))
    assert response.status_code == 200
    [call] = edge.notification.calls
    assert json.loads(call.content) == {"chat_id": "-100123", "token": "abc-DEF_1", "language_code": None}


@pytest.mark.parametrize(
    ("secret", "status"), [(None, 401), ("", 401), ("wrong", 403), (HOOK_SECRET + "x", 403)]
)
async def test_a_missing_or_wrong_secret_header_is_refused(
    edge: Edge, secret: str | None, status: int
) -> None:
    response = await post(edge, start("/start abc"), secret=secret)
    assert response.status_code == status and SECRET_HEADER in response.json()["message"]
    assert edge.notification.calls == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a Telegram Update"),
        (b'{"message": {"chat": {"id": 1}, "text": "/start abc"}}', "not a Telegram Update"),
        (
            b'{"update_id": 1, "message": {"chat": {"id": "x"}, "text": "/start abc"}}',
            "not a Telegram Update",
        ),
        (b'{"update_id": 1, "message": {"text": "/start abc"}}', "not a Telegram Update"),
    ],
)
async def test_a_malformed_update_gets_a_clear_400(edge: Edge, raw: bytes, reason: str) -> None:
    response = await post(edge, None, raw=raw)
    assert response.status_code == 400 and reason in response.json()["message"]
    assert edge.notification.calls == []


async def test_an_oversized_update_is_refused(edge: Edge) -> None:
    response = await post(edge, None, raw=b'{"update_id": 1, "x": "' + b"a" * 70_000 + b'"}')
    assert response.status_code == 413


@pytest.mark.parametrize("text", ["hello", "/start", "/help abc", "/start two words", None])
async def test_other_messages_and_updates_are_acknowledged_and_ignored(edge: Edge, text: str | None) -> None:
    update = start(text) if text is not None else {"update_id": 11, "edited_message": {}}
    response = await post(edge, update)
    assert response.status_code == 200 and response.json() == {"ok": True, "linked": False}
    assert edge.notification.calls == []


async def test_a_refused_token_is_acknowledged_so_telegram_does_not_resend_it(edge: Edge) -> None:
    edge.notification.status = 400
    edge.notification.body = {"error": "invalid_chat_link", "message": "the link has expired"}
    response = await post(edge, start("/start abc"))
    assert response.status_code == 200 and response.json() == {"ok": True, "linked": False}


async def test_a_chat_presenting_refused_tokens_is_throttled_and_its_updates_still_acknowledged(
    edge: Edge,
) -> None:
    edge.notification.status = 400
    edge.notification.body = {"error": "invalid_chat_link", "message": "the link is not valid"}
    limit = edge.gateway.settings.lookup_per_order_per_hour
    for i in range(limit + 2):
        response = await post(edge, start(f"/start guess{i}"))
        assert response.status_code == 200 and response.json() == {"ok": True, "linked": False}
    assert len(edge.notification.calls) == limit  # the rest never reach notification
    edge.notification.status, edge.notification.body = 200, {"linked": True}
    other_chat = await post(edge, start(f"/start {chat_link.sign(LINK_SECRET, UUID(ORDER_ID), 600)}", 77))
    assert other_chat.json() == {"ok": True, "linked": True}


@pytest.mark.parametrize("status", [503, 401])
async def test_notification_down_or_misconfigured_answers_503_so_telegram_retries(
    edge: Edge, status: int
) -> None:
    edge.notification.status = status
    edge.notification.body = {"error": "x", "message": "nope"}
    response = await post(edge, start("/start abc"))
    assert response.status_code == 503


async def test_the_webhook_is_off_without_a_secret() -> None:
    gateway = make_gateway(FakeService(), telegram_webhook_secret=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=edge_app(gateway)), base_url="http://g"
    ) as c:
        response = await c.post(URL, json=start("/start abc"), headers={SECRET_HEADER: "anything"})
    await gateway.aclose()
    assert response.status_code == 404


async def test_the_order_page_links_to_the_bot_with_a_token_naming_the_order(edge: Edge) -> None:
    page = await edge.client.get(f"/orders/{ORDER_NO}", params={"token": "tok"})
    assert page.status_code == 200
    [href] = re.findall(r'href="(https://t\.me/[^"]+)"', page.text)
    link = urlsplit(unescape(href))
    assert link.netloc == "t.me" and link.path == "/faka_shop_bot"
    [token] = parse_qs(link.query)["start"]
    assert len(token) <= 64 and chat_link.verify(LINK_SECRET, token) == UUID(ORDER_ID)


async def test_no_link_while_the_shop_has_no_bot() -> None:
    no_bot = make_gateway(FakeService(), telegram_bot_username=None)
    no_secret = make_gateway(FakeService(), telegram_link_secret=None)
    configured = make_gateway(FakeService())
    assert deep_link(no_bot, ORDER_ID) is None and deep_link(no_secret, ORDER_ID) is None
    assert deep_link(configured, "not-a-uuid") is None and deep_link(configured, ORDER_ID) is not None
    for gateway in (no_bot, no_secret, configured):
        await gateway.aclose()
