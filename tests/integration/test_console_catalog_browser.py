"""The seller console's dashboard and catalog pages in a real headless Chromium (Debian's `chromium`, driven
by Playwright as the other browser tests) against the whole platform running as processes.

A seller sees today's paid order on the dashboard after a sale and exports the daily CSV holding that day's
row; creates a product (a server's field error next to its field, then saved) with wholesale tiers; imports 5
keys by paste with one duplicate and one blank line, watches the upload's progress and reads the per-line
report while the stock grows by 4; a support member sees the products without any write action, the writing
pages answer 403 and so does the API; axe-core finds no serious or critical violation on the dashboard and
catalog pages; in zh-CN the pages show no English msgid. On a failure, a screenshot of every open page is kept
under $FAKA_ARTIFACTS (default .state/artifacts)/browser/console-<test>-<page>.png."""

from __future__ import annotations

import csv
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .e2e_platform import ConsolePerson, Platform
from .test_console_browser import SHOP, console, member, paid_manual_order, platform, seller, show_no_english
from .test_console_settings_browser import stepped_up_if_asked
from .test_storefront_browser import browser, no_serious_axe_violations

# module-scoped fixtures: the storefront tests' Chromium, the console tests' platform and owner
__all__ = ["browser", "platform", "seller"]

pytestmark = pytest.mark.integration

REFUSED = "Your role in this shop cannot open this page."


async def new_product(platform: Platform, title: str, **fields: Any) -> dict[str, Any]:
    async with platform.admin() as admin:
        created = await admin.post(
            "/api/admin/products",
            headers=SHOP,
            json={"title": title, "price": 1500, "currency": "CNY", **fields},
        )
    assert created.status_code == 201, created.text
    product: dict[str, Any] = created.json()
    return product


async def import_keys(platform: Platform, product: dict[str, Any], keys: list[str]) -> None:
    async with platform.admin() as admin:
        imported = await admin.post(
            f"/api/admin/products/{product['product_id']}/keys",
            content="\n".join(keys).encode(),
            headers={**SHOP, "Content-Type": "text/plain"},
        )
    assert imported.status_code == 200, imported.text


async def todays_paid_orders(seller: ConsolePerson) -> int:
    async with seller.client() as api:
        answer = await api.get("/api/admin/dashboard", params={"days": 7}, headers=SHOP)
    assert answer.status_code == 200, answer.text
    paid: int = answer.json()["today"]["paid_orders"]
    return paid


def product_row(page: Page, title: str) -> Any:
    return page.locator("#product-list tbody tr").filter(has=page.get_by_role("rowheader", name=title))


async def test_a_seller_sees_todays_paid_order_on_the_dashboard_and_exports_the_days_csv(
    platform: Platform, browser: Browser, seller: ConsolePerson, tmp_path: Path
) -> None:
    product = await new_product(platform, "Gold 500", delivery_type="manual")
    before = await todays_paid_orders(seller)
    await paid_manual_order(platform, product["product_id"], f"dash-{uuid.uuid4().hex[:6]}@example.com")
    today = datetime.now(UTC).date().isoformat()
    async with console(browser, platform, "dashboard", person=seller) as context:
        page = await context.new_page()
        await page.goto("/console/")
        await expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
        await expect(page.locator('[data-figure="today-paid"]')).to_have_text(str(before + 1))
        await expect(page.locator('[data-figure="today-gmv"]')).not_to_be_empty()
        day = page.locator(f'#days tbody tr[data-day="{today}"]')
        await expect(day.locator("td").nth(1)).to_have_text(str(before + 1))
        await expect(page.locator("#hot-products")).to_contain_text("Gold 500")
        await expect(page.locator("#chart svg rect")).to_have_count(7)
        await expect(page.locator("#dashboard")).to_have_attribute("aria-busy", "false")
        await no_serious_axe_violations(page)

        await page.get_by_label("Period", exact=True).select_option("30")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#days tbody tr")).to_have_count(30)
        await expect(page).to_have_url(re.compile(r"/console/\?days=30$"))

        await page.get_by_role("button", name="Export the daily figures (CSV)").click()
        link = page.locator("#action-result a")
        await expect(link).to_have_text(re.compile(rf"^daily-\d{{4}}-\d{{2}}-\d{{2}}-{today}\.csv$"))
        async with page.expect_download() as started:
            await link.click()
        saved = tmp_path / "daily.csv"
        await (await started.value).save_as(saved)
    rows = list(csv.DictReader(saved.read_text().splitlines()))
    assert len(rows) == 30
    [row] = [r for r in rows if r["day"] == today]
    assert int(row["paid_orders"]) == before + 1 and float(row["gmv_CNY"]) >= 15.00


