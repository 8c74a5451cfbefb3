"""The console's dashboard and catalog pages at the gateway, with the owners as fakes: the dashboard asks the
order service for the shop's figures of the chosen days (UTC) and the inventory for low stock, only for a
person who may read the catalog; the daily series as CSV; a support member sees the products without any
write action and cannot open the pages that write; the pages in zh-CN."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
from gateway.domain.access import Principal
from gateway.domain.dashboard import daily_csv, fees_and_net, low_stock
from gateway.entrypoints.console_pages import SCRIPT_STRINGS
from gateway.entrypoints.i18n import catalog

from .test_console_pages import CARDS, GAMES, as_person, console_of, in_cards, person

PRODUCT_ID = str(uuid.uuid4())
TODAY = datetime.now(UTC).date().isoformat()
PRODUCTS = [
    {"product_id": PRODUCT_ID, "title": "Steam 100", "active": True, "low_stock_threshold": 10,
     "stock": {"available": 3, "reserved": 0, "sold": 7}},
    {"product_id": str(uuid.uuid4()), "title": "Plenty", "active": True, "low_stock_threshold": None,
     "stock": {"available": 500, "reserved": 0, "sold": 0}},
    {"product_id": str(uuid.uuid4()), "title": "Manual", "active": True, "low_stock_threshold": None,
     "stock": {"available": None, "reserved": 0, "sold": 2}},
]  # fmt: skip


def figures(first: str, last: str) -> dict[str, object]:
    day = {"day": last, "orders": 2, "paid_orders": 1, "gmv": {"CNY": 1250, "USD": 300}}
    return {"time_zone": "UTC", "first": first, "last": last, "days": [day],
            "totals": {"orders": 2, "paid_orders": 1, "gmv": {"CNY": 1250}}, "by_status": {"paid": 1},
            "delivery_latency": {"delivered": 1, "p50_seconds": 1.5, "p95_seconds": 1.5},
            "hot_products": [], "refunds": [],
            "gmv_by_shop": [{"shop_id": str(CARDS.id), "currency": "CNY", "amount": 1250}]}  # fmt: skip


SUPPLIER_ID = str(uuid.uuid4())
DELIVERIES = {
    "by_mode": [{"mode": "card_key", "deliveries": 10, "succeeded": 9, "failed": 0, "open": 1, "p50_ms": 80},
                {"mode": "recharge", "deliveries": 4, "succeeded": 1, "failed": 3, "open": 0, "p50_ms": 900}],
    "by_channel": [{"channel": "supplier", "attempts": 5, "succeeded": 1, "failed": 3},
                   {"channel": "operator", "attempts": 1, "succeeded": 0, "failed": 0}],
    "by_supplier": [{"supplier_id": SUPPLIER_ID, "name": "Upstream, Ltd", "attempts": 5, "succeeded": 1,
                     "failed": 3}],
}  # fmt: skip


class Owners:
    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.url.path == "/internal/shop-figures":
            asked = parse_qs(request.url.query.decode())
            return httpx.Response(200, json=figures(asked["first"][0], asked["last"][0]))
        if request.url.path == "/internal/delivery-figures":
            asked = parse_qs(request.url.query.decode())
            return httpx.Response(
                200, json={"first": asked["first"][0], "last": asked["last"][0], **DELIVERIES}
            )
        if request.url.path == "/internal/products":
            return httpx.Response(200, json={"items": PRODUCTS})
        return httpx.Response(404, json={"error": "not_found", "message": "nothing here"})

    def paths(self) -> list[str]:
        return [call.url.path for call in self.calls]


PEOPLE: dict[str, Principal] = {
    "owner": person({CARDS: "owner"}),
    "support": person({CARDS: "support"}),
    "operator": person({CARDS: "operator"}),
}


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, Owners]]:
    owners = Owners()
    async with console_of(owners, PEOPLE) as client:
        yield client, owners


async def test_the_dashboard_asks_for_the_shops_figures_of_the_chosen_days_up_to_today_in_utc(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    answer = await client.get("/api/admin/dashboard", params={"days": 30}, headers=in_cards("owner"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    [asked] = [c for c in owners.calls if c.url.path == "/internal/shop-figures"]
    sent = parse_qs(asked.url.query.decode())
    assert sent["last"] == [TODAY] and sent["tz"] == ["UTC"]
    first = datetime.fromisoformat(sent["first"][0]).date()
    assert (datetime.fromisoformat(TODAY).date() - first).days == 29
    assert asked.headers["x-shop-id"] == str(CARDS.id)
    assert body["today"] == body["days"][-1] and body["today"]["paid_orders"] == 1
    assert body["low_stock"] == [
        {"product_id": PRODUCT_ID, "title": "Steam 100", "available": 3, "threshold": 10}
    ]
    assert answer.headers["cache-control"] == "no-store"
    for days in (0, 91, "week"):
        refused = await client.get("/api/admin/dashboard", params={"days": days}, headers=in_cards("owner"))
        assert refused.status_code == 422 and "days" in refused.text, days


async def test_the_daily_csv_holds_a_row_a_day_with_a_gmv_column_per_currency_in_major_units(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    answer = await client.get(
        "/api/admin/dashboard/daily.csv", params={"days": 7}, headers=in_cards("support")
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'-{TODAY}.csv"' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows == [
        ["day", "orders", "paid_orders", "gmv_CNY", "gmv_USD"],
        [TODAY, "2", "1", "12.50", "3.00"],
    ]
    assert "/internal/products" not in owners.paths()  # the CSV needs no stock
    days = [{"day": "2026-12-01", "orders": 0, "paid_orders": 0, "gmv": {}},
            {"day": "2026-12-02", "orders": 1, "paid_orders": 1, "gmv": {"JPY": 500}}]  # fmt: skip
    assert daily_csv(days).splitlines() == ["day,orders,paid_orders,gmv_JPY", "2026-12-01,0,0,0",
                                            "2026-12-02,1,1,500"]  # fmt: skip


def test_fees_are_each_shops_paid_amounts_at_its_own_rate_rounded_half_up_and_net_is_what_is_left() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [
        {"shop_id": a, "currency": "CNY", "amount": 1250},  # 2.5 %: 31.25 -> 31
        {"shop_id": b, "currency": "CNY", "amount": 1020},  # 5 %: 51
        {"shop_id": b, "currency": "USD", "amount": 10},  # 5 %: 0.5 -> 1
    ]
    assert fees_and_net(rows, {a: 250, b: 500}) == {
        "fees": {"CNY": 82, "USD": 1},
        "net": {"CNY": 2270 - 82, "USD": 9},
    }
    assert fees_and_net([], {}) == {"fees": {}, "net": {}}


async def test_the_dashboard_shows_the_shops_fee_rate_fees_and_net_and_the_platform_sets_the_rate() -> None:
    owners = Owners()
    admin = replace(person({}), platform_roles=frozenset({"admin"}))
    people = {**PEOPLE, "admin": admin}
    with_rate = replace(CARDS, fee_rate_bps=250)
    async with console_of(owners, people, shops=[with_rate, GAMES]) as client:
        answer = await client.get("/api/admin/dashboard", params={"days": 7}, headers=in_cards("owner"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["fee_rate_bps"], body["fees"], body["net"]) == (250, {"CNY": 31}, {"CNY": 1219})

        path = f"/api/platform/shops/{CARDS.id}/fee-rate"
        for wrong in (-1, 10_001, "2.5%", None):
            sent = {"fee_rate_bps": wrong} if wrong is not None else {}
            refused = await client.put(path, json=sent, headers=as_person("admin"))
            assert refused.status_code == 422 and "fee_rate_bps" in refused.text, refused.text
        refused = await client.put(path, json={"fee_rate_bps": 100}, headers=as_person("owner"))
        assert refused.status_code == 403, refused.text
        assert not [c for c in owners.calls if c.url.path.endswith("/fee-rate")]
        await client.put(path, json={"fee_rate_bps": 100}, headers=as_person("admin"))
    [sent] = [c for c in owners.calls if c.method == "PUT"]
    assert sent.url.path == f"/internal/shops/{CARDS.id}/fee-rate"
    assert json.loads(sent.content) == {"fee_rate_bps": 100}


async def test_delivery_success_by_mode_channel_and_supplier_is_one_table_and_its_csv(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    answer = await client.get(
        "/api/admin/dashboard/deliveries", params={"days": 30}, headers=in_cards("support")
    )
    assert answer.status_code == 200, answer.text
    [asked] = [c for c in owners.calls if c.url.path == "/internal/delivery-figures"]
    assert parse_qs(asked.url.query.decode())["last"] == [TODAY] and asked.headers["x-shop-id"] == str(
        CARDS.id
    )
    assert [(r["group"], r["name"], r["total"], r["success_rate"]) for r in answer.json()["rows"]] == [
        ("mode", "card_key", 10, 1.0),
        ("mode", "recharge", 4, 0.25),
        ("channel", "supplier", 5, 0.25),
        ("channel", "operator", 1, None),  # nothing finished: no rate
        ("supplier", "Upstream, Ltd", 5, 0.25),
    ]
    exported = await client.get("/api/admin/dashboard/deliveries.csv", headers=in_cards("support"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["group", "name", "total", "succeeded", "failed", "success_rate"]
    assert rows[4] == ["channel", "operator", "1", "0", "0", ""]
    assert rows[5] == ["supplier", "Upstream, Ltd", "5", "1", "3", "0.25"]
    refused = await client.get(
        "/api/admin/dashboard/deliveries", params={"days": 0}, headers=in_cards("owner")
    )
    assert refused.status_code == 422 and "days" in refused.text


def test_low_stock_is_at_or_under_the_products_threshold_or_the_storefronts_and_never_unlimited_stock() -> (
    None
):
    products = [
        {"product_id": "a", "title": "A", "low_stock_threshold": 0, "stock": {"available": 0}},
        {"product_id": "b", "title": "B", "low_stock_threshold": None, "stock": {"available": 5}},
        {"product_id": "c", "title": "C", "low_stock_threshold": None, "stock": {"available": 6}},
        {"product_id": "d", "title": "D", "low_stock_threshold": 2, "stock": {"available": 3}},
        {"product_id": "e", "title": "E", "stock": {"available": None}},
        {"product_id": "f", "title": "F", "active": False, "stock": {"available": 0}},
    ]
    assert [(p["title"], p["available"]) for p in low_stock(products)] == [("A", 0), ("B", 5)]


async def test_the_dashboard_is_home_shows_every_section_the_role_opens_and_new_pages_need_a_session(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, owners = console
    home = await client.get("/console/", headers=as_person("owner"))
    assert home.status_code == 200 and 'data-page="dashboard"' in home.text
    for link in ("console/", "console/orders", "console/products", "console/keys"):
        assert f'href="{link}"' in home.text, link
    assert (await client.get("/console")).headers["location"] == "/console/"
    for path in (
        "/console/",
        "/console/products",
        "/console/products/new",
        f"/console/products/{PRODUCT_ID}/keys",
    ):
        for headers in ({}, as_person("expired-session")):
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 303, (path, answer.text)
            assert answer.headers["location"].startswith("/console/sign-in?next="), path
    assert owners.calls == []  # the page's figures come from its script


async def test_a_support_member_sees_the_products_without_write_actions_and_cannot_open_the_writing_pages(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    support = await client.get("/console/products", headers=as_person("support"))
    assert support.status_code == 200 and 'data-page="products"' in support.text
    assert 'data-can-edit="no"' in support.text and 'data-can-import="no"' in support.text
    assert "console/products/new" not in support.text
    for path in (
        "/console/products/new",
        f"/console/products/{PRODUCT_ID}",
        f"/console/products/{PRODUCT_ID}/keys",
    ):
        refused = await client.get(path, headers=as_person("support"))
        assert refused.status_code == 403 and "cannot open this page" in refused.text, path
    owner = await client.get("/console/products", headers=as_person("owner"))
    assert 'data-can-edit="yes"' in owner.text and 'href="console/products/new"' in owner.text
    operator = await client.get(f"/console/products/{PRODUCT_ID}/keys", headers=as_person("operator"))
    assert operator.status_code == 200 and f'data-product-id="{PRODUCT_ID}"' in operator.text
    assert (
        await client.get(f"/console/products/{PRODUCT_ID}", headers=as_person("operator"))
    ).status_code == 403
    edit = await client.get(f"/console/products/{PRODUCT_ID}", headers=as_person("owner"))
    assert edit.status_code == 200 and 'id="tiers"' in edit.text and 'name="active"' in edit.text
    new = await client.get("/console/products/new", headers=as_person("owner"))
    assert 'name="delivery_type"' in new.text and 'id="tiers"' not in new.text
    unknown = await client.get("/console/products/not-an-id", headers=as_person("owner"))
    assert unknown.status_code == 404


async def test_the_dashboard_and_catalog_pages_in_chinese_have_no_english_msgid_left(
    console: tuple[httpx.AsyncClient, Owners],
) -> None:
    client, _ = console
    chinese = catalog("zh-CN")
    assert chinese is not None
    english = [str(m.id) for m in chinese if m.id and m.string != m.id and str(m.id)[:1].isupper()]
    for path in ("/console/", "/console/products", "/console/products/new", f"/console/products/{PRODUCT_ID}",
                 f"/console/products/{PRODUCT_ID}/keys"):  # fmt: skip
        answer = await client.get(path, headers=as_person("owner", **{"Accept-Language": "zh-CN"}))
        assert answer.status_code == 200 and '<html lang="zh-CN">' in answer.text, path
        page = answer.text.split('<script type="application/json" id="console-strings">')[0]
        page += answer.text.split("</script>", 1)[1]
        shown = [msgid for msgid in english if f">{msgid}<" in page]
        assert shown == [], (path, shown)
    strings = json.loads(answer.text.split('id="console-strings">')[1].split("</script>")[0])
    summary = chinese.get(SCRIPT_STRINGS["report_summary"])
    assert summary is not None and strings["report_summary"] == summary.string


async def test_platform_figures_read_every_selling_shops_fee_rate_from_merchant_200_shops_a_call() -> None:
    others = sorted(str(uuid.uuid4()) for _ in range(250))
    gmv = [{"shop_id": str(CARDS.id), "currency": "CNY", "amount": 1250}]
    gmv += [{"shop_id": shop, "currency": "CNY", "amount": 100} for shop in others]
    rates_asked: list[list[str]] = []

    def owners(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/platform-figures":
            return httpx.Response(200, json={**figures(TODAY, TODAY), "gmv_by_shop": gmv})
        if request.url.path == "/internal/shops/fee-rates":
            asked = parse_qs(request.url.query.decode())["shop_id"]
            rates_asked.append(asked)
            items = [{"shop_id": s, "fee_rate_bps": 250 if s == str(CARDS.id) else None} for s in asked]
            return httpx.Response(200, json={"items": items})
        return httpx.Response(404, json={"error": "not_found", "message": f"no {request.url.path}"})

    admin = replace(person({}), platform_roles=frozenset({"admin"}))
    async with console_of(owners, {"admin": admin}) as client:
        answer = await client.get("/api/platform/figures", params={"days": 7}, headers=as_person("admin"))
    assert answer.status_code == 200, answer.text
    assert sorted(len(asked) for asked in rates_asked) == [51, 200]
    assert sorted(s for asked in rates_asked for s in asked) == sorted([str(CARDS.id), *others])
    # CARDS at 250 bp: 31 of 12.50; the others at the default (0)
    assert (answer.json()["fees"], answer.json()["net"]) == ({"CNY": 31}, {"CNY": 1250 + 25_000 - 31})
