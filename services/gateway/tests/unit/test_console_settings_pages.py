"""The console's settings, catalog and platform pages at the gateway, with the owners as fakes: the platform
pages open to platform staff only (a shop's owner gets the 403 page and no navigation to them); each
settings tab asks for its own permission and shows write actions only to whom may use them; a page without
a session goes to sign-in; in zh-CN the pages' own words are Chinese; the platform's figures are the order
service's figures over every shop (no X-Shop-Id), for platform staff only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from gateway.domain.access import Principal
from gateway.entrypoints.i18n import catalog

from .test_console_pages import CARDS, as_person, console_of, person

STAFF = Principal(
    kind="person",
    id=uuid.uuid4(),
    label="staff@platform.example",
    platform_roles=frozenset({"admin"}),
    second_factor_at=datetime.now(UTC),
    session_id=uuid.uuid4(),
)
PEOPLE = {
    "owner": person({CARDS: "owner"}),
    "viewer": person({CARDS: "viewer"}),
    "operator": person({CARDS: "operator"}),
    "staff": STAFF,
}
SETTINGS = {
    "/console/settings/members": "people:read",
    "/console/settings/api-tokens": "people:read",
    "/console/settings/audit": "audit:read",
    "/console/settings/payments": "payments:read",
    "/console/settings/notifications": "notifications:read",
    "/console/settings/suppliers": "delivery:read",
    "/console/catalog/categories": "catalog:read",
    "/console/catalog/coupons": "pricing:read",
}
PLATFORM = ("/console/platform/shops", "/console/platform/figures", "/console/platform/audit")
FIGURES = {
    "time_zone": "UTC",
    "first": "2026-12-01",
    "last": "2026-12-01",
    "days": [{"day": "2026-12-01", "orders": 3, "paid_orders": 2, "gmv": {"CNY": 1250}}],
    "totals": {"orders": 3, "paid_orders": 2, "gmv": {"CNY": 1250}},
    "by_status": {"paid": 2, "awaiting_payment": 1},
    "delivery_latency": {"delivered": 2, "p50_seconds": 1.0, "p95_seconds": 2.0},
    "hot_products": [],
    "refunds": [],
}


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, list[httpx.Request]]]:
    calls: list[httpx.Request] = []

    def owners(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/internal/platform-figures":
            return httpx.Response(200, json=FIGURES)
        return httpx.Response(404, json={"error": "not_found", "message": "nothing here"})

    async with console_of(owners, PEOPLE) as client:
        yield client, calls


async def test_the_platform_pages_open_to_platform_staff_only(
    console: tuple[httpx.AsyncClient, list[httpx.Request]],
) -> None:
    client, _ = console
    for path in PLATFORM:
        staff = await client.get(path, headers=as_person("staff"))
        owner = await client.get(path, headers=as_person("owner"))
        assert staff.status_code == 200, (path, staff.text)
        assert 'href="console/platform/shops"' in staff.text
        assert owner.status_code == 403 and "Only the platform's staff can open this page." in owner.text
        assert 'href="console/platform/shops"' not in owner.text
    shops = await client.get("/console/platform/shops", headers=as_person("staff"))
    assert 'data-can-write="yes"' in shops.text and 'id="new-shop"' in shops.text
    figures = await client.get("/console/platform/figures", headers=as_person("staff"))
    assert 'data-source="/api/platform/figures"' in figures.text and 'id="export-csv"' not in figures.text
    audit = await client.get("/console/platform/audit", headers=as_person("staff"))
    assert 'data-source="/api/platform/audit"' in audit.text and 'name="shop_id"' in audit.text


async def test_each_settings_tab_asks_for_its_own_permission_and_shows_writes_only_to_whom_may(
    console: tuple[httpx.AsyncClient, list[httpx.Request]],
) -> None:
    client, _ = console
    for path in SETTINGS:
        owner = await client.get(path, headers=as_person("owner"))
        assert owner.status_code == 200, (path, owner.text)
        assert 'data-can-write="yes"' in owner.text or "coupons" not in path
    viewer_opens = {
        path: (await client.get(path, headers=as_person("viewer"))).status_code for path in SETTINGS
    }
    assert viewer_opens == {
        path: 200 if permission in ("delivery:read", "catalog:read", "pricing:read") else 403
        for path, permission in SETTINGS.items()
    }
    for path in ("/console/settings/suppliers", "/console/catalog/categories", "/console/catalog/coupons"):
        read_only = await client.get(path, headers=as_person("viewer"))
        assert 'data-can-write="no"' in read_only.text or 'id="new-category"' not in read_only.text, path
        assert 'id="new-category"' not in read_only.text and 'id="new-coupon"' not in read_only.text
    settings = await client.get("/console/settings", headers=as_person("viewer"))
    assert 'href="console/settings/suppliers"' in settings.text
    assert 'href="console/settings/members"' not in settings.text
    members = await client.get("/console/settings/members", headers=as_person("owner"))
    assert 'id="invite"' in members.text and 'data-can-write="yes"' in members.text


async def test_a_settings_or_platform_page_without_a_session_goes_to_sign_in(
    console: tuple[httpx.AsyncClient, list[httpx.Request]],
) -> None:
    client, _ = console
    for path in (*SETTINGS, *PLATFORM, "/console/settings"):
        for headers in ({}, as_person("expired-session")):
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 303, (path, answer.text)
            assert urlsplit(answer.headers["location"]).path == "/console/sign-in"


async def test_the_settings_and_platform_pages_in_chinese_have_no_english_msgid_left(
    console: tuple[httpx.AsyncClient, list[httpx.Request]],
) -> None:
    client, _ = console
    chinese = catalog("zh-CN")
    assert chinese is not None
    english = [str(m.id) for m in chinese if m.id and m.string != m.id and str(m.id)[:1].isupper()]
    for path, who in [*((p, "owner") for p in SETTINGS), *((p, "staff") for p in PLATFORM)]:
        answer = await client.get(path, headers=as_person(who, **{"Accept-Language": "zh-CN"}))
        assert answer.status_code == 200 and '<html lang="zh-CN">' in answer.text, path
        page = answer.text.split('<script type="application/json"')[0]
        shown = [msgid for msgid in english if f">{msgid}<" in page]
        assert shown == [], (path, shown)


async def test_the_platforms_figures_are_every_shops_for_platform_staff_only(
    console: tuple[httpx.AsyncClient, list[httpx.Request]],
) -> None:
    client, calls = console
    found = await client.get("/api/platform/figures?days=1", headers=as_person("staff"))
    assert found.status_code == 200, found.text
    assert found.json()["totals"] == FIGURES["totals"] and found.json()["today"] == FIGURES["days"][0]
    [asked] = [c for c in calls if c.url.path == "/internal/platform-figures"]
    assert "x-shop-id" not in asked.headers and asked.url.params["tz"] == "UTC"
    refused = await client.get(
        "/api/platform/figures", headers=as_person("owner", **{"X-Shop-Id": str(CARDS.id)})
    )
    assert refused.status_code == 403


async def test_sign_in_offers_the_forgotten_password_page_which_asks_for_the_address_in_either_language(
    console: tuple[httpx.AsyncClient, list[httpx.Request]],
) -> None:
    client, _ = console
    sign_in = await client.get("/console/sign-in")
    assert 'href="console/forgot-password"' in sign_in.text
    english = await client.get("/console/forgot-password", headers={"Accept-Language": "en"})
    assert english.status_code == 200 and 'id="forgot"' in english.text and 'name="email"' in english.text
    chinese = await client.get("/console/forgot-password", headers={"Accept-Language": "zh-CN"})
    assert "忘记密码？" in chinese.text and ">Forgot your password?<" not in chinese.text
