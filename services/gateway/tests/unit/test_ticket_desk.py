"""The ticket desk at the edge, over ASGI with an in-memory delivery service: the shop's queue filters reach
delivery for the request's shop; an answer by the platform's staff in a shop they are no member of is the
platform's, a member's is the shop's; read-only roles get 403 on every write (support answers and keeps
canned replies but does not set the shop's timers); the platform's L3 queue and timers are the platform
staff's only, read across shops (no X-Shop-Id); canned replies are audited and a malformed one is a 422
naming the field that delivery never hears of."""

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
TICKET = str(uuid.uuid4())
THREAD = {"ticket_id": TICKET, "level": "L3", "status": "answered", "messages": []}


def person(role: str | None, platform: str | None = None) -> Principal:
    return Principal(
        kind="person",
        id=uuid.uuid4(),
        label=f"{role or platform}@cards.example",
        platform_roles=frozenset({platform}) if platform else frozenset(),  # type: ignore[arg-type]
        memberships={SHOP.id: role} if role else {},  # type: ignore[dict-item]
        second_factor_at=datetime.now(UTC),
        session_id=uuid.uuid4(),
    )


OWNERS = ("order", "inventory", "delivery", "merchant", "notification")
PEOPLE = {
    "owner": person("owner"),
    "support": person("support"),
    "viewer": person("viewer"),
    "staff": person(None, "support"),
    "admin": person(None, "admin"),
}


@dataclass
class Delivery:
    """Delivery's internal API (and merchant's audit trail): keeps every request, answers a thread."""

    calls: list[httpx.Request] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/audit-entries":
            self.audit.append(json.loads(request.content))
            return httpx.Response(201, json={})
        self.calls.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(201 if request.method == "POST" else 200, json={**THREAD, "items": []})


class FakeOwner(InternalClient):
    def __init__(self, handler: Any) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(base_url="http://owner.test", transport=httpx.MockTransport(handler))


@pytest.fixture
async def edge() -> AsyncIterator[tuple[httpx.AsyncClient, Delivery]]:
    delivery = Delivery()
    gateway: Gateway = build_gateway(
        Settings(lookup_limit_storage_url="memory://", kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}"),
        **{
            role: FakeOwner(delivery)
            for role in ("order", "inventory", "delivery", "merchant", "notification")
        },
        shops=KnownShops([SHOP]),
        principals=KnownPrincipals(PEOPLE),
    )
    transport = httpx.ASGITransport(app=edge_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client, delivery
    await gateway.aclose()


def signed_in(secret: str, shop: bool = True) -> dict[str, str]:
    headers = {"Cookie": f"faka_session={secret}; faka_csrf=c", "X-CSRF-Token": "c"}
    return {**headers, "X-Shop-Id": str(SHOP.id)} if shop else headers


async def test_the_shops_queue_filters_reach_delivery_for_the_requests_shop(
    edge: tuple[httpx.AsyncClient, Delivery],
) -> None:
    client, delivery = edge
    listed = await client.get(
        "/api/admin/tickets?level=L3&category=key_invalid&overdue=true&status=open&status=answered",
        headers=signed_in("viewer"),
    )

    assert listed.status_code == 200, listed.text
    [sent] = delivery.calls
    assert sent.url.path == "/internal/tickets" and sent.headers["X-Shop-Id"] == str(SHOP.id)
    assert sent.url.params.get_list("status") == ["open", "answered"]
    assert (sent.url.params["level"], sent.url.params["category"], sent.url.params["overdue"]) == (
        "L3", "key_invalid", "true",
    )  # fmt: skip
    bad = await client.get("/api/admin/tickets?level=L4", headers=signed_in("viewer"))
    assert bad.status_code == 422 and "level" in bad.json()["message"]


@pytest.mark.parametrize(("who", "by"), [("support", "shop"), ("owner", "shop"), ("staff", "platform")])
async def test_an_answer_is_the_platforms_when_its_staff_answer_in_a_shop_they_are_no_member_of(
    edge: tuple[httpx.AsyncClient, Delivery], who: str, by: str
) -> None:
    client, delivery = edge
    answered = await client.post(
        f"/api/admin/tickets/{TICKET}/replies", json={"message": "Refund granted"}, headers=signed_in(who)
    )

    assert answered.status_code == 200, answered.text
    [sent] = delivery.calls
    assert json.loads(sent.content) == {
        "author": f"{PEOPLE[who].label}", "message": "Refund granted", "resolve": False, "by": by,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"/api/admin/tickets/{TICKET}/replies", {"message": "Hi"}),
        ("POST", f"/api/admin/tickets/{TICKET}/escalation", {"message": "A dispute"}),
        ("POST", "/api/admin/canned-replies", {"language": "en", "title": "Hi", "message": "Hello"}),
        ("PUT", f"/api/admin/canned-replies/{TICKET}", {"language": "en", "title": "Hi", "message": "Hello"}),
        ("DELETE", f"/api/admin/canned-replies/{TICKET}", None),
        ("PUT", "/api/admin/ticket-sla", {"first_response_minutes": 60}),
    ],
)
async def test_a_read_only_role_is_refused_every_write_before_delivery_hears_of_it(
    edge: tuple[httpx.AsyncClient, Delivery], method: str, path: str, body: dict[str, Any] | None
) -> None:
    client, delivery = edge
    refused = await client.request(method, path, json=body, headers=signed_in("viewer"))
    assert refused.status_code == 403, refused.text
    assert delivery.calls == []


