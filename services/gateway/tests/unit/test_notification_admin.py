"""A shop's notification channels through the admin API, over ASGI with an in-memory notification service:
the gateway passes the settings on for the shop the request acts for, refuses a malformed body before
notification hears of it, and hands notification's refusals back as they are."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.principals import KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.domain.access import Principal
from gateway.domain.shops import Shop
from gateway.entrypoints.routers import edge_app

SHOP = Shop(uuid.uuid4(), "cards", "Cards", "active")
URL = "/api/admin/shop-channels"
SETTINGS: dict[str, Any] = {
    "from_name": "Cards",
    "from_address": "sales@cards.example",
    "smtp": {"host": "smtp.cards.example", "port": 465, "security": "tls", "username": "u", "password": "p"},
    "alert_emails": ["owner@cards.example"],
}
VIEW: dict[str, Any] = {
    "shop_id": str(SHOP.id),
    "from_name": "Cards",
    "from_address": "sales@cards.example",
    "reply_to": None,
    "smtp": {"host": "smtp.cards.example", "port": 465, "security": "tls", "username": "u"},
    "smtp_password_set": True,
    "alert_emails": ["owner@cards.example"],
    "webhook_url": None,
    "webhook_secret_set": False,
}


def person(role: str) -> Principal:
    return Principal(
        kind="person",
        id=uuid.uuid4(),
        label=f"{role}@cards.example",
        memberships={SHOP.id: role},  # type: ignore[dict-item]
        second_factor_at=datetime.now(UTC),
        session_id=uuid.uuid4(),
    )


@dataclass
class Notification:
    """Notification's internal API: answers `answer` (else the view), keeps every request."""

    answer: httpx.Response | None = None
    calls: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/audit-entries":
            return httpx.Response(201, json={})
        self.calls.append(request)
        return self.answer or httpx.Response(200, json=VIEW)


class FakeOwner(InternalClient):
    def __init__(self, handler: Any) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(base_url="http://owner.test", transport=httpx.MockTransport(handler))


@pytest.fixture
async def edge() -> AsyncIterator[tuple[httpx.AsyncClient, Notification]]:
    notification = Notification()
    gateway: Gateway = build_gateway(
        Settings(lookup_limit_storage_url="memory://", kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}"),
        **{role: FakeOwner(notification) for role in ("order", "inventory", "delivery", "merchant")},
        notification=FakeOwner(notification),
        shops=KnownShops([SHOP]),
        principals=KnownPrincipals({"owner": person("owner"), "operator": person("operator")}),
    )
    transport = httpx.ASGITransport(app=edge_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client, notification
    await gateway.aclose()


def signed_in(secret: str) -> dict[str, str]:
    return {
        "Cookie": f"faka_session={secret}; faka_csrf=c",
        "X-CSRF-Token": "c",
        "X-Shop-Id": str(SHOP.id),
    }


async def test_the_owner_puts_the_settings_to_notification_for_the_shop_and_reads_them_back(
    edge: tuple[httpx.AsyncClient, Notification],
) -> None:
    client, notification = edge
    put = await client.put(URL, json=SETTINGS, headers=signed_in("owner"))
    read = await client.get(URL, headers=signed_in("owner"))

    assert (put.status_code, read.status_code) == (200, 200), put.text
    assert put.json() == read.json() == VIEW
    sent, got = notification.calls
    assert (sent.method, sent.url.path, got.method, got.url.path) == (
        "PUT",
        "/internal/shop-channels",
        "GET",
        "/internal/shop-channels",
    )
    assert sent.headers["X-Shop-Id"] == got.headers["X-Shop-Id"] == str(SHOP.id)
    forwarded = json.loads(sent.content)
    assert forwarded["smtp"] == {**SETTINGS["smtp"]} and forwarded["alert_emails"] == SETTINGS["alert_emails"]


@pytest.mark.parametrize(
    "body",
    [
        {**SETTINGS, "unknown": 1},
        {**SETTINGS, "from_address": "Sales <sales@cards.example>"},
        {**SETTINGS, "smtp": {"host": "smtp.cards.example", "password": "without-a-user"}},
        {"webhook_secret": "without-a-url"},
    ],
)
async def test_a_malformed_body_is_refused_before_notification_hears_of_it(
    edge: tuple[httpx.AsyncClient, Notification], body: dict[str, Any]
) -> None:
    client, notification = edge
    refused = await client.put(URL, json=body, headers=signed_in("owner"))
    assert refused.status_code == 422, refused.text
    assert notification.calls == []


async def test_notifications_refusal_comes_back_as_it_is(
    edge: tuple[httpx.AsyncClient, Notification],
) -> None:
    client, notification = edge
    message = "smtp.host refused: 10.0.0.1 is a private address"
    notification.answer = httpx.Response(422, json={"error": "unsafe_url", "message": message})
    refused = await client.put(
        URL, json={**SETTINGS, "smtp": {"host": "10.0.0.1"}}, headers=signed_in("owner")
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "unsafe_url" and message in refused.json()["message"]


async def test_an_operator_may_neither_read_nor_change_the_shops_channels(
    edge: tuple[httpx.AsyncClient, Notification],
) -> None:
    client, notification = edge
    assert (await client.get(URL, headers=signed_in("operator"))).status_code == 403
    assert (await client.put(URL, json=SETTINGS, headers=signed_in("operator"))).status_code == 403
    assert notification.calls == []
