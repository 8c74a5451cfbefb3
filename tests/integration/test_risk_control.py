"""Risk control end to end over the gateway: a shop's rules set through the admin API decide the next
orders (no restart), a script from one address (or with one e-mail from fifty) gets no more than the limit
through, an order held for review is approved into payment or rejected with its stock untouched, and a
malformed rule set is refused naming the field with nothing saved.

The whole platform runs as real processes (tests/integration/e2e_platform.py) on the real Postgres, Kafka
and Redis; an order comes from 127.0.0.1, as one client's script would, unless it names another address
through X-Forwarded-For (the gateway trusts loopback as its proxy here)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faka_common.sandbox_payment import signed_notification
from faka_common.testing import eventually

from .e2e_platform import Platform, running_platform
from .test_shops import open_shop, stocked_product, until_status

pytestmark = pytest.mark.integration

DECIDED = {"awaiting_payment", "rejected", "review"}


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    # the gateway's own per-address order limit (20 an hour) would stop the script before risk sees it; the
    # test client stands in for a proxy whose X-Forwarded-For names fifty buyers' addresses
    overrides = {
        "ORDERS_PER_IP_PER_HOUR": "1000",
        "ORDERS_PER_EMAIL_PER_HOUR": "1000",
        "TRUSTED_PROXIES": '["127.0.0.0/8"]',
    }
    async with running_platform(infrastructure, **overrides) as running:
        yield running


async def shop_with_stock(platform: Platform, keys: int) -> tuple[dict[str, Any], str]:
    shop = await open_shop(platform, "Risky Cards")
    codes = [f"RISK-{uuid.uuid4().hex[:12]}" for _ in range(keys)]
    return shop, await stocked_product(platform, shop["shop_id"], "Risky card", codes)


async def put_rules(platform: Platform, shop: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    async with platform.admin() as admin:
        return await admin.put("/api/admin/risk/rules", json=body, headers={"X-Shop-Id": shop["shop_id"]})


async def admin_get(platform: Platform, shop: dict[str, Any], path: str) -> Any:
    async with platform.admin() as admin:
        response = await admin.get(path, headers={"X-Shop-Id": shop["shop_id"]})
    assert response.status_code == 200, response.text
    return response.json()


async def place(
    platform: Platform,
    shop: dict[str, Any],
    product_id: str,
    email: str,
    address: str | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """An order placed at the storefront, from `address` (through the trusted proxy) or from 127.0.0.1,
    with the checkout's `device` id when given."""
    headers = {"X-Forwarded-For": address} if address else {}
    body = {"product_id": product_id, "email": email} | ({"device_id": device} if device else {})
    async with platform.storefront() as storefront:
        placed = await storefront.post(f"/s/{shop['slug']}/api/v1/orders", json=body, headers=headers)
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    return order