async def test_support_keeps_canned_replies_audited_but_does_not_set_the_shops_timers(
    edge: tuple[httpx.AsyncClient, Delivery],
) -> None:
    client, delivery = edge
    added = await client.post(
        "/api/admin/canned-replies",
        json={"language": "zh-CN", "title": "兑换", "message": "打开 Steam，点击兑换。"},
        headers=signed_in("support"),
    )
    timers = await client.put(
        "/api/admin/ticket-sla", json={"first_response_minutes": 600}, headers=signed_in("support")
    )
    owner_timers = await client.put(
        "/api/admin/ticket-sla", json={"first_response_minutes": 600}, headers=signed_in("owner")
    )

    assert (added.status_code, timers.status_code, owner_timers.status_code) == (201, 403, 200)
    canned, sla = delivery.calls
    assert json.loads(canned.content)["updated_by"] == PEOPLE["support"].label
    assert json.loads(sla.content)["updated_by"] == PEOPLE["owner"].label
    entries = [(e["summary"].split(":")[0], e["outcome"], e["shop_id"]) for e in delivery.audit]
    assert ("POST /api/admin/canned-replies", 201, str(SHOP.id)) in entries
    assert ("PUT /api/admin/ticket-sla", 403, str(SHOP.id)) in entries


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "fr", "title": "Hi", "message": "Hello"}, "language"),
        ({"language": "en", "title": "", "message": "Hello"}, "title"),
        ({"language": "en", "title": "Hi", "message": " "}, "message"),
        ({"language": "en", "title": "Hi", "message": "Hello", "updated_by": "someone"}, "updated_by"),
    ],
)
async def test_a_malformed_canned_reply_is_a_422_naming_the_field(
    edge: tuple[httpx.AsyncClient, Delivery], body: dict[str, Any], field: str
) -> None:
    client, delivery = edge
    refused = await client.post("/api/admin/canned-replies", json=body, headers=signed_in("owner"))
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]
    assert delivery.calls == []


async def test_the_platform_queue_is_the_platform_staffs_across_shops(
    edge: tuple[httpx.AsyncClient, Delivery],
) -> None:
    client, delivery = edge
    as_owner = await client.get("/api/platform/tickets", headers=signed_in("owner", shop=False))
    as_staff = await client.get("/api/platform/tickets?overdue=true", headers=signed_in("staff", shop=False))

    assert (as_owner.status_code, as_staff.status_code) == (403, 200)
    [sent] = delivery.calls
    assert sent.url.path == "/internal/platform/tickets" and "X-Shop-Id" not in sent.headers
    assert sent.url.params["overdue"] == "true"


async def test_only_a_platform_admin_sets_the_platforms_timers(
    edge: tuple[httpx.AsyncClient, Delivery],
) -> None:
    client, delivery = edge
    timers = {"first_response_minutes": 120, "resolution_minutes": 1440}
    as_staff = await client.put(
        "/api/platform/ticket-sla", json=timers, headers=signed_in("staff", shop=False)
    )
    as_admin = await client.put(
        "/api/platform/ticket-sla", json=timers, headers=signed_in("admin", shop=False)
    )

    assert (as_staff.status_code, as_admin.status_code) == (403, 200)
    [sent] = delivery.calls
    assert json.loads(sent.content) == {**timers, "updated_by": PEOPLE["admin"].label}
