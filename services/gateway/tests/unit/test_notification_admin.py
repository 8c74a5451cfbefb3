"""A shop's notification channels through the admin API, over ASGI with an in-memory notification service:
the gateway passes the settings on for the shop the request acts for (its SMS accounts' secrets too, which
it never answers with), refuses a malformed body before notification hears of it (a 422 naming the field),
and hands notification's refusals back as they are."""

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
    "aliyun_sms": {
        "access_key_id": "LTAIshopCards01",
        "access_key_secret": "aliyun-shop-secret",
        "sign_name": "游戏卡店",
        "templates": {"order_delivered": "SMS_200001"},
    },
    "twilio_sms": {
        "account_sid": "AC" + "ab" * 16,
        "auth_token": "0123456789abcdef0123456789abcdef",
        "from_number": "+15005550007",
    },
    "alert_telegram_chat": "@cards_alerts",
}
SECRETS = ("aliyun-shop-secret", "0123456789abcdef0123456789abcdef")
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
    "aliyun_sms": {
        "access_key_id": "LTAIshopCards01",
        "sign_name": "游戏卡店",
        "templates": {"order_delivered": "SMS_200001"},
    },
    "aliyun_sms_secret_set": True,
    "twilio_sms": {"account_sid": "AC" + "ab" * 16, "from_number": "+15005550007"},
    "twilio_sms_token_set": True,
    "alert_telegram_chat": "@cards_alerts",
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
    audits: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/audit-entries":
            self.audits.append(json.loads(request.content))
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
    assert (forwarded["aliyun_sms"], forwarded["twilio_sms"]) == (
        SETTINGS["aliyun_sms"],
        SETTINGS["twilio_sms"],
    )
    assert forwarded["alert_telegram_chat"] == "@cards_alerts"


async def test_an_sms_secret_is_never_answered_even_if_notification_sent_one_back(
    edge: tuple[httpx.AsyncClient, Notification],
) -> None:
    client, notification = edge
    leaky = {**VIEW, "aliyun_sms": {**VIEW["aliyun_sms"], "access_key_secret": SECRETS[0]}}
    leaky["twilio_sms"] = {**VIEW["twilio_sms"], "auth_token": SECRETS[1]}
    notification.answer = httpx.Response(200, json=leaky)
    for answer in (
        await client.put(URL, json=SETTINGS, headers=signed_in("owner")),
        await client.get(URL, headers=signed_in("owner")),
    ):
        assert answer.status_code == 200 and answer.json() == VIEW
        assert not [secret for secret in SECRETS if secret in answer.text]


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


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aliyun_sms": {**SETTINGS["aliyun_sms"], "base_url": "http://10.0.0.1/"}}, "aliyun_sms.base_url"),
        ({"twilio_sms": {**SETTINGS["twilio_sms"], "base_url": "http://10.0.0.1/"}}, "twilio_sms.base_url"),
        ({"aliyun_sms": {**SETTINGS["aliyun_sms"], "sign_name": "【店】"}}, "aliyun_sms.sign_name"),
        ({"aliyun_sms": {**SETTINGS["aliyun_sms"], "templates": {"order_link": "SMS_1"}}}, "order_link"),
        ({"twilio_sms": {**SETTINGS["twilio_sms"], "account_sid": "AC1/../x"}}, "twilio_sms.account_sid"),
        ({"alert_telegram_chat": "not a chat"}, "alert_telegram_chat"),
    ],
)
async def test_a_malformed_sms_account_or_alert_chat_is_a_422_naming_the_field_notification_never_hears_of(
    edge: tuple[httpx.AsyncClient, Notification], change: dict[str, Any], field: str
) -> None:
    client, notification = edge
    refused = await client.put(URL, json={**SETTINGS, **change}, headers=signed_in("owner"))
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]
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


WORDED = "/api/admin/notification-templates/order_delivered/zh-CN"
WORDING = {"subject": "{{ order_no }} 到了", "body": "谢谢！\n[[goods]]\n"}


async def test_the_owner_words_an_email_for_the_shop_named_as_the_changer_audited_and_operators_may_not(
    edge: tuple[httpx.AsyncClient, Notification],
) -> None:
    client, notification = edge
    notification.answer = httpx.Response(200, json={"items": []})
    put = await client.put(WORDED, json=WORDING, headers=signed_in("owner"))
    assert put.status_code == 200, put.text
    [sent] = notification.calls
    assert (sent.method, sent.url.path, sent.headers["X-Shop-Id"]) == (
        "PUT",
        "/internal/shop-templates/order_delivered/zh-CN",
        str(SHOP.id),
    )
    assert json.loads(sent.content) == {**WORDING, "changed_by": "owner@cards.example"}
    assert [(a["action"], a["outcome"]) for a in notification.audits] == [("put_notification_template", 200)]

    refusal = {"error": "template_refused", "message": "body: unknown placeholder keys (allowed: order_no)"}
    notification.answer = httpx.Response(422, json=refusal)
    refused = await client.put(WORDED, json={**WORDING, "body": "{{ keys }}"}, headers=signed_in("owner"))
    assert refused.status_code == 422 and "unknown placeholder keys" in refused.json()["message"]
    for method, path, body in (
        ("GET", "/api/admin/notification-templates", None),
        ("PUT", WORDED, WORDING),
        ("POST", f"{WORDED}/preview", WORDING),
        ("DELETE", WORDED, None),
    ):
        denied = await client.request(method, path, json=body, headers=signed_in("operator"))
        assert denied.status_code == 403, (method, path, denied.text)
    assert len(notification.calls) == 2  # the operator's asked nothing of notification
    malformed = await client.put(WORDED, json={"subject": "x"}, headers=signed_in("owner"))
    assert malformed.status_code == 422 and "body" in malformed.text
