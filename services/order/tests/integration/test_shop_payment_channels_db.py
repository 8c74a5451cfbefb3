"""Paying with a shop's own payment channel, on real Postgres through the order service's routes: the shop's
buyers are offered the platform's providers and the shop's own enabled channels; a payment started with the
shop's channel goes to the shop's account (its notify URL is the shop's path) and is recorded as collected by
the shop; a notification is verified with the credentials of whoever collects the order, and one signed with
the other's key (platform vs shop, either way round) is refused and changes nothing. Refunds and the
reconciler speak to the shop's own gateway about what the shop collected."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit
from uuid import uuid4

import httpx
import pytest
from faka_common.crypto import DEV_KEYRING
from faka_common.http import SHOP_HEADER
from faka_common.testing import asgi_client
from order.adapters.inventory import Product
from order.adapters.payment_channels import ChannelAdapters
from order.bootstrap import Service
from order.domain.shops import KnownShop
from order.entrypoints.api import order_app

from ..conftest import ProviderKit
from .conftest import Db, ShopCatalog, order_api, order_service

pytestmark = pytest.mark.integration

SHOP_A, SHOP_B = uuid4(), uuid4()
A, B = {SHOP_HEADER: str(SHOP_A)}, {SHOP_HEADER: str(SHOP_B)}
PRODUCT_A = Product(uuid4(), "A's key", 1999, "CNY", True)
PRODUCT_B = Product(uuid4(), "B's key", 500, "CNY", True)
SHOP_PID, SHOP_KEY = "7007", "shop-a-own-epay-key-91f3"
SHOP_EPAY = {"url": "https://pay.shop-a.example", "pid": SHOP_PID, "key": SHOP_KEY}
KIT = ProviderKit()
PLATFORM = {"payment_providers": ["sandbox", "epay"], **KIT.epay_settings()}
BASE = "http://127.0.0.1:8000"


@pytest.fixture
async def api(db: Db) -> AsyncIterator[httpx.AsyncClient]:
    async with db.uow() as uow:
        await uow.shops.save(KnownShop(SHOP_A, "a-shop", "A", "active"))
        await uow.shops.save(KnownShop(SHOP_B, "b-shop", "B", "active"))
        await uow.commit()
    catalog = ShopCatalog(PRODUCT_A, shop_id=SHOP_A).add(SHOP_B, PRODUCT_B)
    async with order_api(db, catalog, public_base_url=BASE, **PLATFORM) as client:
        yield client


async def awaiting_order(api: httpx.AsyncClient, db: Db, shop: dict[str, str], product: Product) -> Any:
    body = {"product_id": str(product.product_id), "quantity": 1, "buyer_email": "buyer@example.com"}
    placed = await api.post("/internal/orders", json=body, headers=shop)
    assert placed.status_code == 201, placed.text
    await db.fetch(
        "UPDATE orders SET status = 'awaiting_payment' WHERE order_no = $1", placed.json()["order_no"]
    )
    return placed.json()


async def set_shop_epay(api: httpx.AsyncClient, enabled: bool = True) -> None:
    body = {"enabled": enabled, "credentials": SHOP_EPAY}
    put = await api.put("/internal/payment-channels/epay", json=body, headers=A)
    assert put.status_code == 200, put.text


async def start(api: httpx.AsyncClient, order: Any, shop: dict[str, str], provider: str = "epay") -> Any:
    body = {"provider": provider, "token": order["token"]}
    started = await api.post(f"/internal/orders/{order['order_no']}/payments", json=body, headers=shop)
    assert started.status_code == 200, started.text
    return started.json()


async def notify(
    api: httpx.AsyncClient, order: Any, headers: dict[str, str], pid: str, key: str, trade_no: str = "E-1"
) -> httpx.Response:
    notice = KIT.notice("epay", order["order_no"], order["amount"], trade_no, secret=key, app_id=pid)
    sent = {"Content-Type": notice.content_type, **headers}
    return await api.post("/internal/payments/epay/notify", content=notice.body, headers=sent)


async def payments(db: Db) -> list[tuple[str, str]]:
    rows = await db.fetch("SELECT trade_no, collected_by FROM payments ORDER BY received_at")
    return [(r["trade_no"], r["collected_by"]) for r in rows]


async def announced(db: Db, event_type: str) -> list[str]:
    """Whose channel each announced `event_type` says collected the money."""
    rows = await db.fetch("SELECT value FROM outbox WHERE type = $1 ORDER BY id", event_type)
    return [json.loads(r["value"])["payload"]["collected_by"] for r in rows]


async def methods(api: httpx.AsyncClient, order: Any, shop: dict[str, str]) -> list[str]:
    view = await api.post(
        f"/internal/orders/{order['order_no']}/view", json={"token": order["token"]}, headers=shop
    )
    assert view.status_code == 200, view.text
    found: list[str] = view.json()["payment_methods"]
    return found


async def test_a_buyer_of_a_shop_with_its_own_epay_pays_the_shops_account(
    api: httpx.AsyncClient, db: Db
) -> None:
    await set_shop_epay(api)
    order = await awaiting_order(api, db, A, PRODUCT_A)
    pay_url = (await start(api, order, A))["pay_url"]
    asked = parse_qs(urlsplit(pay_url).query)
    assert pay_url.startswith("https://pay.shop-a.example/submit.php?")
    assert asked["pid"] == [SHOP_PID]
    assert asked["notify_url"] == [f"{BASE}/s/a-shop/api/v1/payments/epay/notify"]
    paid = await notify(api, order, A, SHOP_PID, SHOP_KEY)
    assert paid.status_code == 200 and paid.text == "success", paid.text
    assert await payments(db) == [("E-1", "shop")]
    assert await announced(db, "OrderPaid") == ["shop"], "the money issue settles only the platform's"
    [row] = await db.fetch("SELECT status FROM orders WHERE order_no = $1", order["order_no"])
    assert row["status"] == "paid"


async def test_a_platform_signed_notification_for_an_order_the_shop_collects_is_refused(
    api: httpx.AsyncClient, db: Db
) -> None:
    await set_shop_epay(api)
    order = await awaiting_order(api, db, A, PRODUCT_A)
    await start(api, order, A)
    at_shop_path = await notify(api, order, A, KIT.epay_pid, KIT.epay_key)
    assert at_shop_path.status_code == 400 and "signature" in at_shop_path.json()["message"]
    at_root = await notify(api, order, {}, KIT.epay_pid, KIT.epay_key)
    assert at_root.status_code == 400, at_root.text
    assert "shop's account" in at_root.json()["message"]
    assert await payments(db) == []
    [row] = await db.fetch("SELECT status FROM orders WHERE order_no = $1", order["order_no"])
    assert row["status"] == "awaiting_payment"


async def test_a_shop_signed_notification_for_an_order_the_platform_collects_is_refused(
    api: httpx.AsyncClient, db: Db
) -> None:
    order = await awaiting_order(api, db, A, PRODUCT_A)
    started = await start(api, order, A)  # before the shop had a channel: the platform's account
    assert parse_qs(urlsplit(started["pay_url"]).query)["pid"] == [KIT.epay_pid]
    await set_shop_epay(api)
    refused = await notify(api, order, A, SHOP_PID, SHOP_KEY)
    assert refused.status_code == 400 and "platform's account" in refused.json()["message"]
    assert await payments(db) == []
    paid = await notify(api, order, {}, KIT.epay_pid, KIT.epay_key, trade_no="P-1")
    assert paid.status_code == 200, paid.text
    assert await payments(db) == [("P-1", "platform")]
    assert await announced(db, "OrderPaid") == ["platform"]


async def test_an_order_never_started_is_collected_by_the_shops_enabled_channel(
    api: httpx.AsyncClient, db: Db
) -> None:
    """No start with the provider (a buyer who paid a link or code another way): the shop's enabled channel
    decides, so the shop's signature is taken and the platform's refused."""
    await set_shop_epay(api)
    order = await awaiting_order(api, db, A, PRODUCT_A)
    refused = await notify(api, order, {}, KIT.epay_pid, KIT.epay_key)
    assert refused.status_code == 400 and "shop's account" in refused.json()["message"]
    paid = await notify(api, order, A, SHOP_PID, SHOP_KEY)
    assert paid.status_code == 200 and paid.text == "success", paid.text
    assert await payments(db) == [("E-1", "shop")]


async def test_a_provider_both_offer_is_one_payment_method(api: httpx.AsyncClient, db: Db) -> None:
    order_a = await awaiting_order(api, db, A, PRODUCT_A)
    order_b = await awaiting_order(api, db, B, PRODUCT_B)
    await set_shop_epay(api)
    assert await methods(api, order_a, A) == ["sandbox", "epay"]
    assert await methods(api, order_b, B) == ["sandbox", "epay"]


async def test_a_provider_only_the_shop_has_is_offered_to_its_buyers_only(db: Db) -> None:
    async with db.uow() as uow:
        await uow.shops.save(KnownShop(SHOP_A, "a-shop", "A", "active"))
        await uow.commit()
    catalog = ShopCatalog(PRODUCT_A, shop_id=SHOP_A).add(SHOP_B, PRODUCT_B)
    async with order_api(db, catalog, public_base_url=BASE) as api:
        order_a = await awaiting_order(api, db, A, PRODUCT_A)
        order_b = await awaiting_order(api, db, B, PRODUCT_B)
        await set_shop_epay(api, enabled=False)
        assert await methods(api, order_a, A) == ["sandbox"], "a disabled channel is not offered"
        await set_shop_epay(api)
        assert await methods(api, order_a, A) == ["sandbox", "epay"]
        assert await methods(api, order_b, B) == ["sandbox"]
        refused = await api.post(
            f"/internal/orders/{order_b['order_no']}/payments",
            json={"provider": "epay", "token": order_b["token"]},
            headers=B,
        )
        assert refused.status_code == 409
        await start(api, order_a, A)
        paid = await notify(api, order_a, A, SHOP_PID, SHOP_KEY)
        assert paid.status_code == 200, paid.text
        assert await payments(db) == [("E-1", "shop")]


class ShopsEpay:
    """The shop's own epay gateway: answers an order query as paid and a refund as done; keeps every call."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        asked = {**dict(request.url.params), **dict(parse_qsl(request.content.decode()))}
        if asked.get("pid") != SHOP_PID or asked.get("key") != SHOP_KEY:
            return httpx.Response(200, json={"code": -1, "msg": "not our merchant"})
        if asked.get("act") == "order":
            paid = {"out_trade_no": asked["out_trade_no"], "status": 1, "money": "19.99", "trade_no": "Q-1"}
            return httpx.Response(200, json={"code": 1, "pid": SHOP_PID, **paid})
        return httpx.Response(200, json={"code": 1, "msg": "refunded"})


