"""The console's ticket pages in a real headless Chromium (the console's browser set-up) against the whole
platform, delivery sweeping ticket deadlines every second: a buyer opens a ticket about a delivered order,
the shop's owner keeps a canned reply and answers the ticket with it from the ticket's page, and the buyer
reads the answer on the order's help page; a ticket past its deadline shows as overdue, and past its
escalation deadline goes to the platform, whose staff find it in the platform queue; a viewer sees the
tickets without any write action and the API answers 403; axe-core finds no serious or critical violation;
in zh-CN the pages' own words are all Chinese. The buyer asks the platform to step in from the order's help
page (a field error first, then the ticket shown as the platform's); the platform's staff set the platform's
deadlines (L3) on their page, which a shop's owner is not shown. Deadlines are moved into the past in
delivery's database rather than waited for (the shortest timer is five minutes)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn
from playwright.async_api import Browser, Page, expect

from .e2e_platform import ConsolePerson, Platform, running_platform
from .test_aftersales import delivered
from .test_console_browser import console, member, show_no_english
from .test_storefront_browser import browser, buyer, no_serious_axe_violations

__all__ = ["browser"]

pytestmark = pytest.mark.integration

SHOP = {"X-Shop-Id": str(DEFAULT_SHOP_ID)}
DISPUTE = "The shop says the key works, but the game refuses it."
CANNED = "Open Steam, choose Games, then Activate a Product on Steam and paste the key."
#: What the pages show that is data, not the page's words (messages, canned replies, people).
DATA = "#messages p, #canned p, #canned h2, .person, option:not([value=''])"


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure, TICKET_SWEEP_SECONDS="1") as running:
        yield running


@pytest.fixture(scope="module")
async def owner(platform: Platform) -> ConsolePerson:
    return await member(platform, "owner")


async def opened_ticket(platform: Platform, message: str = "The game says the key is not valid here.") -> Any:
    """A delivered order of the default shop and its buyer's ticket (category other: the shop answers)."""
    order, _, _, _ = await delivered(platform, keys=2)
    async with platform.storefront() as shop:
        answer = await shop.post(
            f"/api/v1/orders/{order['order_no']}/tickets",
            json={"token": order["token"], "category": "other", "message": message},
        )
    assert answer.status_code == 201, answer.text
    return order, answer.json()["ticket_id"]


async def past_due(platform: Platform, ticket_id: str, deadline: str) -> None:
    """Move the ticket's `deadline` (response_due or escalation_due) a minute into the past."""
    db = await asyncpg.connect(asyncpg_dsn(platform.database("delivery")))
    try:
        await db.execute(
            f"UPDATE tickets SET {deadline} = now() - interval '1 minute',"
            " next_due_at = now() - interval '1 minute' WHERE id = $1",
            uuid.UUID(ticket_id),
        )
    finally:
        await db.close()


async def page_words(page: Page) -> str:
    text: str = await page.evaluate(
        """(data) => { const copy = document.body.cloneNode(true);
        copy.querySelectorAll(data).forEach((node) => node.remove()); return copy.innerText; }""",
        DATA,
    )
    return text


