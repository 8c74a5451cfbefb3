"""Manual and supplier-recharge sales end to end: every service as its own process over real Kafka,
Postgres and SMTP; the supplier is a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faka_common.testing import eventually

from .e2e_platform import FakeSupplier, Platform, body_text
from .test_sale import notification, notify, platform, wait_for_status

__all__ = ["platform"]  # the module-scoped fixture that starts all seven services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def supplier() -> AsyncIterator[FakeSupplier]:
    fake = FakeSupplier(secrets.token_urlsafe(16))
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def create_keyless_product(platform: Platform, delivery_type: str, title: str, **extra: Any) -> str:
    async with platform.admin() as admin:
        created = await admin.post(
            "/api/admin/products",
            json={"title": title, "price": 3000, "currency": "CNY", "delivery_type": delivery_type,
                  "usage_instructions": f"{title}: check your account", **extra},
        )  # fmt: skip
    assert created.status_code == 201, created.text
    product_id: str = created.json()["product_id"]
    return product_id


async def place_with_fields(
    platform: Platform, product_id: str, email: str, fields: dict[str, str]
) -> dict[str, Any]:
    async with platform.storefront() as shop:
        placed = await shop.post(
            "/api/v1/orders",
            json={"product_id": product_id, "quantity": 1, "email": email, "buyer_fields": fields},
        )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    return order


async def pay(platform: Platform, order: dict[str, Any]) -> None:
    await wait_for_status(platform, order, "awaiting_payment")
    answer = await notify(platform, notification(platform, order))
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "accepted"


async def one_email_to(platform: Platform, email: str) -> str:
    async def arrived() -> bool:
        return len(platform.mailbox.to(email)) >= 1

    await eventually(arrived, timeout=30)
    mails = platform.mailbox.to(email)
    assert len(mails) == 1
    return body_text(mails[0])


async def test_manual_product_is_delivered_by_an_operator_to_the_order_page_and_one_email(
    platform: Platform,
) -> None:
    product_id = await create_keyless_product(platform, "manual", "Game gold 1000")
    email = f"gamer-{uuid.uuid4().hex[:6]}@example.com"
    account = f"hero-{uuid.uuid4().hex[:6]}"
    order = await place_with_fields(platform, product_id, email, {"game_account": account})
    await pay(platform, order)

    async with platform.admin() as admin:

        async def queued() -> dict[str, Any] | None:
            listed = await admin.get("/api/admin/delivery/manual-tasks")
            assert listed.status_code == 200, listed.text
            return next(
                (t for t in listed.json()["items"]
                 if (t.get("request") or {}).get("order_no") == order["order_no"]),
                None,
            )  # fmt: skip

        task = await eventually(queued, timeout=45, interval=0.1)
        assert task["status"] == "open"
        assert task["request"]["buyer_fields"] == {"game_account": account}
        order_id = task["order_id"]
        assert (await wait_for_status(platform, order, "paid")).get("items") is None

        claimed = await admin.post(f"/api/admin/delivery/manual-tasks/{order_id}/claim")
        assert claimed.status_code == 200, claimed.text
        assert platform.operator is not None
        assert claimed.json()["claimed_by"] == platform.operator.email  # who is signed in, not a typed name
        content = f"1000 gold sent to {account}, ref G-{uuid.uuid4().hex[:8]}"
        delivered = await admin.post(
            f"/api/admin/delivery/manual-tasks/{order_id}/deliver",
            json={"content": content},
        )
        assert delivered.status_code == 200, delivered.text

    view = await wait_for_status(platform, order, "delivered")
    assert [item["content"] for item in view["items"]] == [content]
    assert view["usage_instructions"] == "Game gold 1000: check your account"
    text = await one_email_to(platform, email)
    assert content in text
    assert order["order_no"] in text


async def test_recharge_product_is_topped_up_once_by_its_supplier(
    platform: Platform, supplier: FakeSupplier
) -> None:
    product_id = await create_keyless_product(platform, "recharge", "Mobile 50", face_value=5000)
    async with platform.admin() as admin:
        product = (await admin.get(f"/api/admin/products/{product_id}")).json()
        assert product["face_value"] == 5000
        registered = await admin.post(
            "/api/admin/suppliers",
            json={"name": f"fake-{uuid.uuid4().hex[:6]}", "kind": "http_json", "base_url": supplier.url,
                  "secret": supplier.secret, "config": {"merchant_id": "m-1"}, "timeout_seconds": 5},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        supplier_id = registered.json()["supplier_id"]
        routed = await admin.put(
            f"/api/admin/products/{product_id}/supplier-routes/{supplier_id}",
            json={"supplier_sku": "mobile-50", "priority": 1, "cost": 4900},
        )
        assert routed.status_code == 200, routed.text

    email = f"phone-{uuid.uuid4().hex[:6]}@example.com"
    phone = "138" + str(uuid.uuid4().int)[:8]
    order = await place_with_fields(platform, product_id, email, {"phone": phone})
    await pay(platform, order)

    view = await wait_for_status(platform, order, "delivered")
    submits = supplier.submits_for(view["order_id"])
    assert len(submits) == 1
    assert submits[0]["account"] == phone
    assert submits[0]["amount"] == 5000
    assert submits[0]["product_id"] == "mobile-50"
    assert supplier.bad_signatures == 0
    assert [item["content"] for item in view["items"]] == [f"topped up {phone} with 5000"]
    text = await one_email_to(platform, email)
    assert f"topped up {phone} with 5000" in text
    assert len(supplier.submits_for(view["order_id"])) == 1


async def test_a_manual_order_the_operator_rejects_ends_delivery_failed_not_paid(platform: Platform) -> None:
    product_id = await create_keyless_product(platform, "manual", "Skin pack")
    order = await place_with_fields(
        platform, product_id, f"skin-{uuid.uuid4().hex[:6]}@example.com", {"game_account": "nobody"}
    )
    await pay(platform, order)
    async with platform.admin() as admin:

        async def queued() -> str | None:
            listed = (await admin.get("/api/admin/delivery/manual-tasks")).json()["items"]
            return next(
                (
                    t["order_id"]
                    for t in listed
                    if (t.get("request") or {}).get("order_no") == order["order_no"]
                ),
                None,
            )

        order_id = await eventually(queued, timeout=45, interval=0.1)
        claimed = await admin.post(f"/api/admin/delivery/manual-tasks/{order_id}/claim")
        assert claimed.status_code == 200, claimed.text
        rejected = await admin.post(
            f"/api/admin/delivery/manual-tasks/{order_id}/reject",
            json={"reason": "game account does not exist"},
        )
        assert rejected.status_code == 200, rejected.text

    view = await wait_for_status(platform, order, "delivery_failed")
    assert view.get("items") is None
