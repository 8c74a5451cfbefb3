"""The console's risk pages in a real headless Chromium (the console's browser set-up) against the whole
platform: a shop owner approves an order held for review on the review queue (the buyer can then pay) and
rejects another with a reason; adds an orders-per-window rule whose negative window, and a blocklist whose
malformed network, are each refused with the error next to the field, then saved, and the audit lists the
versions; a support member sees the queue and the rules without a write action and the API answers 403;
axe-core finds no serious or critical violation; in zh-CN the pages' own words are all Chinese."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from playwright.async_api import Browser, Page, expect

from .e2e_platform import ConsolePerson, Platform, running_platform
from .test_console_browser import console, member, show_no_english
from .test_shops import stocked_product, until_status
from .test_storefront_browser import browser, no_serious_axe_violations

__all__ = ["browser"]

pytestmark = pytest.mark.integration

SHOP = {"X-Shop-Id": str(DEFAULT_SHOP_ID)}
#: What the pages show that is data, not the page's words (the risk service's reasons, rule names, e-mails),
#: and the scripts (their strings' keys are English words, e.g. `rules_never`, never shown).
DATA = (
    '[data-fact="reasons"], [data-fact="fired"], [data-fact="buyer"], [data-fact="device"], '
    ".task-title, .person, #audit, script"
)


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


@pytest.fixture(scope="module")
async def owner(platform: Platform) -> ConsolePerson:
    return await member(platform, "owner")


async def held_for_review(platform: Platform, count: int) -> list[dict[str, Any]]:
    """`count` orders of the default shop that its disposable-e-mail rule sends to review."""
    product = await stocked_product(
        platform, None, "Reviewed card", [f"R-{uuid.uuid4().hex}" for _ in range(3)]
    )
    async with platform.admin() as admin:
        rules = {"rules": [{"type": "disposable_email", "action": "review"}]}
        assert (await admin.put("/api/admin/risk/rules", json=rules, headers=SHOP)).status_code == 200
    orders, bodies = [], []
    async with platform.storefront() as storefront:
        for i in range(count):
            email = f"held-{i}-{uuid.uuid4().hex[:6]}@yopmail.com"
            body = {"product_id": product, "email": email, "device_id": f"browser-{i}-{uuid.uuid4().hex}"}
            placed = await storefront.post("/api/v1/orders", json=body)
            assert placed.status_code == 201, placed.text
            orders.append(placed.json())
            bodies.append(body)
        held = [{**order, **await until_status(storefront, "", order, "review")} for order in orders]
        return [{**order, "device_id": sent["device_id"]} for order, sent in zip(held, bodies, strict=True)]


async def page_words(page: Page) -> str:
    """The page's text without its data."""
    text: str = await page.evaluate(
        """(data) => { const copy = document.body.cloneNode(true);
        copy.querySelectorAll(data).forEach((node) => node.remove()); return copy.innerText; }""",
        DATA,
    )
    return text


