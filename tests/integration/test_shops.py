"""Two shops on one platform, end to end over the gateway: each sells its own catalog at /s/<slug>/, each
buyer gets that shop's key and e-mail, nothing crosses; a suspended shop sells nothing but still delivers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faka_common.sandbox_payment import signed_notification
from faka_common.testing import eventually

from .e2e_platform import Platform, body_text, running_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def open_shop(platform: Platform, name: str) -> dict[str, Any]:
    slug = f"{name.lower().replace(' ', '-')}-{uuid.uuid4().hex[:6]}"
    async with platform.admin() as admin:
        opened = await admin.post(
            "/api/platform/shops", json={"slug": slug, "name": name, "status": "active"}
        )
    assert opened.status_code == 201, opened.text
    shop: dict[str, Any] = opened.json()
    return shop


async def stocked_product(platform: Platform, shop_id: str | None, title: str, keys: list[str]) -> str:
    headers = {"X-Shop-Id": shop_id} if shop_id else {}
    async with platform.admin() as admin:
        created = await admin.post(
            "/api/admin/products", headers=headers, json={"title": title, "price": 1500, "currency": "CNY"}
        )
        assert created.status_code == 201, created.text
        product_id: str = created.json()["product_id"]
        imported = await admin.post(
            f"/api/admin/products/{product_id}/keys",
            content="\n".join(keys).encode(),
            headers={**headers, "Content-Type": "text/plain"},
        )
        assert imported.status_code == 200, imported.text
    return product_id


async def buy(platform: Platform, root: str, product_id: str, email: str) -> dict[str, Any]:
    """Place, wait for the payment window, pay as the sandbox provider does, wait for the keys."""
    async with platform.storefront() as shop:
        placed = await shop.post(f"{root}/api/v1/orders", json={"product_id": product_id, "email": email})
        assert placed.status_code == 201, placed.text
        order: dict[str, Any] = placed.json()
        await until_status(shop, root, order, "awaiting_payment")
        paid = signed_notification(
            secret=platform.secrets["SANDBOX_SECRET"], order_no=order["order_no"],
            trade_no=f"SBX{uuid.uuid4().hex}", amount=order["amount"], currency=order["currency"],
        )  # fmt: skip
        answer = await shop.post("/api/v1/payments/sandbox/notify", json=paid)
        assert answer.status_code == 200, answer.text
        return await until_status(shop, root, order, "delivered")


async def until_status(
    shop: httpx.AsyncClient, root: str, order: dict[str, Any], status: str
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        view = await shop.get(f"{root}/api/v1/orders/{order['order_no']}", params={"token": order["token"]})
        assert view.status_code == 200, view.text
        body: dict[str, Any] = view.json()
        return body if body["status"] == status else None

    return await eventually(reached, timeout=45, interval=0.1)


async def test_two_shops_sell_at_once_and_each_buyer_gets_the_right_shops_key_and_email(
    platform: Platform,
) -> None:
    cards = await open_shop(platform, "Game Cards")
    cards_root = f"/s/{cards['slug']}"
    cards_keys = [f"CARDS-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    default_keys = [f"HOME-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    cards_product = await stocked_product(platform, cards["shop_id"], "Cards gift card", cards_keys)
    home_product = await stocked_product(platform, None, "Home gift card", default_keys)

    async with platform.storefront() as shop:
        cards_catalog = (await shop.get(f"{cards_root}/api/v1/products")).json()["items"]
        home_catalog = (await shop.get("/api/v1/products")).json()["items"]
        wrong_shop = await shop.post(
            f"{cards_root}/api/v1/orders", json={"product_id": home_product, "email": "x@example.com"}
        )
        page = await shop.get(f"{cards_root}/")
    assert [p["id"] for p in cards_catalog] == [cards_product]
    assert cards_product not in {p["id"] for p in home_catalog} and home_product in {
        p["id"] for p in home_catalog
    }
    assert wrong_shop.status_code == 404, wrong_shop.text  # another shop's product is not for sale here
    assert page.status_code == 200 and "Game Cards" in page.text

    cards_buyer, home_buyer = f"c-{uuid.uuid4().hex[:6]}@example.com", f"h-{uuid.uuid4().hex[:6]}@example.com"
    from_cards, from_home = await asyncio.gather(
        buy(platform, cards_root, cards_product, cards_buyer), buy(platform, "", home_product, home_buyer)
    )
    assert len(from_cards["items"]) == len(from_home["items"]) == 1
    assert from_cards["items"][0]["content"] in cards_keys
    assert from_home["items"][0]["content"] in default_keys

    async def both_emailed() -> bool:
        return len(platform.mailbox.to(cards_buyer)) == 1 and len(platform.mailbox.to(home_buyer)) == 1

    await eventually(both_emailed, timeout=30)
    assert from_cards["items"][0]["content"] in body_text(platform.mailbox.to(cards_buyer)[0])
    assert from_home["items"][0]["content"] in body_text(platform.mailbox.to(home_buyer)[0])
    assert not any(key in body_text(platform.mailbox.to(home_buyer)[0]) for key in cards_keys)


async def test_a_shops_admin_reads_and_changes_only_its_own_products(platform: Platform) -> None:
    cards = await open_shop(platform, "Other Cards")
    theirs = await stocked_product(platform, None, "Not yours", [f"N-{uuid.uuid4().hex}"])
    as_cards = {"X-Shop-Id": cards["shop_id"]}
    async with platform.admin() as admin:
        read = await admin.get(f"/api/admin/products/{theirs}", headers=as_cards)
        listed = (await admin.get("/api/admin/products", headers=as_cards)).json()["items"]
        imported = await admin.post(
            f"/api/admin/products/{theirs}/keys",
            content=b"SNEAKED-IN",
            headers={**as_cards, "Content-Type": "text/plain"},
        )
        own_view = await admin.get(f"/api/admin/products/{theirs}")
    assert read.status_code == 404 and imported.status_code == 404
    assert theirs not in {p["product_id"] for p in listed}
    assert own_view.json()["stock"]["available"] == 1  # nothing was added to it


async def test_a_suspended_shop_takes_no_orders_but_delivers_what_was_paid(platform: Platform) -> None:
    paused = await open_shop(platform, "Paused")
    root = f"/s/{paused['slug']}"
    product = await stocked_product(platform, paused["shop_id"], "Paused card", [f"P-{uuid.uuid4().hex}"])
    buyer = f"p-{uuid.uuid4().hex[:6]}@example.com"
    async with platform.storefront() as shop:
        placed = await shop.post(f"{root}/api/v1/orders", json={"product_id": product, "email": buyer})
        assert placed.status_code == 201, placed.text
        order = placed.json()
        await until_status(shop, root, order, "awaiting_payment")
    async with platform.admin() as admin:
        suspended = await admin.post(
            f"/api/platform/shops/{paused['shop_id']}/status", json={"status": "suspended"}
        )
    assert suspended.status_code == 200, suspended.text
    async with platform.storefront() as shop:
        refused = await shop.post(f"{root}/api/v1/orders", json={"product_id": product, "email": buyer})
        closed_page = await shop.get(f"{root}/", headers={"Accept-Language": "en"})
        paid = signed_notification(
            secret=platform.secrets["SANDBOX_SECRET"], order_no=order["order_no"],
            trade_no=f"SBX{uuid.uuid4().hex}", amount=order["amount"], currency=order["currency"],
        )  # fmt: skip
        assert (await shop.post("/api/v1/payments/sandbox/notify", json=paid)).status_code == 200
        delivered = await until_status(shop, root, order, "delivered")
    assert refused.status_code == 409 and "suspended" in refused.json()["message"]
    assert "suspended and takes no orders" in closed_page.text
    assert len(delivered["items"]) == 1


async def test_unknown_shops_and_taken_slugs_get_clear_answers(platform: Platform) -> None:
    taken = await open_shop(platform, "Taken")
    async with platform.admin() as admin:
        again = await admin.post("/api/platform/shops", json={"slug": taken["slug"], "name": "Again"})
        reserved = await admin.post("/api/platform/shops", json={"slug": "api", "name": "Reserved"})
    async with platform.storefront() as shop:
        missing_page = await shop.get("/s/no-such-shop-here/")
        missing_api = await shop.get("/s/no-such-shop-here/api/v1/products")
    assert again.status_code == 409, again.text
    assert reserved.status_code in (400, 422), reserved.text
    assert missing_page.status_code == 404 and "text/html" in missing_page.headers["content-type"]
    assert missing_api.status_code == 404 and "no shop" in missing_api.json()["message"]
