"""The seller console in a real headless Chromium (Debian's `chromium`, driven by Playwright with
`executable_path`, as the storefront's browser tests) against the whole platform running as processes.

A seller (a shop owner invited by e-mail, TOTP set up) signs in with the second factor, finds an order by
e-mail and reads its timeline, sees a server's field error next to its field, delivers a manual order from
the queue and signs out; a support member sets the password on the page of the e-mailed set-up link, signs
in (support needs no second factor) and has no key export link, its page refuses them and the API answers
403; a console page without a session or with one that is no more lands on sign-in; axe-core finds no
serious or critical violation on the sign-in, orders, order and manual-queue pages; in zh-CN the pages show
no English msgid. On a failure, a screenshot of every open page is kept under $FAKA_ARTIFACTS (default
.state/artifacts)/browser/console-<test>-<page>.png."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pyotp
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.testing import eventually
from gateway.entrypoints.i18n import catalog
from playwright.async_api import Browser, BrowserContext, Page, expect

from .e2e_platform import ADMIN_PASSWORD, ConsolePerson, Platform, running_platform
from .test_people import setup_link_mailed_to
from .test_sale import notification, notify, wait_for_status
from .test_storefront_browser import ARTIFACTS, TIME_ZONE, browser, no_serious_axe_violations

__all__ = ["browser"]  # the module-scoped Chromium of the storefront's browser tests

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 900}
SHOP = {"X-Shop-Id": str(DEFAULT_SHOP_ID)}


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


@pytest.fixture(scope="module")
async def seller(platform: Platform) -> ConsolePerson:
    return await member(platform, "owner")


@pytest.fixture(scope="module")
async def manual_product(platform: Platform) -> str:
    async with platform.admin() as admin:
        created = await admin.post(
            "/api/admin/products",
            json={"title": "Game gold 500", "price": 2500, "currency": "CNY", "delivery_type": "manual"},
        )
    assert created.status_code == 201, created.text
    product_id: str = created.json()["product_id"]
    return product_id


async def invited(platform: Platform, role: str) -> tuple[str, str]:
    """A person the platform's admin invited into the default shop with `role`: the e-mail and the token of
    the set-up link mailed to it."""
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    async with platform.admin() as admin:
        answer = await admin.post("/api/admin/members", headers=SHOP, json={"email": email, "role": role})
    assert answer.status_code == 201, answer.text
    return email, await setup_link_mailed_to(platform, email)


async def member(platform: Platform, role: str) -> ConsolePerson:
    """An invited person with the password and TOTP set up (through the API)."""
    email, token = await invited(platform, role)
    return await ConsolePerson.set_up(platform.gateway, email, token)


async def fresh_code(person: ConsolePerson) -> str:
    """The authenticator's code of a step not used yet (merchant takes each once), waiting for the step
    when it is not yet within the accepted window (as ConsolePerson.step_up does)."""
    step = max(person.last_step + 1, person.totp.timecode(datetime.now(UTC)))
    while step > person.totp.timecode(datetime.now(UTC)) + 1:
        await asyncio.sleep(1)
    person.last_step = step
    return str(person.totp.at(step * person.totp.interval))


async def paid_manual_order(platform: Platform, product_id: str, email: str) -> dict[str, Any]:
    async with platform.storefront() as shop:
        placed = await shop.post(
            "/api/v1/orders",
            json={"product_id": product_id, "email": email, "buyer_fields": {"account": "hero-42"}},
        )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    await wait_for_status(platform, order, "awaiting_payment")
    paid = await notify(platform, notification(platform, order, trade_no=f"TRADE-{uuid.uuid4().hex[:10]}"))
    assert paid.status_code == 200 and paid.json()["result"] == "accepted", paid.text

    async def queued() -> bool | None:
        async with platform.admin() as admin:
            tasks = (await admin.get("/api/admin/delivery/manual-tasks", headers=SHOP)).json()["items"]
        return True if any(t["request"].get("order_no") == order["order_no"] for t in tasks) else None

    await eventually(queued, timeout=45, interval=0.2)
    return order


@asynccontextmanager
async def console(
    browser: Browser,
    platform: Platform,
    name: str,
    language: str = "en-US",
    person: ConsolePerson | None = None,
) -> AsyncIterator[BrowserContext]:
    """A desktop browser in `language` and Shanghai's time zone (with `person`'s session cookies when
    given); screenshots of its pages are kept when the test fails inside it."""
    context = await browser.new_context(
        base_url=platform.gateway, viewport=DESKTOP, locale=language, timezone_id=TIME_ZONE
    )
    if person is not None:
        await context.add_cookies(
            [{"name": c.name, "value": str(c.value), "url": platform.gateway} for c in person.cookies.jar]
        )
    try:
        yield context
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(context.pages):
            await page.screenshot(path=str(ARTIFACTS / f"console-{name}-{index}.png"), full_page=True)
        raise
    finally:
        await context.close()


async def lands_on_sign_in(page: Page, path: str) -> None:
    await page.goto(path)
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_a_seller_signs_in_with_a_second_factor_finds_an_order_by_email_and_delivers_a_manual_one(
    platform: Platform, browser: Browser, seller: ConsolePerson, manual_product: str
) -> None:
    email = f"Gamer-{uuid.uuid4().hex[:6]}@Example.com"
    order = await paid_manual_order(platform, manual_product, email)
    async with console(browser, platform, "seller") as context:
        page = await context.new_page()
        await lands_on_sign_in(page, "/console/orders")
        await no_serious_axe_violations(page)
        await page.get_by_label("E-mail").fill(seller.email)
        await page.get_by_label("Password").fill("not the password at all")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#e-f-password")).to_have_text(
            "The e-mail address or the password is wrong."
        )
        await page.get_by_label("Password").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Code", exact=True).fill(await fresh_code(seller))
        await page.get_by_role("button", name="Continue").click()
        await expect(page).to_have_url(re.compile(r"/console/orders$"))
        nav = page.get_by_role("navigation", name="Console")
        await expect(nav.get_by_role("link", name="Key pools")).to_be_visible()
        await expect(page.locator("#results tbody tr").first).to_be_visible()
        await no_serious_axe_violations(page)

        # a server's refusal lands next to its field
        search = page.get_by_label("Order number, e-mail or trade number")
        await search.fill("x" * 255)
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#e-f-q")).to_contain_text("254")
        await expect(search).to_have_attribute("aria-invalid", "true")

        await search.fill(email.lower())
        await page.get_by_role("button", name="Search").click()
        rows = page.locator("#results tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text(email)
        await rows.first.get_by_role("link", name=order["order_no"]).click()

        timeline = page.locator("#timeline li")
        await expect(timeline.filter(has_text=re.compile(r"Payment \S*25\.00 via sandbox"))).to_have_count(1)
        await expect(timeline.filter(has_text="Placed: Being checked")).to_contain_text("by the buyer")
        await expect(timeline.filter(has_text="Status: Awaiting payment → Paid, delivering")).to_contain_text(
            "by the payment provider"
        )
        await expect(page.locator('[data-fact="buyer"]')).to_have_text(email)
        await no_serious_axe_violations(page)

        await nav.get_by_role("link", name="Manual queue").click()
        task = page.locator("li.task").filter(has_text=order["order_no"])
        await expect(task).to_contain_text("account: hero-42")
        await no_serious_axe_violations(page)
        await task.get_by_role("button", name="Claim").click()
        await expect(task).to_contain_text(f"Claimed by {seller.email}")
        await task.get_by_role("button", name="Deliver").click()
        await expect(task.locator(".field-error")).to_have_text("Fill this in.")
        await task.get_by_label("What the buyer receives").fill("500 gold sent to hero-42")
        await task.get_by_role("button", name="Deliver").click()
        await expect(task).to_have_count(0)
        view = await wait_for_status(platform, order, "delivered")
        assert [item["content"] for item in view["items"]] == ["500 gold sent to hero-42"]

        await page.goto(f"/console/orders/{order['order_no']}")
        await expect(timeline.filter(has_text="Status: Paid, delivering → Delivered")).to_contain_text(
            "by delivery"
        )
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(re.compile(r"/console/sign-in"))
        await lands_on_sign_in(page, "/console/orders")


async def test_a_support_member_sets_up_from_the_emailed_link_and_cannot_reach_key_export(
    platform: Platform, browser: Browser, manual_product: str
) -> None:
    email, token = await invited(platform, "support")
    async with console(browser, platform, "support") as context:
        page = await context.new_page()
        await page.goto(f"/console/setup?token={token}")
        await expect(page.get_by_role("heading", name="Set up your account")).to_be_visible()
        await no_serious_axe_violations(page)
        password = page.get_by_label("New password")
        await password.fill("short")
        await page.get_by_role("button", name="Save the password").click()
        await expect(page.locator("#e-f-new_password")).to_contain_text("10 characters")
        await password.fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Save the password").click()
        await expect(page.locator("#action-result")).to_have_text("Done. You can sign in now.")

        await lands_on_sign_in(page, "/console/orders")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Password").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()  # support needs no second factor
        await expect(page).to_have_url(re.compile(r"/console/orders$"))
        nav = page.get_by_role("navigation", name="Console")
        await expect(nav.get_by_role("link", name="Manual queue")).to_be_visible()
        await expect(nav.get_by_role("link", name="Key pools")).to_have_count(0)
        answer = await page.goto("/console/keys")
        assert answer is not None and answer.status == 403
        await expect(page.locator("main")).to_contain_text("Your role in this shop cannot open this page.")
        export = await page.request.get(f"/api/admin/products/{manual_product}/keys/unsold", headers=SHOP)
        assert export.status == 403 and (await export.json())["error"] == "not_allowed"


async def test_an_invited_owner_sets_the_password_then_must_turn_on_two_step_sign_in_before_anything_else(
    platform: Platform, browser: Browser
) -> None:
    email, token = await invited(platform, "owner")
    async with console(browser, platform, "owner-setup") as context:
        page = await context.new_page()
        await page.goto(f"/console/setup?token={token}")
        await page.get_by_label("New password").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Save the password").click()
        await expect(page.locator("#action-result")).to_have_text("Done. You can sign in now.")
        await lands_on_sign_in(page, "/console/orders")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Password").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(re.compile(r"/console/totp$"))  # sent from the orders page
        await expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
        secret = page.locator("[data-totp-secret]")
        await expect(secret).not_to_be_empty()
        await no_serious_axe_violations(page)
        app = pyotp.TOTP(await secret.inner_text())
        code = page.get_by_label("The code the app shows")
        now = datetime.now(UTC).timestamp()
        accepted = {app.at(now + step * app.interval) for step in (-1, 0, 1)}
        await code.fill(next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted))
        await page.get_by_role("button", name="Turn it on").click()
        wrong = "That code is not right, or it was used already."
        await expect(page.locator("#e-f-code")).to_have_text(wrong)
        await code.fill(app.now())
        await page.get_by_role("button", name="Turn it on").click()
        await expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
        await page.get_by_role("link", name="Continue to the console").click()
        await expect(page).to_have_url(re.compile(r"/console/orders$"))
        await expect(page.locator("#results tbody tr").first).to_be_visible()  # the API lets them in now
        await expect(page.locator("#form-error")).to_be_empty()


async def test_a_console_page_without_a_session_or_with_an_ended_one_lands_on_sign_in(
    platform: Platform, browser: Browser
) -> None:
    ended = await member(platform, "viewer")
    async with ended.client() as api:
        assert (await api.post("/api/console/sign-out")).status_code == 204
    async with console(browser, platform, "no-session") as context:
        page = await context.new_page()
        for path in ("/console/orders", "/console/manual-queue", "/console/orders/NO-SUCH", "/console/keys"):
            await lands_on_sign_in(page, path)
    async with console(browser, platform, "ended-session", person=ended) as context:
        page = await context.new_page()
        await lands_on_sign_in(page, "/console/manual-queue")
        async with httpx.AsyncClient(base_url=platform.gateway, cookies=ended.cookies) as stale:
            assert (await stale.get("/api/console/me")).status_code == 401


async def test_the_console_in_chinese_shows_no_english_msgid(
    platform: Platform, browser: Browser, seller: ConsolePerson, manual_product: str
) -> None:
    english = translated_msgids()
    order = await paid_manual_order(platform, manual_product, f"zh-{uuid.uuid4().hex[:6]}@example.com")
    async with console(browser, platform, "zh-sign-in", "zh-CN") as context:
        page = await context.new_page()
        await lands_on_sign_in_in_chinese(page)
        text = await body_text(page)
        assert [msgid for msgid in english if msgid in text] == []
    async with console(browser, platform, "zh", "zh-CN", person=seller) as context:
        page = await context.new_page()
        ready = {
            "/console/orders": "#results tbody tr",
            f"/console/orders/{order['order_no']}": "#timeline li",
            "/console/manual-queue": "li.task",
        }
        await show_no_english(page, ready)
        await expect(page.get_by_role("link", name="人工发货队列")).to_be_visible()


def translated_msgids() -> list[str]:
    """The English msgids the zh-CN catalog translates (those with a word of three letters or more): none of
    them may show on a page served in zh-CN."""
    chinese = catalog("zh-CN")
    assert chinese is not None
    return [str(m.id) for m in chinese if m.id and m.string != m.id and re.search(r"[a-z]{3}", str(m.id))]


async def body_text(page: Page) -> str:
    text: str = await page.locator("body").inner_text()
    return text


def text_without(data: str) -> Callable[[Page], Awaitable[str]]:
    """What reads a page's words: its text without the nodes `data` selects (names, e-mails, entries)."""

    async def words(page: Page) -> str:
        text: str = await page.evaluate(
            """(data) => { const copy = document.body.cloneNode(true);
            copy.querySelectorAll(data).forEach((node) => node.remove()); return copy.innerText; }""",
            data,
        )
        return text

    return words


async def show_no_english(
    page: Page, ready: Mapping[str, str], text_of: Callable[[Page], Awaitable[str]] = body_text
) -> None:
    """Open each console page (path: a selector shown once its data is in) in zh-CN: the page says it is
    zh-CN, shows no translated English msgid in `text_of` it, and axe finds no serious violation."""
    english = translated_msgids()
    for path, loaded in ready.items():
        await page.goto(path)
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator(loaded).first).to_be_visible()
        text = await text_of(page)
        left = {
            msgid: text[max(0, text.index(msgid) - 40) : text.index(msgid) + 40]
            for msgid in english
            if msgid in text
        }
        assert left == {}, f"English left on {path} (with what is around it): {left}"
        await no_serious_axe_violations(page)


async def lands_on_sign_in_in_chinese(page: Page) -> None:
    await page.goto("/console/orders")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
