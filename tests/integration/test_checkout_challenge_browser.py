"""Checkout challenges end to end: a shop's `challenge` rule set through the admin API reaches the gateway
through the risk service's publication (no restart); a script's order is a 428 with a challenge until it
does the work; a buyer in a real headless Chromium (the Playwright + Debian chromium set-up of
test_storefront_browser) clicks Buy once and lands on the order page while the page's script does the work.
Under a captcha rule the buyer is shown the image, types its characters (which the test reads from Redis,
where the gateway keeps them) and lands on the order page; axe-core finds nothing serious on that form.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from faka_common.testing import eventually
from gateway.service_layer.challenges import captcha_key, solve
from playwright.async_api import Browser, Response, expect

from .e2e_platform import Platform, running_platform
from .test_shops import open_shop, stocked_product
from .test_storefront_browser import browser, buyer, no_serious_axe_violations

pytestmark = pytest.mark.integration
__all__ = ["browser"]


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def shop_under_attack(
    platform: Platform, bits: int, kind: str = "proof_of_work"
) -> tuple[dict[str, Any], str]:
    """A shop with a product whose rules ask every order for `bits` of work (or a captcha)."""
    shop = await open_shop(platform, "Besieged Cards")
    product_id = await stocked_product(platform, shop["shop_id"], "Besieged card", [f"K-{uuid.uuid4().hex}"])
    rule = {"type": "challenge", "kind": kind, "per": "always", "difficulty": bits}
    async with platform.admin() as admin:
        changed = await admin.put(
            "/api/admin/risk/rules", json={"rules": [rule]}, headers={"X-Shop-Id": shop["shop_id"]}
        )
    assert changed.status_code == 200, changed.text
    await on_sale(platform, shop, product_id)
    return shop, product_id


async def on_sale(platform: Platform, shop: dict[str, Any], product_id: str) -> None:
    """Until the storefront's read model shows the imported keys (it follows inventory's events)."""

    async def checkout_shown() -> bool:
        async with platform.storefront() as storefront:
            page = await storefront.get(f"/s/{shop['slug']}/products/{product_id}")
        return 'class="checkout"' in page.text

    await eventually(checkout_shown, timeout=60, interval=0.5)


async def test_a_script_gets_428_until_it_does_the_work_set_through_the_admin_api(platform: Platform) -> None:
    shop, product_id = await shop_under_attack(platform, 12)
    order = {"product_id": product_id, "email": "script@example.com"}
    async with platform.storefront() as storefront:
        path = f"/s/{shop['slug']}/api/v1/orders"
        asked = await storefront.post(path, json=order)
        assert asked.status_code == 428, asked.text
        challenge = asked.json()["challenge"]
        headers = {"X-Challenge": challenge["token"], "X-Challenge-Nonce": solve(challenge["token"], 12)}
        placed = await storefront.post(path, json=order, headers=headers)
        assert placed.status_code == 201, placed.text
        again = await storefront.post(path, json=order, headers=headers)
        assert again.status_code == 428 and "used already" in again.json()["message"]


async def test_a_buyer_under_a_challenge_buys_with_one_click_while_the_page_does_the_work(
    platform: Platform, browser: Browser
) -> None:
    shop, product_id = await shop_under_attack(platform, 14)
    async with buyer(browser, platform, "challenge", "en-US") as context:
        page = await context.new_page()
        checkouts: list[int] = []

        def seen(response: Response) -> None:
            if response.request.method == "POST" and response.url.endswith("/shop/orders"):
                checkouts.append(response.status)

        page.on("response", seen)
        await page.goto(f"/s/{shop['slug']}/products/{product_id}?lang=en")
        await page.locator("input[name=email]").fill("patient-buyer@example.com")
        await page.locator("form.checkout button[type=submit]").click()
        await page.wait_for_url(re.compile(r"/orders/[A-Za-z0-9_-]+\?token="), timeout=60_000)
        await expect(page.get_by_role("link", name="Pay now")).to_be_visible(timeout=30_000)
        assert checkouts == [428, 303], checkouts


async def test_without_a_challenge_rule_the_storefront_asks_nothing(platform: Platform) -> None:
    shop = await open_shop(platform, "Quiet Cards")
    product_id = await stocked_product(platform, shop["shop_id"], "Quiet card", [f"K-{uuid.uuid4().hex}"])
    async with platform.storefront() as storefront:
        placed: httpx.Response = await storefront.post(
            f"/s/{shop['slug']}/api/v1/orders", json={"product_id": product_id, "email": "calm@example.com"}
        )
    assert placed.status_code == 201, placed.text


async def test_a_buyer_under_a_captcha_types_the_characters_of_the_image_and_reaches_payment(
    platform: Platform, browser: Browser
) -> None:
    shop, product_id = await shop_under_attack(platform, 8, kind="captcha")
    store = redis.from_url(platform.redis_url)
    async with buyer(browser, platform, "captcha", "en-US") as context:
        page = await context.new_page()
        await page.goto(f"/s/{shop['slug']}/products/{product_id}?lang=en")
        await page.locator("input[name=email]").fill("human-buyer@example.com")
        await page.get_by_role("button", name="Buy now").click()
        answer_field = page.get_by_label("Characters in the image")
        await expect(answer_field).to_be_focused(timeout=30_000)
        await expect(page.get_by_role("img", name="Distorted characters")).to_be_visible()
        await no_serious_axe_violations(page)
        token = await page.locator("input[name=challenge]").input_value()
        held = await store.get(captcha_key(f"e2e{platform.run_id}.", token.split(".")[4]))
        await store.aclose()
        assert held is not None
        await answer_field.fill(json.loads(held)["answer"].lower())
        await page.get_by_role("button", name="Buy now").click()
        await page.wait_for_url(re.compile(r"/orders/[A-Za-z0-9_-]+\?token="), timeout=60_000)
        await expect(page.get_by_role("link", name="Pay now")).to_be_visible(timeout=30_000)
