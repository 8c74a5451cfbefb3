"""The storefront in a real headless Chromium (Debian's `chromium`, driven by Playwright with
`executable_path`; no browser is ever downloaded) against the whole platform running as processes.

A buyer on a 390x844 phone buys, pays in the sandbox in another tab and sees the key appear on the open
order page without a reload, then copies it; a lookup with a wrong password shows nothing; the pages in
zh-CN show no English msgid and carry their language; axe-core (npm, fetched by deploy/local/infra.sh into
.state/npm) finds no serious or critical violation on the home, product, order and lookup pages.

On a failure, a screenshot of every open page is kept under $FAKA_ARTIFACTS (default .state/artifacts)
/browser/<test>-<page>.png."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from faka_common.testing import eventually
from gateway.entrypoints.i18n import catalog
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from .e2e_platform import Platform, running_platform

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
TIME_ZONE = "Asia/Shanghai"
ARTIFACTS = Path(os.environ.get("FAKA_ARTIFACTS") or ROOT / ".state" / "artifacts") / "browser"


def chromium_path() -> str:
    found = os.environ.get("FAKA_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("Debian's chromium is not installed: `make infra-up` (deploy/local/infra.sh) installs it")
    return found


def axe_script() -> Path:
    path = Path(os.environ.get("FAKA_AXE_JS") or ROOT / ".state/npm/node_modules/axe-core/axe.min.js")
    if not path.is_file():
        pytest.fail(f"axe-core is not at {path}: `make infra-up` (deploy/local/infra.sh) fetches it with npm")
    return path


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        await launched.close()


@asynccontextmanager
async def buyer(
    browser: Browser, platform: Platform, name: str, language: str
) -> AsyncIterator[BrowserContext]:
    """A phone's browser in `language`, in Shanghai's time zone, that may use the clipboard; screenshots of
    its pages are kept when the test fails inside it."""
    context = await browser.new_context(
        base_url=platform.gateway,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=language,
        timezone_id=TIME_ZONE,
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=platform.gateway)
    try:
        yield context
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(context.pages):
            await page.screenshot(path=str(ARTIFACTS / f"{name}-{index}.png"), full_page=True)
        raise
    finally:
        await context.close()


async def create_product(
    platform: Platform, title: str, keys: list[str], category: str | None = None
) -> dict[str, Any]:
    async with platform.admin() as admin:
        category_id = None
        if category is not None:
            made = await admin.post("/api/admin/categories", json={"name": category, "sort_order": 1})
            assert made.status_code == 201, made.text
            category_id = made.json()["category_id"]
        created = await admin.post(
            "/api/admin/products",
            json={"title": title, "price": 4800, "currency": "CNY", "delivery_type": "card_key",
                  "usage_instructions": "Redeem it in the app", "category_id": category_id,
                  "description": "A gift card"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        product: dict[str, Any] = created.json()
        imported = await admin.post(
            f"/api/admin/products/{product['product_id']}/keys",
            content="\n".join(keys).encode(),
            headers={"Content-Type": "text/plain"},
        )
        assert imported.status_code == 200, imported.text

    async def on_sale() -> bool:  # the storefront's read model follows inventory's events: wait for it
        async with platform.storefront() as storefront:
            page = await storefront.get(f"/products/{product['product_id']}")
        return 'class="checkout"' in page.text

    await eventually(on_sale, timeout=60, interval=0.5)
    return product


async def fits_the_phone(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


async def touch_targets_are_large_enough(page: Page) -> None:
    small = await page.evaluate(
        """() => [...document.querySelectorAll('main button, main .button, main input:not([type=hidden]),'
                  + ' header a')]
              .filter(e => e.offsetParent !== null && e.type !== 'radio')
              .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
              .filter(([, h]) => h < 44)"""
    )
    assert small == [], f"touch targets under 44px on {page.url}: {small}"


async def no_serious_axe_violations(page: Page) -> None:
    await page.add_script_tag(path=str(axe_script()))
    violations = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html).slice(0, 3)}))"""
    )
    assert violations == [], f"axe on {page.url}: {violations}"