async def test_the_dashboard_shows_delivery_success_by_mode_channel_and_supplier_and_exports_it(
    platform: Platform, browser: Browser, seller: ConsolePerson, tmp_path: Path
) -> None:
    product = await new_product(platform, "Silver 200", delivery_type="manual")
    await paid_manual_order(platform, product["product_id"], f"del-{uuid.uuid4().hex[:6]}@example.com")
    async with seller.client() as api:
        found = (await api.get("/api/admin/dashboard/deliveries", params={"days": 7}, headers=SHOP)).json()
    [manual] = [r for r in found["rows"] if (r["group"], r["name"]) == ("mode", "manual")]
    assert manual["total"] >= 1
    async with console(browser, platform, "deliveries", person=seller) as context:
        page = await context.new_page()
        await page.goto("/console/")
        table = page.locator("#deliveries tbody tr")
        await expect(table).to_have_count(len(found["rows"]))
        row = table.filter(has=page.get_by_role("rowheader", name="Mode: by hand", exact=True))
        await expect(row.locator("td").first).to_have_text(re.compile(r"^\d+$"))
        await expect(page.locator("#delivery-chart svg rect")).to_have_count(len(found["rows"]))
        await expect(page.locator("#delivery-chart svg")).to_have_attribute(
            "aria-label", re.compile("Mode: by hand")
        )
        await no_serious_axe_violations(page)
        await page.get_by_role("button", name="Export delivery success (CSV)").click()
        link = page.locator("#action-result a")
        await expect(link).to_have_text(re.compile(r"^deliveries-.*\.csv$"))
        async with page.expect_download() as started:
            await link.click()
        saved = tmp_path / "deliveries.csv"
        await (await started.value).save_as(saved)
    rows = list(csv.DictReader(saved.read_text().splitlines()))
    assert [(r["group"], r["name"]) for r in rows] == [(r["group"], r["name"]) for r in found["rows"]]


async def test_a_seller_creates_a_product_and_imports_pasted_keys_with_a_duplicate_and_a_blank_line(
    platform: Platform, browser: Browser, seller: ConsolePerson
) -> None:
    title = f"Steam {uuid.uuid4().hex[:4].upper()}"
    async with platform.admin() as admin:
        made = await admin.post("/api/admin/categories", headers=SHOP, json={"name": "Gift cards"})
        assert made.status_code == 201, made.text
    async with console(browser, platform, "catalog", person=seller) as context:
        page = await context.new_page()
        await page.goto("/console/products")
        await page.get_by_role("link", name="New product").click()
        await expect(page.get_by_role("heading", name="New product")).to_be_visible()
        await no_serious_axe_violations(page)
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#e-f-title")).to_have_text("Fill this in.")
        await page.get_by_label("Title").fill(title)
        await page.get_by_label("Price", exact=True).fill("12.5x")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#e-f-price")).to_have_text("Write an amount such as 12.50.")
        await page.get_by_label("Price", exact=True).fill("12.50")
        await page.get_by_label("Most units in one order").fill("0")
        await page.get_by_role("button", name="Save").click()  # the server refuses: next to the field
        await expect(page.locator("#e-f-max_per_order")).to_contain_text("greater than or equal to 1")
        await expect(page.get_by_label("Most units in one order")).to_have_attribute("aria-invalid", "true")
        await page.get_by_label("Most units in one order").fill("5")
        await page.get_by_label("Low-stock alert at").fill("3")
        await page.get_by_label("Category").select_option(label="Gift cards")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("heading", name="Edit the product")).to_be_visible()
        await expect(page.get_by_label("Title")).to_have_value(title)
        await expect(page.get_by_label("Category")).to_have_value(made.json()["category_id"])
        await expect(page.get_by_label("Price", exact=True)).to_have_value("12.50")
        await page.get_by_label("One tier a line: from how many units, then the unit price").fill("10 11.50")
        await page.get_by_role("button", name="Save the wholesale prices").click()
        await expect(page.locator("#action-result")).to_have_text("The wholesale prices are saved.")
        await no_serious_axe_violations(page)

        await page.get_by_role("link", name="Back to the products").click()
        row = product_row(page, title)
        await expect(row).to_contain_text("12.50")
        await expect(row.locator("td").nth(2)).to_have_text("0")
        await no_serious_axe_violations(page)
        await row.get_by_role("link", name=f"Import keys: {title}").click()
        await expect(page.locator("[data-stock]")).to_have_text("Keys in stock: 0")
        keys = [f"KEY-{uuid.uuid4().hex[:10].upper()}" for _ in range(4)]
        pasted = "\n".join([keys[0], keys[1], "", keys[2], keys[3], keys[0]])
        await page.get_by_label("Paste keys, one a line").fill(pasted)
        await page.get_by_role("button", name="Import").click()
        report = page.locator("#import-report")
        await expect(report.locator("[data-report-summary]")).to_have_text(
            "Accepted: 4. Duplicates: 1. Invalid: 0. Blank lines: 1."
        )
        await expect(report.locator("li")).to_have_text(
            ["Line 3: blank, skipped", "Line 6: duplicate of line 1"]
        )
        await expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
        await expect(page.locator("[data-stock]")).to_have_text("Keys in stock: 4")
        await no_serious_axe_violations(page)

        await page.get_by_label("Paste keys, one a line").fill(keys[1] + "\nBAD\u0007KEY\n")
        await page.get_by_role("button", name="Import").click()
        await expect(report.locator("[data-report-summary]")).to_have_text(
            "Accepted: 0. Duplicates: 1. Invalid: 1. Blank lines: 0."
        )
        await expect(report.locator("li")).to_have_text([re.compile(r"^Line 2: invalid \(.+\)$")])

        csv_keys = f"key,secret\r\nCSV-{uuid.uuid4().hex[:8]},pin-1\r\nCSV-{uuid.uuid4().hex[:8]},pin-2\r\n"
        upload = {"name": "keys.csv", "mimeType": "text/csv", "buffer": csv_keys.encode()}
        await page.get_by_label("Or upload a text or CSV file").set_input_files(upload)  # type: ignore[arg-type]
        await page.get_by_role("button", name="Import").click()
        await expect(report.locator("[data-report-summary]")).to_have_text(
            "Accepted: 2. Duplicates: 0. Invalid: 0. Blank lines: 0."
        )
        await expect(page.locator("[data-stock]")).to_have_text("Keys in stock: 6")
        await page.goto("/console/products")
        await expect(product_row(page, title).locator("td").nth(2)).to_have_text("6")


