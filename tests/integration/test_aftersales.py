"""After-sales end to end, through the gateway's HTTP, over real Kafka, Postgres and SMTP with every service
its own process: a buyer reports an invalid key and gets another one on the order page and by e-mail within
seconds, once however many reports race; outside the product's policy or with an empty pool the ticket waits
for the shop with the reason the buyer is shown; another shop's tickets are not found; bad input is a 4xx
naming the field."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faka_common.testing import eventually

from .e2e_platform import Platform, body_text, running_platform
from .test_sale import notification, notify, order_view, place_order, stock, wait_for_status
from .test_shops import open_shop, stocked_product

pytestmark = pytest.mark.integration
REPLACED_WITHIN = 30.0  # seconds: the promise for an automatic replacement


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def delivered(
    platform: Platform, keys: int, **policy: Any
) -> tuple[dict[str, Any], str, list[str], str]:
    """A delivered order of one key from a fresh pool of `keys` keys: (order, its key, the pool, product);
    the order's `email` is where its buyer's mail goes."""
    pool = [f"AS-{uuid.uuid4().hex[:12].upper()}" for _ in range(keys)]
    product_id = await stocked_product(platform, None, "After-sales card", pool)
    if policy:
        async with platform.admin() as admin:
            changed = await admin.patch(f"/api/admin/products/{product_id}", json=policy)
            assert changed.status_code == 200, changed.text
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    order = {**await place_order(platform, product_id, email), "email": email}
    await wait_for_status(platform, order, "awaiting_payment")
    assert (await notify(platform, notification(platform, order))).status_code == 200
    [item] = (await wait_for_status(platform, order, "delivered"))["items"]
    return order, item["content"], pool, product_id


async def report(platform: Platform, order: dict[str, Any], **fields: Any) -> Any:
    body = {
        "token": order["token"],
        "category": "key_invalid",
        "message": "It says already redeemed.",
        **fields,
    }
    async with platform.storefront() as shop:
        return await shop.post(f"/api/v1/orders/{order['order_no']}/tickets", json=body)


async def tickets(platform: Platform, order: dict[str, Any]) -> list[dict[str, Any]]:
    async with platform.storefront() as shop:
        listed = await shop.get(
            f"/api/v1/orders/{order['order_no']}/tickets", params={"token": order["token"]}
        )
    assert listed.status_code == 200, listed.text
    found: list[dict[str, Any]] = listed.json()["items"]
    return found


async def settled(platform: Platform, order: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The order's tickets once `count` of them no longer wait for the system."""

    async def done() -> list[dict[str, Any]] | None:
        found = await tickets(platform, order)
        return (
            found
            if sum(t["waiting_for"] == "shop" or t["status"] == "resolved" for t in found) == count
            else None
        )

    answered: list[dict[str, Any]] = await eventually(done, timeout=REPLACED_WITHIN, interval=0.2)
    return answered


async def test_a_reported_key_is_replaced_on_the_page_and_by_email_and_a_second_report_goes_to_the_shop(
    platform: Platform,
) -> None:
    order, bad_key, pool, product_id = await delivered(platform, keys=3)
    opened = await report(platform, order, key=bad_key)
    assert opened.status_code == 201, opened.text
    assert opened.json()["waiting_for"] == "system"

    [ticket] = await settled(platform, order, 1)
    assert ticket["status"] == "resolved" and ticket["reason"] is None
    view = await order_view(platform, order["order_no"], order["token"])
    [new_key] = [item["content"] for item in view["items"]]
    assert new_key != bad_key and new_key in pool
    assert await stock(platform, product_id) == {"available": 1, "reserved": 0, "sold": 1}

    async def replacement_mail() -> list[Any] | None:
        return [m for m in platform.mailbox.to(order["email"]) if new_key in body_text(m)] or None

    [mail] = await eventually(replacement_mail, timeout=REPLACED_WITHIN, interval=0.2)
    assert order["order_no"] in body_text(mail) and bad_key not in body_text(mail)

    again = await report(platform, order, key=bad_key)
    assert again.status_code == 201, again.text
    assert (again.json()["waiting_for"], again.json()["reason"]) == ("shop", "key_already_reported")
    assert await stock(platform, product_id) == {"available": 1, "reserved": 0, "sold": 1}
    view = await order_view(platform, order["order_no"], order["token"])
    assert [item["content"] for item in view["items"]] == [new_key]


async def test_twenty_concurrent_reports_of_one_key_replace_it_once(platform: Platform) -> None:
    order, bad_key, _, product_id = await delivered(platform, keys=4)

    answers = await asyncio.gather(*(report(platform, order, key=bad_key) for _ in range(20)))

    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    found = await settled(platform, order, 20)
    assert sum(t["status"] == "resolved" for t in found) == 1
    assert sorted(t["reason"] for t in found if t["status"] != "resolved") == ["key_already_reported"] * 19
    assert await stock(platform, product_id) == {"available": 2, "reserved": 0, "sold": 1}