@asynccontextmanager
async def shop_paid_service(db: Db) -> AsyncIterator[tuple[Service, httpx.AsyncClient, ShopsEpay]]:
    """The order service with the platform's epay and shop A's own, whose gateway is `ShopsEpay`."""
    async with db.uow() as uow:
        await uow.shops.save(KnownShop(SHOP_A, "a-shop", "A", "active"))
        await uow.commit()
    gateway = ShopsEpay()
    catalog = ShopCatalog(PRODUCT_A, shop_id=SHOP_A)
    async with order_service(db, catalog, public_base_url=BASE, **PLATFORM) as service:
        shop_http = httpx.AsyncClient(transport=httpx.MockTransport(gateway))
        keyring = service.settings.keyring()
        service.providers.shops = ChannelAdapters(
            service.settings, keyring, shop_http, service.runtime.sessions
        )
        async with asgi_client(order_app(service), "order") as api:
            yield service, api, gateway
        await shop_http.aclose()


async def test_a_shop_collected_payment_is_refunded_through_the_shops_own_epay(db: Db) -> None:
    async with shop_paid_service(db) as (_, api, gateway):
        await set_shop_epay(api)
        order = await awaiting_order(api, db, A, PRODUCT_A)
        await start(api, order, A)
        assert (await notify(api, order, A, SHOP_PID, SHOP_KEY)).status_code == 200
        refunded = await api.post(f"/internal/orders/{order['order_no']}/refunds", json={}, headers=A)
    assert refunded.status_code == 201, refunded.text
    [refund] = gateway.calls
    assert (refund.url.host, refund.url.params["act"]) == ("pay.shop-a.example", "refund")
    assert await announced(db, "OrderRefunded") == ["shop"]