async def test_a_buyer_on_a_phone_buys_pays_and_sees_the_key_appear_without_reloading_then_copies_it(
    platform: Platform, browser: Browser
) -> None:
    key = f"PHONE-{uuid.uuid4().hex[:12].upper()}-{uuid.uuid4().hex[:12].upper()}"
    product = await create_product(platform, "Phone card 50", [key], category="Gift cards")
    async with buyer(browser, platform, "buy", "en-US") as context:
        page = await context.new_page()
        await page.goto("/")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.get_by_role("heading", name="Gift cards")).to_be_visible()
        await fits_the_phone(page)
        await no_serious_axe_violations(page)

        await page.get_by_role("link", name=re.compile("Phone card 50")).click()
        await expect(page.get_by_role("heading", name="Phone card 50")).to_be_visible()
        await fits_the_phone(page)
        await touch_targets_are_large_enough(page)
        await no_serious_axe_violations(page)
        email = page.get_by_label("E-mail")
        await expect(email).to_have_attribute("autocomplete", "email")
        await email.fill("phone-buyer@example.com")
        await page.get_by_role("button", name="Buy now").click()

        await page.wait_for_url(re.compile(r"/orders/[A-Za-z0-9_-]+\?token="))
        await page.evaluate("window.loadedOnce = true")  # gone if the page reloads
        pay = page.get_by_role("link", name="Pay now")
        await expect(pay).to_be_visible(timeout=30_000)  # pending_risk -> awaiting_payment, live
        await expect(page.locator("time[data-countdown]")).to_be_visible()
        await fits_the_phone(page)
        await touch_targets_are_large_enough(page)
        await no_serious_axe_violations(page)

        # the buyer pays in another tab (as in a payment app); the order page stays open
        checkout = await context.new_page()
        await checkout.goto(str(await pay.get_attribute("href")))
        await checkout.get_by_role("button", name="Pay now").click()
        await expect(checkout.get_by_role("heading", name="Payment received")).to_be_visible()

        code = page.locator("code.key")
        await expect(code).to_have_text(key, timeout=30_000)
        assert await page.evaluate("window.loadedOnce === true"), "the order page reloaded"
        await expect(page.locator("#order .badge")).to_have_text("Delivered")
        await fits_the_phone(page)
        await touch_targets_are_large_enough(page)
        await no_serious_axe_violations(page)

        await page.get_by_role("button", name="Copy").click()
        await expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert await page.evaluate("navigator.clipboard.readText()") == key
        # one click on the key selects the whole key, not one segment
        await code.click()
        assert await page.evaluate("window.getSelection().toString()") == key

        # times are the buyer's local time
        placed = page.locator("#order time").first
        stamp = dt.datetime.fromisoformat(str(await placed.get_attribute("datetime")))
        local = stamp.astimezone(ZoneInfo(TIME_ZONE))
        shown = await placed.inner_text()
        assert "+00:00" not in shown and f":{local.minute:02d}" in shown, (shown, local)
        assert str(local.hour % 12 or 12) in shown

        # the order is remembered in this browser, for the lookup page
        await page.goto("/lookup")
        recent = page.locator("[data-recent-list] a")
        await expect(recent.first).to_contain_text(str(product["title"]))


async def test_lookup_with_a_wrong_password_shows_nothing_of_the_order(
    platform: Platform, browser: Browser
) -> None:
    product = await create_product(platform, "Lookup card", [f"LOOK-{uuid.uuid4().hex}"])
    async with platform.storefront() as shop:
        placed = await shop.post(
            "/api/v1/orders",
            json={"product_id": product["product_id"], "email": "look@example.com",
                  "query_password": "right-password"},
        )  # fmt: skip
    assert placed.status_code == 201, placed.text
    order_no = placed.json()["order_no"]
    async with buyer(browser, platform, "lookup", "en-US") as context:
        page = await context.new_page()
        await page.goto("/lookup")
        await no_serious_axe_violations(page)
        await fits_the_phone(page)
        await touch_targets_are_large_enough(page)
        by_number = page.locator("form.lookup").first
        await by_number.get_by_label("Order number").fill(order_no)
        await by_number.get_by_label("Query password").fill("wrong-password")
        await by_number.get_by_role("button", name="Open the order").click()
        await expect(page.locator("#lookup-result")).to_have_text("No order matches what you entered.")
        body = await page.locator("main").inner_text()
        assert "Lookup card" not in body and "48.00" not in body

        by_number = page.locator("form.lookup").first
        await by_number.get_by_label("Order number").fill(order_no)
        await by_number.get_by_label("Query password").fill("right-password")
        await by_number.get_by_role("button", name="Open the order").click()
        await expect(page.locator(".order-no").first).to_have_text(order_no)
        await expect(page.locator("#order")).to_contain_text("Lookup card")


async def test_the_pages_in_chinese_have_no_english_msgid_left_and_say_their_language(
    platform: Platform, browser: Browser
) -> None:
    chinese = catalog("zh-CN")
    assert chinese is not None
    english = [str(m.id) for m in chinese if m.id and m.string != m.id and re.search(r"[a-z]{3}", str(m.id))]
    product = await create_product(platform, "礼品卡 100", [f"ZH-{uuid.uuid4().hex}"])
    async with buyer(browser, platform, "zh", "zh-CN") as context:
        page = await context.new_page()
        paths = ["/", f"/products/{product['product_id']}", "/lookup"]
        for path in paths:
            await page.goto(path)
            await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            text = await page.locator("body").inner_text()
            left = [msgid for msgid in english if msgid in text]
            assert left == [], f"English left on {path}: {left}"
        await page.goto(f"/products/{product['product_id']}")
        await page.get_by_label("邮箱").fill("zh-buyer@example.com")
        await page.get_by_role("button", name="立即购买").click()
        await expect(page.locator("#order .badge")).to_have_text(re.compile("待付款|检查中|正在锁定库存"))
        text = await page.locator("body").inner_text()
        assert [msgid for msgid in english if msgid in text] == []
        await no_serious_axe_violations(page)

        # the switch turns the page into English, and the choice stays
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await page.goto("/")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.get_by_role("link", name="Find my order")).to_be_visible()