@pytest.mark.parametrize(
    ("keys", "policy", "reason", "shown"),
    [
        (
            3,
            {"replacement_window_hours": 0},
            "outside_window",
            "The time for an automatic replacement has passed",
        ),
        (1, {}, "out_of_stock", "No replacement key is in stock right now"),
    ],
)
async def test_outside_the_window_or_with_an_empty_pool_the_ticket_waits_for_the_shop_with_the_reason(
    platform: Platform, keys: int, policy: dict[str, Any], reason: str, shown: str
) -> None:
    order, bad_key, _, _ = await delivered(platform, keys=keys, **policy)
    opened = await report(platform, order, key=bad_key)
    assert opened.status_code == 201, opened.text

    [ticket] = await settled(platform, order, 1)

    assert (ticket["status"], ticket["waiting_for"], ticket["reason"]) == ("open", "shop", reason)
    view = await order_view(platform, order["order_no"], order["token"])
    assert [item["content"] for item in view["items"]] == [bad_key]
    async with platform.storefront() as shop:
        page = await shop.get(
            f"/orders/{order['order_no']}/support",
            params={"token": order["token"]},
            headers={"Accept-Language": "en"},
        )
    assert page.status_code == 200 and shown in page.text
    async with platform.admin() as admin:
        queue = await admin.get("/api/admin/tickets", params={"level": "L2"})
    assert queue.status_code == 200, queue.text
    assert ticket["ticket_id"] in {t["ticket_id"] for t in queue.json()["items"]}


async def test_the_shop_answers_on_its_queue_and_another_shops_ticket_ids_are_not_found(
    platform: Platform,
) -> None:
    order, _, _, _ = await delivered(platform, keys=2)
    body = {"token": order["token"], "category": "how_to_use", "message": "Where do I type it in?"}
    async with platform.storefront() as shop:
        opened = await shop.post(f"/api/v1/orders/{order['order_no']}/tickets", json=body)
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["ticket_id"]
    other = await open_shop(platform, "Other Cards")

    async with platform.admin() as admin:
        elsewhere = {"X-Shop-Id": other["shop_id"]}
        hidden = await admin.get(f"/api/admin/tickets/{ticket_id}", headers=elsewhere)
        unknown = await admin.get(f"/api/admin/tickets/{uuid.uuid4()}", headers=elsewhere)
        answered_elsewhere = await admin.post(
            f"/api/admin/tickets/{ticket_id}/replies", json={"message": "Not yours"}, headers=elsewhere
        )
        listed_elsewhere = await admin.get("/api/admin/tickets", headers=elsewhere)
        answered = await admin.post(
            f"/api/admin/tickets/{ticket_id}/replies", json={"message": "Steam > Games > Activate a product"}
        )
    assert hidden.status_code == unknown.status_code == answered_elsewhere.status_code == 404
    assert ticket_id not in listed_elsewhere.text
    assert answered.status_code == 200, answered.text

    [seen] = await tickets(platform, order)
    assert seen["status"] == "answered"
    # the installation's admin is the platform's staff and no member of the shop: its answer is the platform's
    assert [(m["author"], m["body"]) for m in seen["messages"]][-1] == (
        "platform",
        "Steam > Games > Activate a product",
    )


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"category": "angry"}, 422, "category"),
        ({"message": ""}, 422, "message"),
        ({"message": "x" * 4001}, 422, "message"),
        ({"key": "NOT-A-KEY-OF-THIS-ORDER"}, 422, "key"),
        ({"token": "guess"}, 404, "order"),
    ],
)
async def test_bad_ticket_input_is_a_4xx_naming_the_field(
    platform: Platform, change: dict[str, Any], status: int, field: str
) -> None:
    order, _, _, _ = await delivered(platform, keys=2)
    answer = await report(platform, order, **change)
    assert answer.status_code == status, answer.text
    assert field in answer.json()["message"].lower()
    assert await tickets(platform, order) == []


async def test_the_order_page_leads_to_the_help_page_whose_form_opens_a_ticket(platform: Platform) -> None:
    order, bad_key, _, _ = await delivered(platform, keys=3)
    chinese = {"Accept-Language": "zh-CN"}
    async with platform.storefront() as shop:
        page = await shop.get(
            f"/orders/{order['order_no']}", params={"token": order["token"]}, headers=chinese
        )
        assert f'href="orders/{order["order_no"]}/support?token=' in page.text
        empty = await shop.post(
            f"/orders/{order['order_no']}/support",
            data={"token": order["token"], "category": "key_invalid", "message": "  "},
            headers=chinese,
        )
        assert empty.status_code == 400 and "请填写留言" in empty.text
        sent = await shop.post(
            f"/orders/{order['order_no']}/support",
            data={"token": order["token"], "category": "key_invalid", "message": "无法激活", "key": bad_key},
            headers=chinese,
        )
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"/orders/{order['order_no']}/support?token={order['token']}"
    [ticket] = await settled(platform, order, 1)
    assert ticket["status"] == "resolved"
    async with platform.storefront() as shop:
        shown = await shop.get(sent.headers["location"], headers=chinese)
    assert shown.status_code == 200 and "无法激活" in shown.text and "已补发新卡密" in shown.text