async def test_an_owner_approves_one_review_into_payment_rejects_another_and_edits_the_rules(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    approved, rejected = await held_for_review(platform, 2)
    async with console(browser, platform, "risk", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/orders")
        await page.get_by_role("link", name="Risk control").click()
        await expect(page.get_by_role("heading", name="Orders in review")).to_be_visible()
        card = page.locator("li.task", has=page.get_by_role("link", name=approved["order_no"]))
        await expect(card.locator('[data-fact="fired"]')).to_have_text("shop.disposable_email[0]")
        await expect(card.locator('[data-fact="amount"]')).to_contain_text("no usual amount yet")
        await expect(card.locator('[data-fact="device"]')).to_have_text(approved["device_id"])
        await no_serious_axe_violations(page)
        await page.get_by_role("button", name=f"Approve: {approved['order_no']}").click()
        await expect(page.locator("#action-result")).to_have_text("Approved: the buyer can pay now.")
        other = page.locator("li.task", has=page.get_by_role("link", name=rejected["order_no"]))
        await other.get_by_role("button", name=f"Reject: {rejected['order_no']}").click()
        await expect(other.get_by_label("Why it is rejected")).to_have_attribute("aria-invalid", "true")
        await other.get_by_label("Why it is rejected").fill("a throwaway address")
        await other.get_by_role("button", name=f"Reject: {rejected['order_no']}").click()
        await expect(page.locator("#action-result")).to_have_text("Rejected: the stock is free again.")
        await expect(page.locator("#results-state")).to_have_text("No orders wait for review.")

        async with platform.storefront() as storefront:
            await until_status(storefront, "", approved, "awaiting_payment")
            await until_status(storefront, "", rejected, "rejected")

        await page.get_by_role("link", name="Rules", exact=True).click()
        await expect(page.locator("#rules-version")).to_contain_text("Version 1")
        await page.get_by_label("New rule").select_option("velocity")
        await page.get_by_role("button", name="Add a rule").click()
        await page.get_by_label("Limit").fill("5")
        await page.get_by_label("Window (seconds)").fill("-60")
        await page.get_by_role("button", name="Save the rule").click()
        window = page.get_by_label("Window (seconds)")
        await expect(window).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#e-f-rule-window_seconds")).to_contain_text("greater than or equal to 1")
        await window.fill("60")
        await page.get_by_role("button", name="Save the rule").click()
        await expect(page.locator("#action-result")).to_contain_text("Saved as version 2")

        await page.get_by_label("New rule").select_option("blocklist")
        await page.get_by_role("button", name="Add a rule").click()
        await page.get_by_label("Networks (CIDR)").fill("203.0.113.0/24\n10.0.0.0/33")
        await page.get_by_role("button", name="Save the rule").click()
        await expect(page.get_by_label("Networks (CIDR)")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#e-f-rule-cidrs")).to_contain_text("Line 2")
        await page.get_by_role("button", name="Cancel").click()
        await expect(page.locator("#audit li")).to_have_count(2)
        await expect(page.locator("#audit li").first).to_contain_text("Version 2")
        await no_serious_axe_violations(page)
    async with platform.admin() as admin:
        rules = (await admin.get("/api/admin/risk/rules", headers=SHOP)).json()
    assert rules["version"] == 2 and [r["type"] for r in rules["rules"]] == ["disposable_email", "velocity"]
    assert rules["rules"][1]["window_seconds"] == 60


async def test_a_support_member_sees_the_risk_pages_without_write_actions_and_the_api_refuses_it(
    platform: Platform, browser: Browser
) -> None:
    [order] = await held_for_review(platform, 1)
    support = await member(platform, "support")
    async with console(browser, platform, "risk-support", person=support) as context:
        page = await context.new_page()
        await page.goto("/console/risk/reviews")
        card = page.locator("li.task", has=page.get_by_role("link", name=order["order_no"]))
        await expect(card).to_be_visible()
        await expect(card.get_by_role("button")).to_have_count(0)
        await page.goto("/console/risk/rules")
        await expect(page.locator("#rules li.task").first).to_be_visible()
        await expect(page.get_by_role("button", name=re.compile("Edit|Delete|Add a rule"))).to_have_count(0)
    async with support.client() as api:
        approve = await api.post(f"/api/admin/risk/reviews/{order['order_id']}/approve", headers=SHOP)
        put = await api.put("/api/admin/risk/rules", json={"rules": []}, headers=SHOP)
    assert approve.status_code == 403 and put.status_code == 403


async def test_the_risk_pages_in_chinese_show_no_english_words(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    await held_for_review(platform, 1)
    async with console(browser, platform, "risk-zh", "zh-CN", person=owner) as context:
        page = await context.new_page()
        ready = {"/console/risk/reviews": "li.task", "/console/risk/rules": "#rules li"}
        await show_no_english(page, ready, page_words)
        await expect(page.get_by_role("link", name="风控")).to_be_visible()