async def test_a_support_member_sees_no_catalog_write_action_and_the_api_refuses_them(
    platform: Platform, browser: Browser
) -> None:
    product = await new_product(platform, "Kestrel 77 card", delivery_type="card_key")
    support = await member(platform, "support")
    async with console(browser, platform, "support-catalog", person=support) as context:
        page = await context.new_page()
        await page.goto("/console/products")
        await expect(product_row(page, "Kestrel 77 card")).to_have_count(1)
        await expect(page.get_by_role("link", name="New product")).to_have_count(0)
        await expect(page.get_by_role("link", name=re.compile("^(Edit|Import keys):"))).to_have_count(0)
        await expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
        await no_serious_axe_violations(page)
        for path in ("/console/products/new", f"/console/products/{product['product_id']}/keys"):
            answer = await page.goto(path)
            assert answer is not None and answer.status == 403, path
            await expect(page.locator("main")).to_contain_text(
                "Your role in this shop cannot open this page."
            )
        await page.goto("/console/")
        await expect(page.locator('[data-figure="today-orders"]')).not_to_be_empty()
    async with support.client() as api:
        created = await api.post("/api/admin/products", headers=SHOP, json={"title": "No", "price": 100})
        assert created.status_code == 403 and created.json()["error"] == "not_allowed", created.text
        path = f"/api/admin/products/{product['product_id']}"
        edited = await api.patch(path, headers=SHOP, json={"title": "Renamed"})
        assert edited.status_code == 403, edited.text
        imported = await api.post(
            path + "/keys", headers={**SHOP, "Content-Type": "text/plain"}, content=b"SUPPORT-KEY"
        )
        assert imported.status_code == 403, imported.text


