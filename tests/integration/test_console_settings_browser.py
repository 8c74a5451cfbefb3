"""The console's platform, settings and catalog pages in a real headless Chromium (the console's browser
set-up) against the whole platform.

A platform admin suspends a shop on the platform console and its storefront shows it closed (and its
checkout refuses orders), resumes it, reads the platform's figures and the audit log across shops; a shop's
owner gets the 403 page there and the platform API answers 403. A shop owner invites a member, changes the
role and removes them; makes an API token (the second factor asked for when it is older than five minutes),
sees it once, uses it and revokes it; finds both in the audit log; sets the buyers' e-mail sender (a
server's refusal next to its field), sets up and removes a payment channel (the second factor asked for when
old), reads a supplier's scores and account and switches it off; adds a category and a coupon (a refused
percentage next to its field) and disables the coupon. A person who forgot the password asks for a link on
the page sign-in offers, chooses a new password on the e-mailed link's page and signs in with it. A viewer
sees the suppliers, categories and coupons without a write action and the API refuses the writes (403).
Every page has no serious or critical axe violation, in zh-CN shows no translated English msgid in its own
words, and sends a browser without a session to sign-in."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.testing import eventually
from playwright.async_api import Browser, Page, expect

from .e2e_platform import ConsolePerson, Platform, body_text, running_platform
from .test_console_browser import (
    console,
    fresh_code,
    lands_on_sign_in,
    member,
    show_no_english,
    text_without,
)
from .test_shops import open_shop, stocked_product
from .test_storefront_browser import browser, no_serious_axe_violations

__all__ = ["browser"]

pytestmark = pytest.mark.integration

SHOP = {"X-Shop-Id": str(DEFAULT_SHOP_ID)}
#: What the pages show that is data, not the page's words (names, e-mails, the audit's entries), and the
#: scripts (their strings' keys are English words, never shown).
DATA = ".data, .person, .shop-switch, script"


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


@pytest.fixture(scope="module")
async def owner(platform: Platform) -> ConsolePerson:
    return await member(platform, "owner")


page_words = text_without(DATA)


async def stepped_up_if_asked(page: Page, person: ConsolePerson, done: str) -> None:
    """Answer the step-up form with a fresh code when the page asks for one before `done` shows."""
    asked = page.locator("#step-up")
    await expect(page.locator(f"{done}, #step-up:not([hidden])").first).to_be_visible()
    if await asked.is_visible():
        await asked.get_by_label("Code").fill(await fresh_code(person))
        await asked.get_by_role("button", name="Continue").click()
    await expect(page.locator(done)).to_be_visible()


async def test_a_platform_admin_suspends_a_shop_and_its_storefront_shows_it_closed(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    shop = await open_shop(platform, "Night Cards")
    product = await stocked_product(platform, shop["shop_id"], "Night card", [f"N-{uuid.uuid4().hex}"])
    assert platform.operator is not None
    async with console(browser, platform, "platform", person=platform.operator) as context:
        page = await context.new_page()
        await page.goto("/console/orders")
        await page.get_by_role("navigation", name="Console").get_by_role("link", name="Platform").click()
        await expect(page.get_by_role("heading", name="Shops", exact=True)).to_be_visible()
        row = page.locator("#shops tbody tr", has_text="Night Cards")
        await expect(row).to_contain_text("Open")
        await no_serious_axe_violations(page)
        await row.get_by_role("button", name="Suspend: Night Cards").click()
        await expect(page.locator("#action-result")).to_have_text("Night Cards: Suspended.")
        await expect(row).to_contain_text("Suspended")

        storefront = await context.new_page()
        await storefront.goto(f"/s/{shop['slug']}/")
        await expect(storefront.locator("main")).to_contain_text("suspended and takes no orders")
        async with platform.storefront() as buyer:
            refused = await buyer.post(
                f"/s/{shop['slug']}/api/v1/orders", json={"product_id": product, "email": "n@example.com"}
            )
        assert refused.status_code == 409 and "suspended" in refused.json()["message"]

        await row.get_by_role("button", name="Resume: Night Cards").click()
        await expect(row).to_contain_text("Open")
        await storefront.reload()
        await expect(storefront.locator("main")).not_to_contain_text("suspended and takes no orders")

        await page.get_by_role("link", name="Sales and health").click()
        await expect(page.locator('[data-figure="period-orders"]')).not_to_be_empty()
        await expect(page.locator("#low-stock")).to_have_count(0)
        await no_serious_axe_violations(page)
        await page.get_by_role("link", name="Audit log").click()
        entries = page.locator("#audit-entries li[data-action=change_status]")
        await expect(entries.first).to_contain_text(shop["shop_id"])
        await page.get_by_label("Shop ID").fill("not a shop")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_label("Shop ID")).to_have_attribute("aria-invalid", "true")
        await page.get_by_label("Shop ID").fill(shop["shop_id"])
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#audit-entries li").first).to_contain_text(shop["shop_id"])
        await no_serious_axe_violations(page)

    async with console(browser, platform, "platform-owner", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/orders")
        await expect(
            page.get_by_role("navigation", name="Console").get_by_role("link", name="Platform")
        ).to_have_count(0)
        answer = await page.goto("/console/platform/shops")
        assert answer is not None and answer.status == 403
        await expect(page.locator("main")).to_contain_text("Only the platform's staff can open this page.")
    async with owner.client() as api:
        suspend = await api.post(
            f"/api/platform/shops/{shop['shop_id']}/status", json={"status": "suspended"}
        )
        figures = await api.get("/api/platform/figures")
    assert suspend.status_code == 403 and figures.status_code == 403


async def test_a_platform_admin_sets_the_default_shops_fee_and_its_dashboard_shows_fees_and_net(
    platform: Platform, browser: Browser
) -> None:
    assert platform.operator is not None
    async with console(browser, platform, "platform-fee", person=platform.operator) as context:
        page = await context.new_page()
        await page.goto("/console/platform/shops")
        row = page.locator("#shops tbody tr", has=page.get_by_role("rowheader", name="Default shop"))
        await expect(row).to_contain_text("The platform's default")
        fee = row.get_by_label("Fee in basis points (250 is 2.5 percent)")
        await fee.fill("10001")
        await row.get_by_role("button", name="Set the fee: Default shop").click()
        await expect(row.locator(".field-error")).to_contain_text("10000")
        await expect(fee).to_have_attribute("aria-invalid", "true")
        await fee.fill("250")
        await row.get_by_role("button", name="Set the fee: Default shop").click()
        await expect(page.locator("#action-result")).to_have_text("Default shop: the fee is now 2.5%.")
        await expect(row).to_contain_text("2.5%")
        await no_serious_axe_violations(page)

        async with platform.admin() as admin:
            found = (await admin.get("/api/admin/dashboard", params={"days": 7}, headers=SHOP)).json()
        assert found["fee_rate_bps"] == 250
        gmv = found["totals"]["gmv"]
        assert found["fees"] == {c: (amount * 250 + 5000) // 10000 for c, amount in gmv.items()}
        assert found["net"] == {c: amount - found["fees"][c] for c, amount in gmv.items()}
        await page.goto("/console/")
        await expect(page.locator('[data-figure="period-fees"]')).to_contain_text("(at 2.5%)")
        await expect(page.locator('[data-figure="period-net"]')).not_to_be_empty()

        await page.goto("/console/platform/shops")
        await fee.fill("")
        await row.get_by_role("button", name="Set the fee: Default shop").click()
        await expect(row).to_contain_text("The platform's default")
    async with platform.admin() as admin:
        shop = (await admin.get(f"/api/platform/shops/{DEFAULT_SHOP_ID}")).json()
        audit = (await admin.get("/api/platform/audit", params={"action": "set_fee_rate"})).json()
    assert shop["fee_rate_bps"] is None
    assert [e["outcome"] for e in audit["items"][:3]] == [200, 200, 422]


async def test_an_owner_manages_members_and_an_api_token_and_finds_them_in_the_audit_log(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    invited = f"new-{uuid.uuid4().hex[:6]}@example.com"
    async with console(browser, platform, "settings", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/orders")
        await page.get_by_role("navigation", name="Console").get_by_role("link", name="Settings").click()
        await page.get_by_role("link", name="Members and roles").click()
        await expect(page.locator("#members tbody tr", has_text=owner.email)).to_be_visible()
        await no_serious_axe_violations(page)
        invite = page.locator("#invite")
        await invite.get_by_role("button", name="Invite").click()
        await expect(page.locator("#e-f-email")).to_have_text("Fill this in.")
        await invite.get_by_label("E-mail").fill(invited)
        await invite.get_by_label("Role").select_option("viewer")
        await invite.get_by_role("button", name="Invite").click()
        row = page.locator("#members tbody tr", has_text=invited)
        await expect(row).to_be_visible()
        await row.get_by_role("combobox", name=f"Change the role: {invited}").select_option("support")
        await row.get_by_role("button", name=f"Change the role: {invited}").click()
        await expect(page.locator("#action-result")).to_have_text(f"{invited} is Support now.")
        await row.get_by_role("button", name=f"Remove: {invited}").click()
        await expect(page.locator("#members tbody tr", has_text=invited)).to_have_count(0)

        await page.get_by_role("link", name="API tokens").click()
        form = page.locator("#new-token")
        await form.get_by_label("Name").fill("stock sync")
        await form.get_by_role("button", name="Make the token").click()
        await expect(page.locator("#e-f-scopes")).to_have_text("Fill this in.")
        await form.get_by_label("Read orders").check()
        await form.get_by_role("button", name="Make the token").click()
        await stepped_up_if_asked(page, owner, "#new-token-value")
        token = await page.locator("#new-token-value").inner_text()
        assert token.startswith("faka_")
        await no_serious_axe_violations(page)
        async with httpx.AsyncClient(
            base_url=platform.gateway, headers={"Authorization": f"Bearer {token}"}
        ) as script:
            assert (await script.get("/api/admin/orders")).status_code == 200
            item = page.locator("#tokens li", has_text="stock sync")
            await item.get_by_role("button", name="Revoke: stock sync").click()
            await expect(item).to_contain_text("Revoked")

            async def refused() -> bool | None:
                return True if (await script.get("/api/admin/orders")).status_code == 401 else None

            await eventually(refused, timeout=30, interval=0.5)
        await page.reload()
        await expect(page.locator("#new-token-value")).to_have_count(0)  # shown once

        await page.get_by_role("link", name="Audit log").click()
        await expect(page.locator("#audit-entries li[data-action=issue_api_token]").first).to_contain_text(
            owner.email
        )
        await page.get_by_label("Action").fill("revoke_api_token")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#audit-entries li:not([data-action=revoke_api_token])")).to_have_count(0)
        await expect(page.locator("#audit-entries li").first).to_contain_text("revoke_api_token")
        await no_serious_axe_violations(page)


async def test_an_owner_sets_the_sender_a_payment_channel_and_switches_a_supplier_off(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    supplier = f"wholesale-{uuid.uuid4().hex[:4]}"
    assert platform.operator is not None
    await platform.operator.step_up()  # registering a supplier hands it credentials
    async with platform.admin() as admin:
        registered = await admin.post(
            "/api/admin/suppliers",
            headers=SHOP,
            json={"name": supplier, "kind": "http_json", "base_url": "http://127.0.0.1:9/",
                  "secret": "a supplier secret", "timeout_seconds": 5},
        )  # fmt: skip
    assert registered.status_code == 201, registered.text
    async with console(browser, platform, "notifications", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/settings/notifications")
        form = page.locator("#channels-form[aria-busy=false]")
        await form.get_by_label("Sender's name").fill("Night Cards")
        await form.get_by_label("Sender's address").fill("not an address")
        await form.get_by_role("button", name="Save").click()
        await expect(form.get_by_label("Sender's address")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#e-f-from_address")).not_to_be_empty()
        await form.get_by_label("Sender's address").fill("sales@cards.example.com")
        await form.get_by_role("button", name="Save").click()
        await expect(page.locator("#action-result")).to_have_text("The notification settings are saved.")
        await no_serious_axe_violations(page)
        wording = page.locator("#wording-form[aria-busy=false]")
        await wording.get_by_label("E-mail").select_option("order_delivered/en")
        await wording.get_by_label("Subject").fill("Night Cards: {{ order_no }} {{ keys }}")
        await wording.get_by_role("button", name="Preview").click()
        await expect(page.locator("#e-f-subject")).to_contain_text("unknown placeholder keys")
        await wording.get_by_label("Subject").fill("Night Cards: {{ order_no }}")
        await wording.get_by_role("button", name="Preview").click()
        await expect(page.locator("#preview-subject")).to_have_text("Night Cards: F20261202SAMPLE")
        await expect(page.locator("#preview-text")).to_contain_text("SAMPLE-KEY-0000-0001")
        await wording.get_by_role("button", name="Save the wording").click()
        await expect(page.locator("#action-result")).to_have_text("The e-mail's wording is saved.")
        await no_serious_axe_violations(page)
        await page.get_by_role("link", name="Payment channels").click()
        sandbox = page.locator("#channels li[data-provider=sandbox]")
        await expect(sandbox).to_contain_text("Not set up")
        await no_serious_axe_violations(page)
        await sandbox.get_by_role("button", name="Set up: sandbox").click()
        await sandbox.get_by_label("secret").fill("a sandbox secret of the shop")
        await sandbox.get_by_role("button", name="Save: sandbox").click()
        await stepped_up_if_asked(page, owner, "#action-result:not([hidden])")
        await expect(page.locator("#action-result")).to_have_text("The sandbox channel is saved.")
        await expect(sandbox).to_contain_text("Offered to buyers")
        await expect(sandbox).to_contain_text("secret: stored")
        await expect(sandbox).not_to_contain_text("a sandbox secret of the shop")
        await sandbox.get_by_role("button", name="Remove: sandbox").click()
        await expect(sandbox).to_contain_text("Not set up")

        await page.get_by_role("link", name="Suppliers").click()
        row = page.locator("#suppliers tbody tr", has_text=supplier)
        await expect(row).to_contain_text("Switched on")
        await no_serious_axe_violations(page)
        await row.get_by_role("button", name=f"Account: {supplier}").click()
        await expect(page.get_by_role("heading", name=f"Account: {supplier}")).to_be_focused()
        await row.get_by_role("button", name=f"Switch off: {supplier}").click()
        await expect(row).to_contain_text("Switched off")
    async with owner.client() as api:
        stored = (await api.get("/api/admin/shop-channels", headers=SHOP)).json()
        worded = (await api.get("/api/admin/notification-templates", headers=SHOP)).json()["items"]
        reset = await api.delete("/api/admin/notification-templates/order_delivered/en", headers=SHOP)
    assert (stored["from_name"], stored["from_address"]) == ("Night Cards", "sales@cards.example.com")
    [own] = [i["own"] for i in worded if (i["template"], i["language"]) == ("order_delivered", "en")]
    assert own["subject"] == "Night Cards: {{ order_no }}" and reset.status_code == 200


async def test_an_owner_adds_a_category_and_a_coupon_and_a_viewer_sees_no_write_action(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    name, code = f"Gift {uuid.uuid4().hex[:4]}", f"SPRING{uuid.uuid4().hex[:4].upper()}"
    async with console(browser, platform, "catalog", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/products")
        await page.get_by_role("link", name="Categories").click()
        form = page.locator("#new-category")
        await form.get_by_label("Name").fill(name)
        await form.get_by_label("Position").fill("first")
        await form.get_by_role("button", name="Add").click()
        await expect(page.locator("#e-f-sort_order")).to_have_text("Write a whole number.")
        await form.get_by_label("Position").fill("5")
        await form.get_by_role("button", name="Add").click()
        await expect(page.locator("#categories li", has_text=name)).to_contain_text("#5")
        await no_serious_axe_violations(page)

        await page.get_by_role("link", name="Coupons").click()
        form = page.locator("#new-coupon")
        await form.get_by_label("Code").fill(code)
        await form.get_by_label("Percent, or amount such as 5.00").fill("150")
        await form.get_by_label("For", exact=True).select_option(label=name)
        await form.get_by_role("button", name="Add").click()
        value = form.get_by_label("Percent, or amount such as 5.00")
        await expect(value).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#e-f-value")).to_contain_text("100")
        await value.fill("10")
        await form.get_by_role("button", name="Add").click()
        row = page.locator("#coupons tbody tr", has_text=code)
        await expect(row).to_contain_text(name)
        await expect(row).to_contain_text("Active")
        await row.get_by_role("button", name=f"Disable: {code}").click()
        await expect(row).to_contain_text("Disabled")
        await no_serious_axe_violations(page)

    viewer = await member(platform, "viewer")
    async with console(browser, platform, "catalog-viewer", person=viewer) as context:
        page = await context.new_page()
        for path in (
            "/console/catalog/categories",
            "/console/catalog/coupons",
            "/console/settings/suppliers",
        ):
            await page.goto(path)
            await expect(page.locator("h1")).to_be_visible()
            await expect(page.locator("#results-state")).not_to_have_text("Loading…")
            writes = page.get_by_role("button", name=re.compile("Add|Disable|Switch|Remove|Invite"))
            await expect(writes).to_have_count(0)
        await page.goto("/console/catalog/categories")
        await expect(page.locator("#categories li", has_text=name)).to_be_visible()
        answer = await page.goto("/console/settings/members")
        assert answer is not None and answer.status == 403
    async with viewer.client() as api:
        category = await api.post("/api/admin/categories", json={"name": "Sneaky"}, headers=SHOP)
        coupon = await api.post(
            "/api/admin/coupons", json={"kind": "percent", "code": "SNEAKY", "value": 5}, headers=SHOP
        )
        disable = await api.post(f"/api/admin/coupons/{code}/disable", headers=SHOP)
    assert (category.status_code, coupon.status_code, disable.status_code) == (403, 403, 403)


async def reset_link_mailed_to(platform: Platform, email: str) -> str:
    async def arrived() -> list[str] | None:
        pattern = rf"{re.escape(platform.gateway)}/console/reset\?token=[A-Za-z0-9_-]+"
        links = [link for mail in platform.mailbox.to(email) for link in re.findall(pattern, body_text(mail))]
        return links or None

    links = await eventually(arrived, timeout=30)
    return str(links[-1]).removeprefix(platform.gateway)


async def test_a_person_who_forgot_the_password_gets_a_link_and_signs_in_with_a_new_one(
    platform: Platform, browser: Browser
) -> None:
    person = await member(platform, "viewer")
    new_password = "another long and lovely password"
    async with console(browser, platform, "forgot") as context:
        page = await context.new_page()
        await lands_on_sign_in(page, "/console/settings/suppliers")
        await page.get_by_role("link", name="Forgot your password?").click()
        await expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
        await no_serious_axe_violations(page)
        await page.get_by_role("button", name="E-mail me a link").click()
        await expect(page.locator("#e-f-email")).to_have_text("Fill this in.")
        await page.get_by_label("E-mail").fill(person.email)
        await page.get_by_role("button", name="E-mail me a link").click()
        await expect(page.locator("#action-result")).to_contain_text("a link to choose a new password")

        await page.goto(await reset_link_mailed_to(platform, person.email))
        await expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        await page.get_by_label("New password").fill(new_password)
        await page.get_by_role("button", name="Save the password").click()
        await expect(page.locator("#action-result")).to_have_text("Done. You can sign in now.")
        await lands_on_sign_in(page, "/console/settings/suppliers")
        await page.get_by_label("E-mail").fill(person.email)
        await page.get_by_label("Password").fill(new_password)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Code", exact=True).fill(await fresh_code(person))
        await page.get_by_role("button", name="Continue").click()
        await expect(page).to_have_url(re.compile(r"/console/settings/suppliers$"))


async def test_the_settings_and_platform_pages_without_a_session_land_on_sign_in(
    platform: Platform, browser: Browser
) -> None:
    async with console(browser, platform, "settings-no-session") as context:
        page = await context.new_page()
        for path in ("/console/settings/members", "/console/catalog/coupons", "/console/platform/shops"):
            await lands_on_sign_in(page, path)
    ended = await member(platform, "viewer")
    async with ended.client() as api:
        assert (await api.post("/api/console/sign-out")).status_code == 204
    async with console(browser, platform, "settings-ended", person=ended) as context:
        page = await context.new_page()
        await lands_on_sign_in(page, "/console/settings/suppliers")


async def test_the_settings_catalog_and_platform_pages_in_chinese_show_no_english_words(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    async with owner.client() as api:
        await api.post("/api/admin/categories", json={"name": "分类一"}, headers=SHOP)
    async with console(browser, platform, "settings-zh", "zh-CN", person=owner) as context:
        page = await context.new_page()
        ready = {
            "/console/settings": "nav.row-actions a",
            "/console/settings/members": "#members tbody tr",
            "/console/settings/api-tokens": "#new-token",
            "/console/settings/audit": "#audit-entries li",
            "/console/settings/payments": "#channels li",
            "/console/settings/notifications": "#channels-form[aria-busy=false]",
            "/console/settings/suppliers": "#suppliers",
            "/console/catalog/categories": "#categories li",
            "/console/catalog/coupons": "#new-coupon",
        }
        await show_no_english(page, ready, page_words)
        await expect(page.get_by_role("link", name="设置", exact=True)).to_be_visible()
    assert platform.operator is not None
    async with console(browser, platform, "platform-zh", "zh-CN", person=platform.operator) as context:
        page = await context.new_page()
        ready = {
            "/console/platform/shops": "#shops tbody tr",
            "/console/platform/figures": '[data-figure="period-orders"]:not(:empty)',
            "/console/platform/audit": "#audit-entries li",
        }
        await show_no_english(page, ready, page_words)
        await expect(page.get_by_role("link", name=re.compile("^平台$"))).to_be_visible()