async def test_the_seller_answers_with_a_canned_reply_and_the_buyer_reads_it_on_the_help_page(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    order, ticket_id = await opened_ticket(platform)
    async with console(browser, platform, "tickets", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/orders")
        await page.get_by_role("link", name="Tickets", exact=True).first.click()
        await page.get_by_role("link", name="Canned replies").click()
        await page.get_by_label("Language of the reply").select_option("en")
        await page.get_by_label("Title").fill("Activate on Steam")
        await page.get_by_label("Message").fill(CANNED)
        await page.get_by_role("button", name="Save the canned reply").click()
        await expect(page.locator("#action-result")).to_have_text("The canned reply is saved.")
        await expect(page.locator("#canned li")).to_have_count(1)
        await no_serious_axe_violations(page)

        await page.goto("/console/tickets")
        await page.get_by_role("link", name=f"Open ticket {order['order_no']}").click()
        await expect(page.locator("#messages li")).to_have_count(1)
        await expect(page.locator('[data-fact="level"]')).to_have_text("L2: the shop's support")
        await page.get_by_label("Canned reply").select_option(label="Activate on Steam (In English)")
        await expect(page.get_by_label("Message", exact=True)).to_have_value(CANNED)
        await no_serious_axe_violations(page)
        await page.get_by_role("button", name="Send the answer").click()
        await expect(page.locator("#action-result")).to_have_text("Your answer is sent.")
        await expect(page.locator("#messages li")).to_have_count(2)
        await expect(page.locator('[data-fact="status"]')).to_have_text("Answered")

        buyer = await context.new_page()
        await buyer.goto(f"/orders/{order['order_no']}/support?token={order['token']}")
        await expect(buyer.get_by_text(CANNED)).to_be_visible()
    async with platform.admin() as admin:
        thread = (await admin.get(f"/api/admin/tickets/{ticket_id}", headers=SHOP)).json()
    assert [m["author"] for m in thread["messages"]] == ["buyer", "shop"]


async def test_an_overdue_ticket_shows_as_overdue_then_goes_to_the_platforms_queue(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    order, ticket_id = await opened_ticket(platform)
    await past_due(platform, ticket_id, "response_due")
    async with console(browser, platform, "tickets-overdue", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/tickets")
        await page.get_by_label("Only overdue tickets").check()
        link = page.get_by_role("link", name=f"Open ticket {order['order_no']}")
        row = page.locator("#tickets tbody tr", has=link)
        # the sweep runs every second: ask again until it has marked the ticket. The row's text is what is
        # waited for, not the row: the list shown before the click (every open ticket) has the row too.
        for _ in range(20):
            await page.get_by_role("button", name="Show").click()
            try:
                await expect(row).to_contain_text("Overdue", timeout=1000)
                break
            except AssertionError:
                continue
        await expect(row).to_contain_text("Overdue")
        await no_serious_axe_violations(page)

        await past_due(platform, ticket_id, "escalation_due")
        await row.get_by_role("link").click()
        level = page.locator('[data-fact="level"]')
        for _ in range(20):
            if await level.text_content() == "L3: the platform":
                break
            await page.wait_for_timeout(500)
            await page.reload()
        await expect(level).to_have_text("L3: the platform")
        await expect(page.locator('[data-fact="reason"]')).to_have_text(
            "The shop's deadlines passed: the platform took it"
        )
        await expect(page.locator("#escalate")).to_be_hidden()
        await expect(page.locator("#f-resolve")).to_be_hidden()
    assert platform.operator is not None
    async with console(browser, platform, "tickets-platform", person=platform.operator) as context:
        page = await context.new_page()
        await page.goto("/console/tickets/platform")
        link = page.get_by_role("link", name=f"Open ticket {order['order_no']}")
        await expect(link).to_be_visible()
        await no_serious_axe_violations(page)
        await link.click()
        await expect(page.locator('[data-fact="level"]')).to_have_text("L3: the platform")
        await page.get_by_label("Message", exact=True).fill("The platform refunds this order.")
        await page.get_by_label("Close the ticket as solved with this answer").check()
        await page.get_by_role("button", name="Send the answer").click()
        await expect(page.locator('[data-fact="status"]')).to_have_text("Solved")
        await expect(page.locator('#messages li[data-author="platform"]')).to_have_count(1)


async def test_a_viewer_reads_the_tickets_without_write_actions_and_the_api_refuses_it(
    platform: Platform, browser: Browser
) -> None:
    _, ticket_id = await opened_ticket(platform)
    viewer = await member(platform, "viewer")
    async with console(browser, platform, "tickets-viewer", person=viewer) as context:
        page = await context.new_page()
        await page.goto(f"/console/tickets/{ticket_id}")
        await expect(page.locator("#messages li")).to_have_count(1)
        await expect(page.locator("form#reply, form#escalate")).to_have_count(0)
        await page.goto("/console/tickets/canned")
        await expect(page.locator("form#canned-form, form#sla-form")).to_have_count(0)
    async with viewer.client() as api:
        answered = await api.post(
            f"/api/admin/tickets/{ticket_id}/replies", json={"message": "Hi"}, headers=SHOP
        )
        canned = await api.post(
            "/api/admin/canned-replies", json={"language": "en", "title": "T", "message": "M"}, headers=SHOP
        )
    assert (answered.status_code, canned.status_code) == (403, 403)


async def test_the_ticket_pages_in_chinese_show_no_english_words(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    _, ticket_id = await opened_ticket(platform, "卡密无法使用")
    async with owner.client() as api:
        added = await api.post(
            "/api/admin/canned-replies",
            json={"language": "zh-CN", "title": "激活方法", "message": "打开 Steam，点击激活产品。"},
            headers=SHOP,
        )
        assert added.status_code == 201, added.text
    async with console(browser, platform, "tickets-zh", "zh-CN", person=owner) as context:
        page = await context.new_page()
        ready = {
            "/console/tickets": "#tickets tbody tr",
            f"/console/tickets/{ticket_id}": "#messages li",
            "/console/tickets/canned": "#canned li",
        }
        await show_no_english(page, ready, page_words)
        await expect(page.get_by_role("link", name="工单").first).to_be_visible()


async def test_how_to_use_is_answered_at_once_with_the_products_instructions_on_the_help_page(
    platform: Platform,
) -> None:
    order, _, _, product_id = await delivered(platform, keys=2)
    instructions = "Open the launcher, choose Redeem a code and paste the key."
    async with platform.admin() as admin:
        changed = await admin.patch(
            f"/api/admin/products/{product_id}", json={"usage_instructions": instructions}, headers=SHOP
        )
        assert changed.status_code == 200, changed.text
    async with platform.storefront() as shop:
        opened = await shop.post(
            f"/api/v1/orders/{order['order_no']}/tickets",
            json={"token": order["token"], "category": "how_to_use", "message": "How do I use it?"},
        )
        assert opened.status_code == 201, opened.text
        page = await shop.get(
            f"/orders/{order['order_no']}/support",
            params={"token": order["token"]},
            headers={"Accept-Language": "en"},
        )
    ticket = opened.json()
    assert ticket["status"] == "answered"
    assert [(m["author"], m["answer"]) for m in ticket["messages"]] == [("buyer", False), ("system", True)]
    assert instructions in ticket["messages"][1]["body"]
    assert page.status_code == 200 and instructions in page.text and "Automatic answer" in page.text


async def test_the_buyer_asks_the_platform_to_step_in_from_the_help_page_and_sees_the_platform_has_it(
    platform: Platform, browser: Browser
) -> None:
    order, ticket_id = await opened_ticket(platform)
    help_page = f"/orders/{order['order_no']}/support?token={order['token']}"
    async with buyer(browser, platform, "ask-platform", "en-US") as context:
        page = await context.new_page()
        await page.goto(help_page)
        article = page.locator(f"#ticket-{ticket_id}")
        await article.get_by_text("Ask the platform to step in").click()
        why = article.get_by_label("Why should the platform look at it?")
        await expect(why).to_be_visible()
        await no_serious_axe_violations(page)

        await article.get_by_role("button", name="Ask the platform", exact=True).click()  # nothing said
        await expect(why).to_have_attribute("aria-invalid", "true")
        await expect(article.locator(".field-error")).to_have_text(
            "Write a message of up to 4000 characters."
        )
        await why.fill("The shop says the key works, but the game refuses it.")
        await article.get_by_role("button", name="Ask the platform", exact=True).click()

        await expect(article).to_contain_text("The platform looks at this dispute and will answer here.")
        await expect(
            article.get_by_text("The shop says the key works, but the game refuses it.")
        ).to_be_visible()
        await expect(article.get_by_text("Ask the platform to step in")).to_have_count(0)
        await no_serious_axe_violations(page)
    async with platform.admin() as admin:
        thread = (await admin.get(f"/api/admin/tickets/{ticket_id}", headers=SHOP)).json()
    assert (thread["level"], thread["reason"]) == ("L3", "escalation_requested")
    assert [m["author"] for m in thread["messages"]] == ["buyer", "buyer"]

    other_order, _ = await opened_ticket(platform, "卡密无法使用")
    async with buyer(browser, platform, "ask-platform-zh", "zh-CN") as context:
        page = await context.new_page()
        await page.goto(f"/orders/{other_order['order_no']}/support?token={other_order['token']}")
        await expect(page.get_by_text("请平台介入")).to_be_visible()
        words = await page.locator("main").inner_text()
        assert "Ask the platform" not in words and "Why should the platform" not in words


async def test_platform_staff_set_the_platforms_deadlines_on_their_page_which_a_shop_owner_is_not_shown(
    platform: Platform, browser: Browser, owner: ConsolePerson
) -> None:
    assert platform.operator is not None
    async with console(browser, platform, "platform-sla", person=platform.operator) as context:
        page = await context.new_page()
        await page.goto("/console/tickets/platform")
        await page.get_by_role("link", name="Platform deadlines").click()
        form = page.locator("#sla-form")
        await expect(form).to_have_attribute("aria-busy", "false")
        first, solved = (
            page.get_by_label("First answer within (minutes)"),
            page.get_by_label("Solved within (minutes)"),
        )
        await expect(first).to_have_value("480")
        await expect(solved).to_have_value("4320")
        await no_serious_axe_violations(page)

        await first.fill("2")
        await page.get_by_role("button", name="Save the deadlines").click()
        await expect(first).to_have_attribute("aria-invalid", "true")
        await first.fill("120")
        await solved.fill("1440")
        await page.get_by_role("button", name="Save the deadlines").click()
        await expect(page.locator("#action-result")).to_have_text("The timers are saved.")
        await page.reload()
        await expect(form).to_have_attribute("aria-busy", "false")
        await expect(first).to_have_value("120")
        await expect(solved).to_have_value("1440")
    async with platform.admin() as api:
        stored = (await api.get("/api/platform/ticket-sla")).json()
        assert (stored["first_response_minutes"], stored["resolution_minutes"]) == (120, 1440)
        assert (await api.put("/api/platform/ticket-sla", json={})).status_code == 200  # the defaults again

    async with console(browser, platform, "platform-sla-zh", "zh-CN", person=platform.operator) as context:
        page = await context.new_page()
        await show_no_english(
            page, {"/console/tickets/platform-sla": '#sla-form[aria-busy="false"]'}, page_words
        )
    async with console(browser, platform, "platform-sla-owner", person=owner) as context:
        page = await context.new_page()
        await page.goto("/console/tickets")
        await expect(page.get_by_role("link", name="Canned replies")).to_be_visible()
        await expect(page.get_by_role("link", name="Platform deadlines")).to_have_count(0)
        refused = await page.goto("/console/tickets/platform-sla")
        assert refused is not None and refused.status == 403
