"""The seller console's pages and its order routes at the gateway, with the owners as fakes: a page without a
good session goes to sign-in; navigation and actions follow the role; the shop switcher; zh-CN; the order
search passes its filters on; an order's timeline merges the order's history with its delivery's attempts;
the link is e-mailed again to the order's own address."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from gateway.adapters.principals import KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.domain.access import Principal
from gateway.domain.shops import Shop
from gateway.entrypoints.i18n import catalog
from gateway.entrypoints.routers import edge_app

from .test_gateway_http import FakeOwner

CARDS = Shop(uuid.uuid4(), "cards", "Cards", "active")
GAMES = Shop(uuid.uuid4(), "games", "Games", "active")
ORDER_ID = str(uuid.uuid4())
HISTORY = {
    "order": {"order_id": ORDER_ID, "order_no": "N1", "status": "paid", "buyer_email": "Buyer@Example.com"},
    "transitions": [
        {"from_state": None, "to_state": "pending_risk", "trigger": "place", "at": "2026-12-01T10:00:00Z"},
        {"from_state": "awaiting_payment", "to_state": "paid", "trigger": "pay",
         "at": "2026-12-01T10:02:00Z"},
    ],
    "payments": [{"provider": "sandbox", "trade_no": "T1", "amount": 100, "currency": "CNY",
                  "received_at": "2026-12-01T10:02:00Z", "collected_by": "platform"}],
    "payment_exceptions": [],
    "refunds": [],
    "releases": [{"held_for": "payer_account_blocked", "reason": "known buyer",
                  "released_by": "o@cards.example", "released_at": "2026-12-01T10:04:00Z"}],
}  # fmt: skip
DELIVERY = {
    "status": "delivered",
    "mode": "manual",
    "attempt_log": [{"channel": "manual", "outcome": "delivered", "started_at": "2026-12-01T10:05:00Z"}],
}


def person(memberships: dict[Shop, str]) -> Principal:
    return Principal(
        kind="person",
        id=uuid.uuid4(),
        label="someone@cards.example",
        memberships={shop.id: role for shop, role in memberships.items()},  # type: ignore[misc]
        second_factor_at=datetime.now(UTC),
        session_id=uuid.uuid4(),
    )


PEOPLE = {
    "owner": person({CARDS: "owner"}),
    "support": person({CARDS: "support"}),
    "both": person({CARDS: "owner", GAMES: "viewer"}),
    "nobody": person({}),
    "unenrolled": replace(person({CARDS: "owner"}), totp_enrolment_required=True),
}


@dataclass
class Owners:
    """The order and delivery services: the history and delivery above, every request kept."""

    delivered: bool = True
    calls: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        if path == "/internal/orders":
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        if path == "/internal/orders/N1/history":
            return httpx.Response(200, json=HISTORY)
        if path == f"/internal/deliveries/{ORDER_ID}":
            if self.delivered:
                return httpx.Response(200, json=DELIVERY)
            return httpx.Response(404, json={"error": "not_found", "message": "no delivery"})
        if path == "/internal/orders/N1/link-emails":
            return httpx.Response(202, json={"status": "accepted"})
        if path == "/internal/orders/N1/releases":
            released = {"order_no": "N1", "order_status": "paid", "status_reason": "released_for_delivery"}
            return httpx.Response(201, json=released)
        return httpx.Response(404, json={"error": "not_found", "message": f"nothing at {path}"})


@asynccontextmanager
async def console_of(
    owners: Callable[[httpx.Request], httpx.Response],
    people: dict[str, Principal],
    shops: list[Shop] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's app with `owners` answering for every owner, `people` as the known sessions and `shops`
    (default: CARDS and GAMES)."""
    gateway: Gateway = build_gateway(
        Settings(lookup_limit_storage_url="memory://", kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}"),
        **{role: FakeOwner(owners) for role in ("order", "inventory", "delivery", "merchant")},
        shops=KnownShops(shops or [CARDS, GAMES]),
        principals=KnownPrincipals(people),
    )
    transport = httpx.ASGITransport(app=edge_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client
    await gateway.aclose()


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, Owners]]:
    owners = Owners()
    async with console_of(owners, PEOPLE) as client:
        yield client, owners


PAGES = ("/console/orders?q=a%40b.c", "/console/orders/N1", "/console/manual-queue", "/console/keys")


def as_person(secret: str, **headers: str) -> dict[str, str]:
    cookies = {"Cookie": f"faka_session={secret}; faka_csrf=c", "X-CSRF-Token": "c"}
    return {**cookies, "Accept-Language": "en", **headers}


def in_cards(secret: str) -> dict[str, str]:
    return as_person(secret, **{"X-Shop-Id": str(CARDS.id)})


