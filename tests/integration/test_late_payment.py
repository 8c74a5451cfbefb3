"""The late-payment policy end to end (DESIGN.md section 4): a payment that lands after its order expired and
its key was sold is refunded automatically and the seller is told; never a silent loss, never a key twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from faka_common.testing import eventually

from .e2e_platform import Platform, body_text, running_platform
from .test_sale import create_product, notification, notify, place_order, stock, wait_for_status

pytestmark = pytest.mark.integration

SELLER = "seller@shop.example"


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    short_window = {
        "PAYMENT_WINDOW_SECONDS": "4",
        "AUTO_REFUND_INTERVAL_SECONDS": "0.5",
        "SELLER_EMAIL": SELLER,
        "SELLER_LOCALE": "en",
    }
    async with running_platform(infrastructure, **short_window) as running:
        yield running


async def test_a_payment_after_the_key_was_sold_is_refunded_automatically_and_the_seller_told(
    platform: Platform,
) -> None:
    key = f"LAST-{uuid.uuid4().hex[:10].upper()}"
    product_id = await create_product(platform, [key], title="Last key")
    late_email = f"late-{uuid.uuid4().hex[:6]}@example.com"
    late = await place_order(platform, product_id, late_email)
    await wait_for_status(platform, late, "awaiting_payment")
    await wait_for_status(platform, late, "expired")

    async def released() -> bool:
        return (await stock(platform, product_id))["available"] == 1

    await eventually(released, timeout=30)
    prompt = await place_order(platform, product_id, f"prompt-{uuid.uuid4().hex[:6]}@example.com")
    await wait_for_status(platform, prompt, "awaiting_payment")
    assert (await notify(platform, notification(platform, prompt))).json()["result"] == "accepted"
    sold = await wait_for_status(platform, prompt, "delivered")
    assert [item["content"] for item in sold["items"]] == [key]

    payment = notification(platform, late)
    answer = await notify(platform, payment)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "accepted"
    refunded = await wait_for_status(platform, late, "refunded")
    assert refunded.get("items") is None
    assert (await notify(platform, payment)).json()["result"] == "duplicate"

    async def seller_told() -> bool:
        return any(late["order_no"] in str(m["Subject"]) for m in platform.mailbox.to(SELLER))

    await eventually(seller_told, timeout=30)
    alerts = [m for m in platform.mailbox.to(SELLER) if late["order_no"] in str(m["Subject"])]
    assert len(alerts) == 1
    assert "refunding it automatically" in str(alerts[0]["Subject"])
    assert key not in body_text(alerts[0])

    async def buyer_told() -> bool:
        return len(platform.mailbox.to(late_email)) >= 1

    await eventually(buyer_told, timeout=30)
    assert all(key not in body_text(m) for m in platform.mailbox.to(late_email))
    assert await stock(platform, product_id) == {"available": 0, "reserved": 0, "sold": 1}