async def decided(platform: Platform, shop: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """The buyer's view of the order once risk has decided on it."""

    async def settled() -> dict[str, Any] | None:
        async with platform.storefront() as storefront:
            view = await storefront.get(
                f"/s/{shop['slug']}/api/v1/orders/{order['order_no']}", params={"token": order["token"]}
            )
        assert view.status_code == 200, view.text
        body: dict[str, Any] = view.json()
        return body if body["status"] in DECIDED else None

    return await eventually(settled, timeout=90, interval=0.2)


async def available(platform: Platform, shop: dict[str, Any], product_id: str) -> int:
    products = await admin_get(platform, shop, "/api/admin/products")
    [product] = [p for p in products["items"] if p["product_id"] == product_id]
    return int(product["stock"]["available"])


async def test_fifty_orders_from_one_address_against_a_limit_of_five_let_five_through_and_name_the_rule(
    platform: Platform,
) -> None:
    shop, product = await shop_with_stock(platform, 10)
    rules = {"rules": [{"type": "velocity", "per": "ip", "limit": 5, "window_seconds": 60}]}
    changed = await put_rules(platform, shop, rules)
    assert changed.status_code == 200 and changed.json()["version"] == 1, changed.text

    orders = [await place(platform, shop, product, f"bot-{i}@script.example") for i in range(50)]
    views = await asyncio.gather(*(decided(platform, shop, order) for order in orders))

    statuses = [view["status"] for view in views]
    assert statuses.count("awaiting_payment") == 5 and statuses.count("rejected") == 45
    rejected = next(view for view in views if view["status"] == "rejected")
    decision = await admin_get(platform, shop, f"/api/admin/risk/decisions/{rejected['order_id']}")
    assert decision["verdict"] == "reject" and decision["fired"] == ["shop.velocity[0]"]
    assert decision["rules_version"] == 1 and "more than 5 orders per ip in 60 s" in decision["reasons"][0]
    assert await available(platform, shop, product) == 5  # only the five let through hold stock


async def test_the_same_from_fifty_addresses_but_one_email_fires_the_email_limit(platform: Platform) -> None:
    shop, product = await shop_with_stock(platform, 10)
    rules = {
        "rules": [
            {"type": "velocity", "per": "ip", "limit": 5, "window_seconds": 60},
            {"type": "velocity", "per": "email", "limit": 5, "window_seconds": 60},
        ]
    }
    assert (await put_rules(platform, shop, rules)).status_code == 200

    orders = [
        await place(platform, shop, product, "one@script.example", f"203.0.113.{i + 1}") for i in range(50)
    ]
    views = await asyncio.gather(*(decided(platform, shop, order) for order in orders))

    statuses = [view["status"] for view in views]
    assert statuses.count("awaiting_payment") == 5 and statuses.count("rejected") == 45
    rejected = next(view for view in views if view["status"] == "rejected")
    decision = await admin_get(platform, shop, f"/api/admin/risk/decisions/{rejected['order_id']}")
    assert decision["fired"] == ["shop.velocity[1]"]  # the e-mail's limit, not any address's


async def test_a_rule_changed_through_the_api_decides_the_next_order_and_a_bad_one_is_refused_whole(
    platform: Platform,
) -> None:
    shop, product = await shop_with_stock(platform, 5)
    first = await decided(platform, shop, await place(platform, shop, product, "first@blocked.example"))
    assert first["status"] == "awaiting_payment"

    block = {"rules": [{"type": "blocklist", "email_domains": ["blocked.example"]}]}
    assert (await put_rules(platform, shop, block)).status_code == 200
    second = await decided(platform, shop, await place(platform, shop, product, "second@blocked.example"))
    assert second["status"] == "rejected"
    decision = await admin_get(platform, shop, f"/api/admin/risk/decisions/{second['order_id']}")
    assert decision["rules_version"] == 1 and decision["fired"] == ["shop.blocklist[0]"]

    for bad, field in (
        ({"type": "blocklist", "cidrs": ["10.0.0.0/33"]}, "cidrs"),
        ({"type": "velocity", "per": "ip", "limit": 5, "window_seconds": -60}, "window_seconds"),
        ({"type": "captcha"}, "type"),
    ):
        refused = await put_rules(platform, shop, {"rules": [{"type": "quantity", "max": 1}, bad]})
        assert refused.status_code == 422 and field in refused.text, refused.text
    current = await admin_get(platform, shop, "/api/admin/risk/rules")
    assert current["version"] == 1 and current["rules"][0]["type"] == "blocklist"


async def test_an_order_in_review_is_approved_into_payment_and_another_rejected_holds_no_stock(
    platform: Platform,
) -> None:
    shop, product = await shop_with_stock(platform, 3)
    rules = {"rules": [{"type": "disposable_email", "action": "review"}], "review_timeout_seconds": 3600}
    assert (await put_rules(platform, shop, rules)).status_code == 200
    kept, refused = (
        await place(platform, shop, product, "kept@yopmail.com"),
        await place(platform, shop, product, "refused@yopmail.com"),
    )
    held = [await decided(platform, shop, order) for order in (kept, refused)]
    assert [view["status"] for view in held] == ["review", "review"]
    assert await available(platform, shop, product) == 3  # an order in review holds no stock

    queue = await admin_get(platform, shop, "/api/admin/risk/reviews")
    assert {item["order_no"] for item in queue["items"]} == {kept["order_no"], refused["order_no"]}
    async with platform.admin() as admin:
        scope = {"X-Shop-Id": shop["shop_id"]}
        approved = await admin.post(f"/api/admin/risk/reviews/{held[0]['order_id']}/approve", headers=scope)
        rejected = await admin.post(
            f"/api/admin/risk/reviews/{held[1]['order_id']}/reject",
            json={"reason": "throwaway"},
            headers=scope,
        )
    assert platform.operator is not None
    assert approved.status_code == 200 and approved.json()["resolved_by"] == platform.operator.email
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    root = f"/s/{shop['slug']}"
    async with platform.storefront() as storefront:
        awaiting = await until_status(storefront, root, kept, "awaiting_payment")
        await until_status(storefront, root, refused, "rejected")
        payment = signed_notification(
            secret=platform.secrets["SANDBOX_SECRET"], order_no=kept["order_no"],
            trade_no=f"SBX{uuid.uuid4().hex}", amount=awaiting["amount"], currency=awaiting["currency"],
        )  # fmt: skip
        assert (await storefront.post("/api/v1/payments/sandbox/notify", json=payment)).status_code == 200
        await until_status(storefront, root, kept, "delivered")
    assert await available(platform, shop, product) == 2  # the rejected order's key is still for sale
    closed = await admin_get(platform, shop, "/api/admin/risk/reviews?status=all")
    assert {item["status"] for item in closed["items"]} == {"approved", "rejected"}


async def test_a_phone_on_the_shops_blocklist_rejects_the_checkout_that_gives_it(platform: Platform) -> None:
    shop, product = await shop_with_stock(platform, 3)
    rules = {"rules": [{"type": "blocklist", "phones": ["+86 138 0013 8000"]}]}
    assert (await put_rules(platform, shop, rules)).status_code == 200
    async with platform.storefront() as storefront:
        placed = await storefront.post(
            f"/s/{shop['slug']}/api/v1/orders",
            json={"product_id": product, "email": "phoned@example.com", "phone": "+86 138-0013-8000"},
        )
    assert placed.status_code == 201, placed.text
    view = await decided(platform, shop, placed.json())
    assert view["status"] == "rejected"
    decision = await admin_get(platform, shop, f"/api/admin/risk/decisions/{view['order_id']}")
    assert decision["fired"] == ["shop.blocklist[0]"] and "phone +8613800138000" in decision["reasons"][0]
    other = await decided(platform, shop, await place(platform, shop, product, "unphoned@example.com"))
    assert other["status"] == "awaiting_payment"


async def test_fifty_orders_from_one_device_against_a_limit_of_five_let_five_through_and_name_the_rule(
    platform: Platform,
) -> None:
    shop, product = await shop_with_stock(platform, 10)
    rules = {"rules": [{"type": "velocity", "per": "device", "limit": 5, "window_seconds": 60}]}
    assert (await put_rules(platform, shop, rules)).status_code == 200
    device = f"script-{uuid.uuid4().hex}"
    # fifty addresses and fifty e-mails, one device id: only the device limit can fire
    orders = [
        await place(platform, shop, product, f"dev-{i}@script.example", f"198.51.100.{i + 1}", device)
        for i in range(50)
    ]
    views = await asyncio.gather(*(decided(platform, shop, order) for order in orders))
    statuses = [view["status"] for view in views]
    assert statuses.count("awaiting_payment") == 5 and statuses.count("rejected") == 45
    rejected = next(view for view in views if view["status"] == "rejected")
    decision = await admin_get(platform, shop, f"/api/admin/risk/decisions/{rejected['order_id']}")
    assert decision["fired"] == ["shop.velocity[0]"]
    assert "more than 5 orders per device in 60 s" in decision["reasons"][0]
    other = await place(
        platform, shop, product, "human@example.com", "198.51.100.200", f"b-{uuid.uuid4().hex}"
    )
    assert (await decided(platform, shop, other))["status"] == "awaiting_payment"


async def test_a_malformed_device_id_is_a_422_naming_it_and_places_nothing(platform: Platform) -> None:
    shop, product = await shop_with_stock(platform, 1)
    async with platform.storefront() as storefront:
        refused = await storefront.post(
            f"/s/{shop['slug']}/api/v1/orders",
            json={"product_id": product, "email": "a@example.com", "device_id": "not a device id"},
        )
    assert refused.status_code == 422 and "device_id" in refused.json()["message"], refused.text
    found = await admin_get(platform, shop, "/api/admin/orders")
    assert found["items"] == []


async def test_a_paid_order_whose_payer_is_on_the_shops_blocklist_is_held_and_not_delivered(
    platform: Platform,
) -> None:
    shop, product = await shop_with_stock(platform, 2)
    rules = {"rules": [{"type": "blocklist", "payment_accounts": ["sandbox:stolen-1"]}]}
    assert (await put_rules(platform, shop, rules)).status_code == 200
    stolen = await place(platform, shop, product, "thief@example.com")
    honest = await place(platform, shop, product, "honest@example.com")
    root = f"/s/{shop['slug']}"
    async with platform.storefront() as storefront:
        for order, payer in ((stolen, "stolen-1"), (honest, "honest-1")):
            awaiting = await until_status(storefront, root, order, "awaiting_payment")
            payment = signed_notification(
                secret=platform.secrets["SANDBOX_SECRET"], order_no=order["order_no"],
                trade_no=f"SBX{uuid.uuid4().hex}", amount=awaiting["amount"], currency=awaiting["currency"],
                payer=payer,
            )  # fmt: skip
            paid = await storefront.post("/api/v1/payments/sandbox/notify", json=payment)
            assert paid.status_code == 200, paid.text
        # the honest buyer, paid after the thief, gets the key; the thief's order stays paid, with nothing
        await until_status(storefront, root, honest, "delivered")
        path = f"{root}/api/v1/orders/{stolen['order_no']}"
        view = (await storefront.get(path, params={"token": stolen["token"]})).json()
    assert view["status"] == "paid" and not view.get("keys")
    held = await admin_get(platform, shop, f"/api/admin/orders/{stolen['order_no']}")
    assert held["order"]["status_reason"] == "payer_account_blocked" and held["delivery"] is None