async def test_a_console_page_without_a_session_or_with_one_merchant_no_longer_knows_goes_to_sign_in(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    for headers in ({}, as_person("expired-session")):
        for path in (
            "/console/orders?q=a%40b.c",
            "/console/orders/N1",
            "/console/manual-queue",
            "/console/keys",
        ):
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 303, (path, answer.text)
            target = urlsplit(answer.headers["location"])
            assert target.path == "/console/sign-in"
            assert parse_qs(target.query)["next"] == [path]
    sign_in = await client.get("/console/sign-in?next=/console/orders")
    assert sign_in.status_code == 200 and 'id="sign-in"' in sign_in.text
    assert 'data-next="/console/orders"' in sign_in.text


async def test_sign_in_sends_the_person_back_only_to_a_console_page(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    for wanted in ("https://evil.example/", "//evil.example/console/", "/api/admin/orders"):
        answer = await client.get("/console/sign-in", params={"next": wanted})
        assert 'data-next="/console/"' in answer.text, wanted  # the dashboard


async def test_navigation_and_actions_follow_the_role_and_a_support_member_has_no_key_export(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    owner = await client.get("/console/orders/N1", headers=as_person("owner"))
    support = await client.get("/console/orders/N1", headers=as_person("support"))
    assert owner.status_code == support.status_code == 200
    assert 'href="console/keys"' in owner.text and 'id="refund"' in owner.text
    assert 'href="console/manual-queue"' in support.text
    assert 'href="console/keys"' not in support.text
    assert 'id="refund"' not in support.text and 'id="rotate"' not in support.text
    assert f'data-shop="{CARDS.id}"' in support.text
    refused = await client.get("/console/keys", headers=as_person("support"))
    assert refused.status_code == 403 and "cannot open this page" in refused.text
    queue = await client.get("/console/manual-queue", headers=as_person("support"))
    assert 'data-can-work="no"' in queue.text
    nobody = await client.get("/console/orders", headers=as_person("nobody"))
    assert nobody.status_code == 403 and "not a member of any shop" in nobody.text


async def test_a_person_of_two_shops_switches_between_them_and_cannot_pick_another(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    first = await client.get("/console/orders", headers=as_person("both"))
    assert f'data-shop="{CARDS.id}"' in first.text and 'name="shop"' in first.text
    assert ">Cards</option>" in first.text and ">Games</option>" in first.text
    switched = await client.get(f"/console/orders?shop={GAMES.id}", headers=as_person("both"))
    assert f'data-shop="{GAMES.id}"' in switched.text
    assert switched.cookies.get("faka_console_shop") == str(GAMES.id)
    kept = await client.get(
        "/console/orders",
        headers=as_person("both", Cookie=f"faka_session=both; faka_console_shop={GAMES.id}"),
    )
    assert f'data-shop="{GAMES.id}"' in kept.text
    not_theirs = await client.get(f"/console/orders?shop={GAMES.id}", headers=as_person("owner"))
    assert f'data-shop="{CARDS.id}"' in not_theirs.text and 'name="shop"' not in not_theirs.text


async def test_the_console_in_chinese_has_no_english_msgid_left(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    chinese = catalog("zh-CN")
    assert chinese is not None
    english = [str(m.id) for m in chinese if m.id and m.string != m.id and str(m.id)[:1].isupper()]
    shown_pages = ("/console/sign-in", "/console/orders", "/console/orders/N1", "/console/manual-queue")
    for path in (
        *shown_pages,
        "/console/setup?token=abc",
        "/console/verify-email?token=abc",
        "/console/totp",
    ):
        answer = await client.get(path, headers=as_person("owner", **{"Accept-Language": "zh-CN"}))
        assert '<html lang="zh-CN">' in answer.text, path
        page = answer.text.split('<script type="application/json" id="console-strings">')[0]
        page += answer.text.split("</script>", 1)[1]
        shown = [msgid for msgid in english if f">{msgid}<" in page]
        assert shown == [], (path, shown)
    strings = json.loads(answer.text.split('id="console-strings">')[1].split("</script>")[0])
    assert strings["status_paid"] == chinese.get("Paid, delivering").string  # type: ignore[union-attr]


async def test_the_order_search_passes_its_filters_on_and_refuses_a_time_without_a_zone_at_the_edge(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    params = {"q": "Buyer@Example.com", "status": ["paid", "delivered"], "from": "2026-12-01T00:00:00+08:00",
              "after": "abc", "limit": "20"}  # fmt: skip
    found = await client.get("/api/admin/orders", params=params, headers=in_cards("support"))
    assert found.status_code == 200, found.text
    [sent] = [c for c in owners.calls if c.url.path == "/internal/orders"]
    asked = parse_qs(sent.url.query.decode())
    assert asked["q"] == ["Buyer@Example.com"] and asked["status"] == ["paid", "delivered"]
    assert asked["from"] == ["2026-12-01T00:00:00+08:00"] and asked["limit"] == ["20"]
    assert sent.headers["x-shop-id"] == str(CARDS.id)
    bad = await client.get("/api/admin/orders", params={"status": "Paid!"}, headers=in_cards("support"))
    assert bad.status_code == 422 and "status" in bad.text


async def test_an_orders_timeline_merges_its_history_with_its_deliverys_attempts_in_time_order(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    answer = await client.get("/api/admin/orders/N1", headers=in_cards("support"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["delivery"]["status"] == "delivered"
    steps = [(e["kind"], e["cause"]) for e in body["timeline"]]
    assert steps == [("transition", "buyer"), ("transition", "payment"), ("payment", "payment"),
                     ("release", "release"), ("delivery_attempt", "delivery")]  # fmt: skip
    assert answer.headers["cache-control"] == "no-store"
    owners.delivered = False
    undelivered = (await client.get("/api/admin/orders/N1", headers=in_cards("support"))).json()
    assert undelivered["delivery"] is None and len(undelivered["timeline"]) == 4


async def test_the_link_is_e_mailed_again_to_the_orders_own_address_and_support_may_not(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    refused = await client.post("/api/admin/orders/N1/link-emails", headers=in_cards("support"))
    assert refused.status_code == 403, refused.text
    resent = await client.post("/api/admin/orders/N1/link-emails", headers=in_cards("owner"))
    assert resent.status_code == 202, resent.text
    [sent] = [c for c in owners.calls if c.url.path.endswith("/link-emails")]
    assert json.loads(sent.content) == {"email": "Buyer@Example.com"}
    assert sent.headers["x-shop-id"] == str(CARDS.id)


async def test_a_held_order_is_released_by_an_owner_with_a_reason_and_who_and_support_may_not(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    path = "/api/admin/orders/N1/releases"
    refused = await client.post(path, json={"reason": "known buyer"}, headers=in_cards("support"))
    assert refused.status_code == 403, refused.text
    for body in ({"reason": "  "}, {}, {"reason": "ok", "by": "someone else"}):
        bad = await client.post(path, json=body, headers=in_cards("owner"))
        assert bad.status_code == 422 and ("reason" in bad.text or "by" in bad.text), bad.text
    assert not [c for c in owners.calls if c.url.path.endswith("/releases")]
    released = await client.post(path, json={"reason": "known buyer"}, headers=in_cards("owner"))
    assert released.status_code == 201, released.text
    assert released.json()["status_reason"] == "released_for_delivery"
    [sent] = [c for c in owners.calls if c.url.path.endswith("/releases")]
    assert json.loads(sent.content) == {"reason": "known buyer", "by": PEOPLE["owner"].label}
    assert sent.headers["x-shop-id"] == str(CARDS.id)
    page = await client.get("/console/orders/N1", headers=as_person("owner"))
    assert 'id="release"' in page.text and "Release for delivery" in page.text
    support = await client.get("/console/orders/N1", headers=as_person("support"))
    assert 'id="release"' not in support.text


async def test_an_emailed_links_page_asks_before_using_it_and_a_link_without_its_token_says_so(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    english = {"Accept-Language": "en"}
    setup = await client.get("/console/setup?token=abc_DEF-123", headers=english)
    assert setup.status_code == 200 and 'data-purpose="account_setup"' in setup.text
    assert 'data-token="abc_DEF-123"' in setup.text and 'autocomplete="new-password"' in setup.text
    assert setup.headers["referrer-policy"] == "no-referrer"
    verify = await client.get("/console/verify-email?token=abc", headers=english)
    assert 'data-purpose="email_verification"' in verify.text and "new_password" not in verify.text
    reset = await client.get("/console/reset?token=abc", headers=english)
    assert 'data-purpose="password_reset"' in reset.text
    broken = await client.get("/console/setup?token=a%20b", headers=english)
    assert broken.status_code == 404 and "Open it from the e-mail" in broken.text
    assert owners.calls == []  # nothing was used by opening the pages


async def test_an_owner_without_totp_is_sent_to_set_it_up_before_any_other_page(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    for path in ("/console/orders", "/console/manual-queue"):
        answer = await client.get(path, headers=as_person("unenrolled"))
        assert answer.status_code == 303 and answer.headers["location"] == "/console/totp", path
    setup = await client.get("/console/totp", headers=as_person("unenrolled"))
    assert setup.status_code == 200 and 'data-page="totp"' in setup.text
    assert "needs a code from an authenticator app" in setup.text
    optional = await client.get("/console/totp", headers=as_person("owner"))
    assert optional.status_code == 200 and "needs a code" not in optional.text
    assert (await client.get("/console/totp")).status_code == 303