async def test_an_owner_voids_and_replaces_keys_by_fingerprint_and_exports_the_rest_which_is_audited(
    platform: Platform, browser: Browser, seller: ConsolePerson
) -> None:
    title = f"Pool {uuid.uuid4().hex[:4].upper()}"
    product = await new_product(platform, title, delivery_type="card_key")
    keys = [f"POOL-{uuid.uuid4().hex[:10].upper()}" for _ in range(3)]
    await import_keys(platform, product, keys)
    replacement = f"NEW-{uuid.uuid4().hex[:10].upper()}"
    async with console(browser, platform, "key-pool", person=seller) as context:
        page = await context.new_page()
        await page.goto("/console/keys")
        row = page.locator("#pools tbody tr").filter(has=page.get_by_role("rowheader", name=title))
        await expect(row.locator("td").first).to_have_text("3")
        await no_serious_axe_violations(page)
        await row.get_by_role("link", name=f"Keys: {title}").click()
        await expect(page.get_by_role("heading", name=title)).to_be_visible()
        rows = page.locator("#pool tbody tr")
        await expect(rows).to_have_count(3)
        shown = await page.content()
        assert not any(key in shown for key in keys), "a list shows no key"
        await no_serious_axe_violations(page)

        fingerprint = await rows.first.get_by_role("rowheader").text_content()
        await rows.first.get_by_role("button", name=f"Void: {fingerprint}").click()
        await stepped_up_if_asked(page, seller, "#action-result:not([hidden])")
        await expect(page.locator("#action-result")).to_have_text("The key is voided: it will never be sold.")
        await expect(rows).to_have_count(2)

        second = await rows.first.get_by_role("rowheader").text_content()
        await rows.first.get_by_role("button", name=f"Replace: {second}").click()
        await expect(rows.first.locator(".field-error")).to_have_text("Fill this in.")
        await rows.first.get_by_label("The new key").fill(keys[2])  # already in the pool: refused
        await rows.first.get_by_role("button", name=f"Replace: {second}").click()
        await expect(rows.first.locator(".field-error")).to_contain_text("already in this product's pool")
        await rows.first.get_by_label("The new key").fill(replacement)
        await rows.first.get_by_role("button", name=f"Replace: {second}").click()
        await expect(page.locator("#action-result")).to_have_text(
            "The key is voided and its replacement is in stock."
        )
        await expect(rows).to_have_count(2)
        await page.get_by_label("Status").select_option(label="Voided")
        await page.get_by_role("button", name="Show", exact=True).click()
        await expect(rows).to_have_count(2)
        # in id order: the first voided first
        await expect(rows.get_by_role("rowheader")).to_have_text([fingerprint or "", second or ""])
        await expect(rows.get_by_role("button")).to_have_count(0)

        await page.get_by_role("link", name="Back to the key pools").click()
        await row.get_by_role("button", name=f"Export unsold keys: {title}").click()
        await stepped_up_if_asked(page, seller, "#action-result:not([hidden])")
        await expect(page.locator("#action-result")).to_contain_text("2 keys exported.")
    async with seller.client() as api:
        await seller.step_up()
        exported = await api.get(f"/api/admin/products/{product['product_id']}/keys/unsold", headers=SHOP)
        assert exported.status_code == 200, exported.text
        assert sorted(exported.text.split()) == sorted([keys[2], replacement])
        audit = await api.get("/api/admin/audit", params={"action": "export_keys"}, headers=SHOP)
        assert audit.status_code == 200, audit.text
        mine = [e for e in audit.json()["items"] if product["product_id"] in (e["target"] or "")]
        assert len(mine) >= 2 and {e["actor_label"] for e in mine} == {seller.email}
        voids = await api.get("/api/admin/audit", params={"action": "void_key"}, headers=SHOP)
        outcomes = [e["outcome"] for e in voids.json()["items"] if product["product_id"] in e["target"]]
        assert outcomes.count(200) == 1 and set(outcomes) <= {200, 403}  # 403: asked to step up first


async def test_a_support_member_can_neither_list_void_nor_export_a_pools_keys(platform: Platform) -> None:
    product = await new_product(platform, f"Pool {uuid.uuid4().hex[:4]}", delivery_type="card_key")
    await import_keys(platform, product, [f"S-{uuid.uuid4().hex[:10]}"])
    path = f"/api/admin/products/{product['product_id']}/keys"
    async with platform.admin() as admin:
        [key] = (await admin.get(path, headers=SHOP)).json()["items"]
    support = await member(platform, "support")
    async with support.client() as api:
        for method, route in (
            ("GET", path),
            ("GET", path + "/unsold"),
            ("POST", f"{path}/{key['key_id']}/void"),
        ):
            answer = await api.request(method, route, headers=SHOP)
            assert answer.status_code == 403 and answer.json()["error"] == "not_allowed", (route, answer.text)
    async with platform.admin() as admin:
        [still] = (await admin.get(path, headers=SHOP)).json()["items"]
    assert still["status"] == "available"


async def test_the_dashboard_and_catalog_pages_in_chinese_show_no_english_msgid(
    platform: Platform, browser: Browser, seller: ConsolePerson
) -> None:
    product = await new_product(platform, "Karte 88", delivery_type="card_key")
    await import_keys(platform, product, [f"ZH-{uuid.uuid4().hex[:8]}"])
    async with console(browser, platform, "zh-catalog", "zh-CN", person=seller) as context:
        page = await context.new_page()
        ready = {
            "/console/": "#days tbody tr",
            "/console/products": "#product-list tbody tr",
            "/console/products/new": "#product",
            f"/console/products/{product['product_id']}": "#tiers",
            f"/console/products/{product['product_id']}/keys": "[data-stock]:not(:empty)",
            "/console/keys": "#pools tbody tr",
            f"/console/keys/{product['product_id']}": "#pool tbody tr",
        }
        await show_no_english(page, ready)
        await expect(page.get_by_role("link", name="数据概览")).to_be_visible()
