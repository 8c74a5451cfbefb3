"""A shop collects its buyers' money with its own 易支付 (epay) account, end to end over the gateway:
the shop's key is set through the admin API (here by the platform's admin acting for the shop), sealed at
rest and never shown back; a buyer of the shop is sent to the shop's epay with the shop's notify path; an
epay notification signed with the platform's key is refused wherever it is sent, and the one signed with
the shop's key, sent to /s/<slug>/api/v1/payments/epay/notify, pays the order and the buyer gets the key.

The whole platform runs as real processes (tests/integration/e2e_platform.py) with real Postgres, Kafka and
Redis; the platform's own epay account is enabled beside the sandbox."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from order.adapters.payments.epay import sign

from .e2e_platform import Platform, running_platform
from .test_shops import open_shop, stocked_product, until_status

pytestmark = pytest.mark.integration

PLATFORM_PID, PLATFORM_KEY = "1001", secrets.token_urlsafe(18)
SHOP_PID, SHOP_KEY = "8008", secrets.token_urlsafe(18)


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    settings = {
        "PAYMENT_PROVIDERS": '["sandbox", "epay"]',
        "EPAY_URL": "https://pay.platform.example",
        "EPAY_PID": PLATFORM_PID,
        "EPAY_KEY": PLATFORM_KEY,
    }
    async with running_platform(infrastructure, **settings) as running:
        yield running


def epay_notification(order: dict[str, Any], pid: str, key: str) -> dict[str, str]:
    """What epay posts to the notify URL when the buyer has paid (form fields, MD5-signed with `key`)."""
    amount = order["amount"]
    params = {
        "pid": pid,
        "trade_no": f"EP{uuid.uuid4().hex[:16]}",
        "out_trade_no": order["order_no"],
        "type": "alipay",
        "name": "card",
        "money": f"{amount // 100}.{amount % 100:02d}",
        "trade_status": "TRADE_SUCCESS",
    }
    return {**params, "sign": sign(params, key), "sign_type": "MD5"}


async def test_a_shop_collects_with_its_own_epay_key_and_a_platform_signed_notification_is_refused(
    platform: Platform,
) -> None:
    shop = await open_shop(platform, "Epay Cards")
    root = f"/s/{shop['slug']}"
    as_shop = {"X-Shop-Id": shop["shop_id"]}
    assert platform.operator is not None
    await platform.operator.step_up()
    credentials = {"url": "https://pay.epay-cards.example", "pid": SHOP_PID, "key": SHOP_KEY}
    async with platform.admin() as admin:
        put = await admin.put(
            "/api/admin/payment-channels/epay", json={"credentials": credentials}, headers=as_shop
        )
        assert put.status_code == 200, put.text
        listed = await admin.get("/api/admin/payment-channels", headers=as_shop)
        elsewhere = await admin.get("/api/admin/payment-channels")
    assert listed.status_code == 200, listed.text
    [channel] = listed.json()["items"]
    assert channel["provider"] == "epay" and channel["credentials"]["key_set"] is True
    assert SHOP_KEY not in listed.text and SHOP_KEY not in put.text
    assert elsewhere.json()["items"] == [], "the default shop has no channel of its own"

    key = f"EPAY-{uuid.uuid4().hex[:12]}"
    product = await stocked_product(platform, shop["shop_id"], "Epay card", [key])
    async with platform.storefront() as buyer:
        placed = await buyer.post(
            f"{root}/api/v1/orders", json={"product_id": product, "email": "epay-buyer@example.com"}
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        view = await until_status(buyer, root, order, "awaiting_payment")
        assert "epay" in view["payment_methods"]
        started = await buyer.post(
            f"{root}/api/v1/orders/{order['order_no']}/pay",
            json={"provider": "epay", "token": order["token"]},
        )
        assert started.status_code == 200, started.text
        asked = parse_qs(urlsplit(started.json()["pay_url"]).query)
        assert asked["pid"] == [SHOP_PID]
        assert asked["notify_url"] == [f"{platform.gateway}{root}/api/v1/payments/epay/notify"]

        forged = epay_notification(order, PLATFORM_PID, PLATFORM_KEY)
        for path in (f"{root}/api/v1/payments/epay/notify", "/api/v1/payments/epay/notify"):
            refused = await buyer.post(path, data=forged)
            assert refused.status_code == 400, (path, refused.text)
        unpaid = await buyer.get(
            f"{root}/api/v1/orders/{order['order_no']}", params={"token": order["token"]}
        )
        assert unpaid.json()["status"] == "awaiting_payment"

        paid = await buyer.post(
            f"{root}/api/v1/payments/epay/notify", data=epay_notification(order, SHOP_PID, SHOP_KEY)
        )
        assert paid.status_code == 200 and paid.text == "success", paid.text
        delivered = await until_status(buyer, root, order, "delivered")
    assert [item["content"] for item in delivered["items"]] == [key]


async def test_bad_channel_credentials_are_a_4xx_at_the_edge(platform: Platform) -> None:
    assert platform.operator is not None
    await platform.operator.step_up()
    async with platform.admin() as admin:
        bad_url = await admin.put(
            "/api/admin/payment-channels/epay",
            json={"credentials": {"url": "ftp://x.example", "pid": "1", "key": "k"}},
        )
        bad_key = await admin.put(
            "/api/admin/payment-channels/alipay",
            json={"credentials": {"app_id": "1", "private_key": "not a key", "public_key": "not a key"}},
        )
        unknown = await admin.delete("/api/admin/payment-channels/paypal")
    assert bad_url.status_code == 422 and "url" in bad_url.text
    assert bad_key.status_code == 422 and bad_key.json()["error"] == "bad_credentials", bad_key.text
    assert unknown.status_code == 404
