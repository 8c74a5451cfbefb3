"""A buyer who lost the order's link gets it again by e-mail, end to end: the gateway answers 202, the order
service stages OrderLinkRequested when the address is the order's, notification has a token issued for the
order's current secret and e-mails the link, which opens the order. A wrong address gets the same 202 and
no e-mail. Every service runs as its own process over real Kafka, Postgres, Redis and SMTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from faka_common.testing import eventually

from .e2e_platform import SERVICES, Platform, body_text, running_platform
from .test_sale import create_product, place_order, wait_for_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def ask_for_link(platform: Platform, order_no: str, email: str) -> httpx.Response:
    async with platform.storefront() as shop:
        return await shop.post(f"/api/v1/orders/{order_no}/link-emails", json={"email": email})


async def link_requests_staged(platform: Platform, order_no: str) -> int:
    """OrderLinkRequested rows in the order service's outbox for the order (every e-mail comes from one)."""
    connection = await asyncpg.connect(platform.database("order"))
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'OrderLinkRequested' AND convert_from(value, 'UTF8') "
            "LIKE '%' || $1 || '%'",
            order_no,
        )
    finally:
        await connection.close()
    return int(count)


async def emailed_link(platform: Platform, email: str, order_no: str) -> str:
    async def arrived() -> list[Any] | None:
        return platform.mailbox.to(email) or None

    [mail] = await eventually(arrived, timeout=30)
    text = body_text(mail)
    links = re.findall(rf"{re.escape(platform.gateway)}/orders/{order_no}\?token=[A-Za-z0-9_-]+", text)
    assert links, text
    assert len(set(links)) == 1 and text.count("token=") == len(links)  # one link, nothing else secret
    return str(links[0])


async def test_a_buyer_who_asks_gets_one_email_whose_link_opens_the_order_after_a_rotation(
    platform: Platform,
) -> None:
    product_id = await create_product(platform, [f"LINK-{uuid.uuid4().hex}"], title="Lost link")
    email = f"buyer-{uuid.uuid4().hex[:6]}@example.com"
    order = await place_order(platform, product_id, email)
    await wait_for_status(platform, order, "awaiting_payment")
    async with platform.admin() as admin:  # the seller revoked the first link: the new one must still work
        rotated = await admin.post(f"/api/admin/orders/{order['order_no']}/secret-rotations")
    assert rotated.status_code == 201, rotated.text

    answer = await ask_for_link(platform, order["order_no"], email.upper())
    assert answer.status_code == 202 and answer.json() == {"status": "accepted"}

    link = await emailed_link(platform, email, order["order_no"])
    [token] = parse_qs(urlsplit(link).query)["token"]
    async with platform.storefront() as shop:
        view = await shop.get(f"/api/v1/orders/{order['order_no']}", params={"token": token})
        page = await shop.get(urlsplit(link).path, params={"token": token})
        first = await shop.get(f"/api/v1/orders/{order['order_no']}", params={"token": order["token"]})
    assert view.status_code == 200 and view.json()["order_no"] == order["order_no"]
    assert page.status_code == 200 and order["order_no"] in page.text
    assert first.status_code == 404  # the rotated-away token stays revoked
    assert len(platform.mailbox.to(email)) == 1
    logged = [s for s in SERVICES if token in (platform.logs / f"{s}.log").read_text(errors="replace")]
    assert logged == []  # the link travelled in bodies only, never in a logged URL


async def test_a_wrong_address_gets_the_same_answer_and_no_email(platform: Platform) -> None:
    product_id = await create_product(platform, [f"LINK-{uuid.uuid4().hex}"], title="Not yours")
    email = f"buyer-{uuid.uuid4().hex[:6]}@example.com"
    stranger = f"stranger-{uuid.uuid4().hex[:6]}@example.com"
    order = await place_order(platform, product_id, email)
    await wait_for_status(platform, order, "awaiting_payment")

    wrong = await ask_for_link(platform, order["order_no"], stranger)
    unknown = await ask_for_link(platform, "F20990101000000ZZZZZZ", email)
    right = await ask_for_link(platform, order["order_no"], email)
    assert wrong.status_code == unknown.status_code == right.status_code == 202
    assert wrong.content == unknown.content == right.content

    # the right request's e-mail arrives through the outbox, Kafka and notification, long after the wrong
    # request was handled: by then the outbox holds every e-mail the order will ever get from these three
    await emailed_link(platform, email, order["order_no"])
    assert await link_requests_staged(platform, order["order_no"]) == 1
    assert len(platform.mailbox.to(email)) == 1
    assert platform.mailbox.to(stranger) == []