async def test_the_reconciler_asks_the_shops_own_epay_about_an_order_the_shop_collects(db: Db) -> None:
    async with shop_paid_service(db) as (service, api, gateway):
        await set_shop_epay(api)
        order = await awaiting_order(api, db, A, PRODUCT_A)
        await start(api, order, A)  # the buyer pays the shop; its notification is lost
        await db.fetch("UPDATE orders SET expires_at = now() WHERE order_no = $1", order["order_no"])
        summary = await service.reconcile_once()
    assert summary.completed == 1, summary
    assert [call.url.host for call in gateway.calls] == ["pay.shop-a.example"]
    assert await payments(db) == [("Q-1", "shop")]


async def test_a_key_rotation_re_seals_the_shops_credentials_and_its_buyers_still_pay_the_shop(
    api: httpx.AsyncClient, db: Db
) -> None:
    await set_shop_epay(api)  # sealed with the development key ("dev")
    rotated = {"key_encryption_keys": f"{DEV_KEYRING},new:{base64.b64encode(os.urandom(32)).decode()}"}
    catalog = ShopCatalog(PRODUCT_A, shop_id=SHOP_A)
    async with order_api(db, catalog, public_base_url=BASE, **PLATFORM, **rotated) as rotating:
        resealed = await rotating.post("/internal/keys/reencrypt")
        again = await rotating.post("/internal/keys/reencrypt")
    assert resealed.status_code == 200, resealed.text
    assert resealed.json() == {"resealed": 1, "unreadable": 0, "active_key_id": "new"}
    assert again.json()["resealed"] == 0
    [row] = await db.fetch("SELECT key_id FROM payment_channels")
    assert row["key_id"] == "new"
    only_new = {"key_encryption_keys": rotated["key_encryption_keys"].split(",")[1]}
    async with order_api(db, catalog, public_base_url=BASE, **PLATFORM, **only_new) as rotated_api:
        order = await awaiting_order(rotated_api, db, A, PRODUCT_A)
        pay_url = (await start(rotated_api, order, A))[
            "pay_url"
        ]  # opens the credentials: the old key is gone
        assert parse_qs(urlsplit(pay_url).query)["pid"] == [SHOP_PID]
        assert (await notify(rotated_api, order, A, SHOP_PID, SHOP_KEY)).status_code == 200


async def test_a_channel_sealed_with_a_key_no_longer_held_is_a_clear_503_not_a_crash(
    api: httpx.AsyncClient, db: Db
) -> None:
    await set_shop_epay(api)  # sealed with "dev"; the key then leaves the keyring without a re-seal
    only_new = {"key_encryption_keys": f"new:{base64.b64encode(os.urandom(32)).decode()}"}
    async with order_api(
        db, ShopCatalog(PRODUCT_A, shop_id=SHOP_A), public_base_url=BASE, **PLATFORM, **only_new
    ) as lost:
        order = await awaiting_order(lost, db, A, PRODUCT_A)
        body = {"provider": "epay", "token": order["token"]}
        started = await lost.post(f"/internal/orders/{order['order_no']}/payments", json=body, headers=A)
    assert started.status_code == 503, started.text
    assert "choose another payment method" in started.json()["message"]
