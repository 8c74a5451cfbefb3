"""The first automatic sale end to end, through HTTP, over real Kafka, Postgres and SMTP, with every
service running as its own process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faka_common.sandbox_payment import signed_notification
from faka_common.testing import eventually

from .e2e_platform import SERVICES, Platform, body_text, running_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def create_product(platform: Platform, keys: list[str], title: str = "Steam 50") -> str:
    async with platform.admin() as admin:
        created = await admin.post(
            "/api/admin/products",
            json={"title": title, "price": 4800, "currency": "CNY", "delivery_type": "card_key",
                  "usage_instructions": "Redeem in Steam"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        product_id: str = created.json()["product_id"]
        imported = await admin.post(
            f"/api/admin/products/{product_id}/keys",
            content="\n".join(keys).encode(),
            headers={"Content-Type": "text/plain"},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["imported"] == len(set(keys))
    return product_id


async def place_order(platform: Platform, product_id: str, email: str, quantity: int = 1) -> dict[str, Any]:
    async with platform.storefront() as shop:
        placed = await shop.post(
            "/api/v1/orders", json={"product_id": product_id, "quantity": quantity, "email": email}
        )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    return order


async def order_view(platform: Platform, order_no: str, token: str) -> dict[str, Any]:
    async with platform.storefront() as shop:
        response = await shop.get(f"/api/v1/orders/{order_no}", params={"token": token})
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def wait_for_status(
    platform: Platform, order: dict[str, Any], status: str, timeout: float = 45
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        view = await order_view(platform, order["order_no"], order["token"])
        return view if view["status"] == status else None

    try:
        view: dict[str, Any] = await eventually(reached, timeout=timeout, interval=0.1)
    except AssertionError:
        last = await order_view(platform, order["order_no"], order["token"])
        logs = "\n".join(f"--- {s}\n{platform.log_tail(s, 15)}" for s in SERVICES)
        raise AssertionError(f"order stuck in {last['status']!r}, wanted {status!r}\n{logs}") from None
    return view


def notification(platform: Platform, order: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    fields = {"order_no": order["order_no"], "trade_no": f"SBX{uuid.uuid4().hex}",
              "amount": order["amount"], "currency": order["currency"]}  # fmt: skip
    fields.update(overrides)
    return signed_notification(secret=platform.secrets["SANDBOX_SECRET"], **fields)


async def notify(platform: Platform, payload: dict[str, Any]) -> httpx.Response:
    async with platform.storefront() as shop:
        return await shop.post("/api/v1/payments/sandbox/notify", json=payload)


async def stock(platform: Platform, product_id: str) -> dict[str, int]:
    async with platform.admin() as admin:
        product = (await admin.get(f"/api/admin/products/{product_id}")).json()
    counts: dict[str, int] = product["stock"]
    return counts


async def test_ten_concurrent_payment_notifications_deliver_one_key_to_the_page_and_one_email(
    platform: Platform,
) -> None:
    keys = [f"STEAM-{uuid.uuid4().hex[:12].upper()}" for _ in range(3)]
    product_id = await create_product(platform, keys)
    email = f"buyer-{uuid.uuid4().hex[:6]}@example.com"
    order = await place_order(platform, product_id, email)
    assert order["status"] == "pending_risk"
    awaiting = await wait_for_status(platform, order, "awaiting_payment")
    assert awaiting["pay_url"].startswith(platform.gateway)
    assert (await stock(platform, product_id))["reserved"] == 1

    paid = notification(platform, order)
    answers = await asyncio.gather(*(notify(platform, paid) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    assert sorted(a.json()["result"] for a in answers) == ["accepted"] + ["duplicate"] * 9

    delivered = await wait_for_status(platform, order, "delivered")
    assert len(delivered["items"]) == 1
    key = delivered["items"][0]["content"]
    assert key in keys

    async def one_email() -> bool:
        return len(platform.mailbox.to(email)) >= 1

    await eventually(one_email, timeout=30)
    assert (await notify(platform, paid)).json()["result"] == "duplicate"
    assert await stock(platform, product_id) == {"available": 2, "reserved": 0, "sold": 1}
    mails = platform.mailbox.to(email)
    assert len(mails) == 1
    assert key in body_text(mails[0])
    assert order["order_no"] in body_text(mails[0])


async def test_order_lookup_without_the_right_secret_reveals_nothing(platform: Platform) -> None:
    product_id = await create_product(platform, [f"K-{uuid.uuid4().hex}"], title="Secret check")
    order = await place_order(platform, product_id, "someone@example.com")
    async with platform.storefront() as shop:
        wrong = await shop.get(f"/api/v1/orders/{order['order_no']}", params={"token": "guess"})
        missing = await shop.get(f"/api/v1/orders/{order['order_no']}")
        unknown = await shop.get("/api/v1/orders/F20990101000000ZZZZZZ", params={"token": "guess"})
    assert wrong.status_code == missing.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    assert order["token"] not in wrong.text


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 422, "json"),
        (
            b'{"product_id": "00000000-0000-0000-0000-000000000000", "quantity": 1, "email": "a@b.co"}',
            404,
            "product",
        ),
        (
            b'{"product_id": "00000000-0000-0000-0000-000000000000", "quantity": 0, "email": "a@b.co"}',
            422,
            "quantity",
        ),
        (
            b'{"product_id": "00000000-0000-0000-0000-000000000000", "quantity": -3, "email": "a@b.co"}',
            422,
            "quantity",
        ),
        (b'{"product_id": "not-a-uuid", "quantity": 1, "email": "a@b.co"}', 422, "product_id"),
    ],
)
async def test_bad_order_requests_get_a_clear_4xx(
    platform: Platform, body: bytes, status: int, says: str
) -> None:
    async with platform.storefront() as shop:
        response = await shop.post(
            "/api/v1/orders", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == status, response.text
    assert says in response.json()["message"].lower()


async def test_forged_stale_or_wrong_amount_notifications_change_nothing(platform: Platform) -> None:
    product_id = await create_product(platform, [f"K-{uuid.uuid4().hex}"], title="Forgery check")
    order = await place_order(platform, product_id, "victim@example.com")
    await wait_for_status(platform, order, "awaiting_payment")
    forged = notification(platform, order)
    forged["signature"] = "0" * 64
    stale = notification(platform, order, timestamp=1_600_000_000)
    cheap = notification(platform, order, amount=1)
    unknown = notification(platform, order, order_no="F20990101000000ZZZZZZ")
    for payload, status in [(forged, 400), (stale, 400), (cheap, 400), (unknown, 404)]:
        response = await notify(platform, payload)
        assert response.status_code == status, response.text
        assert response.json()["message"]
    async with platform.storefront() as shop:
        garbage = await shop.post(
            "/api/v1/payments/sandbox/notify", content=b"<xml/>", headers={"Content-Type": "text/xml"}
        )
    assert garbage.status_code == 400
    assert (await order_view(platform, order["order_no"], order["token"]))["status"] == "awaiting_payment"
    assert (await stock(platform, product_id))["sold"] == 0


@pytest.mark.parametrize("service", ["inventory", "order", "delivery", "notification"])
async def test_a_service_killed_mid_sale_catches_up_when_it_comes_back(
    platform: Platform, service: str
) -> None:
    product_id = await create_product(platform, [f"K-{uuid.uuid4().hex}"], title=f"Restart {service}")
    email = f"patient-{uuid.uuid4().hex[:6]}@example.com"
    order = await place_order(platform, product_id, email)
    await wait_for_status(platform, order, "awaiting_payment")
    paid = notification(platform, order)
    await platform.kill(service)
    try:
        answer = await notify(platform, paid)
        # with the order service down the gateway cannot take the payment: the provider retries later
        assert answer.status_code == (503 if service == "order" else 200), answer.text
    finally:
        await platform.restart(service)
    if service == "order":
        assert (await notify(platform, paid)).json()["result"] == "accepted"
    delivered = await wait_for_status(platform, order, "delivered", timeout=60)
    assert len(delivered["items"]) == 1

    async def emailed() -> bool:
        return len(platform.mailbox.to(email)) == 1

    await eventually(emailed, timeout=60)


async def test_a_buyer_cancels_an_unpaid_order_and_its_key_goes_back_on_sale(platform: Platform) -> None:
    product_id = await create_product(platform, [f"CANCEL-{uuid.uuid4().hex[:10]}"], title="Cancel me")
    order = await place_order(platform, product_id, f"undecided-{uuid.uuid4().hex[:6]}@example.com")
    await wait_for_status(platform, order, "awaiting_payment")
    assert (await stock(platform, product_id))["reserved"] == 1
    async with platform.storefront() as shop:
        path = f"/api/v1/orders/{order['order_no']}/cancel"
        forged = await shop.post(path, json={"token": order["token"][:-4] + "AAAA"})
        assert forged.status_code == 404, forged.text
        cancelled = await shop.post(path, json={"token": order["token"]})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        again = await shop.post(path, json={"token": order["token"]})
        assert again.status_code == 409, again.text

    async def released() -> bool:
        return await stock(platform, product_id) == {"available": 1, "reserved": 0, "sold": 0}

    await eventually(released, timeout=30)


async def test_a_buyer_picks_a_variant_from_the_storefront_and_gets_that_variants_key(
    platform: Platform,
) -> None:
    main_id = await create_product(platform, [f"V50-{uuid.uuid4().hex[:10]}"], title="Gift card ¥50")
    key = f"V100-{uuid.uuid4().hex[:10]}"
    async with platform.admin() as admin:
        created = await admin.post(
            "/api/admin/products",
            json={"title": "Gift card ¥100", "price": 9500, "currency": "CNY", "variant_of": main_id,
                  "variant_label": "¥100"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        variant_id = created.json()["product_id"]
        imported = await admin.post(
            f"/api/admin/products/{variant_id}/keys",
            content=key.encode(),
            headers={"Content-Type": "text/plain"},
        )
        assert imported.status_code == 200, imported.text
        refused = await admin.post(
            "/api/admin/products",
            json={"title": "Orphan", "price": 1, "variant_of": str(uuid.uuid4()), "variant_label": "x"},
        )
        assert refused.status_code == 404 and "names no product" in refused.text

    async def listed_with_its_variant() -> dict[str, Any] | None:
        async with platform.storefront() as shop:
            items = (await shop.get("/api/v1/products")).json()["items"]
        main = next((item for item in items if item["id"] == main_id), None)
        return main if main and len(main["variants"]) == 2 and main["variants"][1]["in_stock"] else None

    main = await eventually(listed_with_its_variant, timeout=30)
    assert [(v["id"], v["price"]) for v in main["variants"]] == [(main_id, 4800), (variant_id, 9500)]
    async with platform.storefront() as shop:
        items = (await shop.get("/api/v1/products")).json()["items"]
    assert variant_id not in {item["id"] for item in items}

    order = await place_order(platform, variant_id, f"variant-{uuid.uuid4().hex[:6]}@example.com")
    assert order["amount"] == 9500
    await wait_for_status(platform, order, "awaiting_payment")
    assert (await notify(platform, notification(platform, order))).json()["result"] == "accepted"
    delivered = await wait_for_status(platform, order, "delivered")
    assert [item["content"] for item in delivered["items"]] == [key]


async def read_events(response: httpx.Response, into: list[dict[str, Any]]) -> None:
    """Collect the `order` events of a server-sent event stream until it ends."""
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "order":
            into.append(json.loads(line.removeprefix("data: ")))


async def test_a_buyer_following_the_order_stream_sees_each_change_and_the_key_without_polling(
    platform: Platform,
) -> None:
    """The order page's live stream: the order at once, then every status change as the order service
    announces it, the keys once delivered, and the stream ends by itself."""
    product_id = await create_product(platform, [f"LIVE-{uuid.uuid4().hex[:10]}"], title="Live")
    order = await place_order(platform, product_id, "live@example.com")
    seen: list[dict[str, Any]] = []
    async with platform.storefront() as shop:
        wrong = await shop.get(f"/api/v1/orders/{order['order_no']}/events", params={"token": "x" * 40})
        assert wrong.status_code == 404
        async with shop.stream(
            "GET", f"/api/v1/orders/{order['order_no']}/events", params={"token": order["token"]}, timeout=60
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(read_events(stream, seen))

            async def awaiting_payment() -> bool:
                return any(view["status"] == "awaiting_payment" for view in seen)

            await eventually(awaiting_payment, timeout=30)
            assert (await notify(platform, notification(platform, order))).status_code == 200
            await asyncio.wait_for(reader, 30)  # the stream ends once the order is settled

        read = await shop.get(f"/api/v1/orders/{order['order_no']}", params={"token": order["token"]})
    statuses = [view["status"] for view in seen]
    assert statuses[-1] == "delivered"
    assert len(statuses) == len(set(statuses)), "each status is sent once"
    assert seen[-1]["items"][0]["content"].startswith("LIVE-")
    assert "access" not in seen[-1]  # how the secret opened the order is the gateway's alone
    # the delivery is told by its announcement (the secret version unchanged): what a read shows
    assert read.status_code == 200 and seen[-1] == read.json()
    for told in seen[:-1]:  # a payment is told by its announcement: the same time the order's read shows
        if told["status"] in ("paid", "fulfilling"):
            assert (told["paid_at"], told["pay_url"], told["payment_methods"]) == (
                seen[-1]["paid_at"],
                None,
                [],
            )
