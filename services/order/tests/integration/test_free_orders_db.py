"""Zero-amount orders (a free product, or a coupon that takes the whole price) on the real database and over
the order API: once stock is reserved they are paid directly, with a `free` payment record and OrderPaid as
usual and no payment provider involved; the order view offers nothing to pay; redelivery changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts import RiskDecided, StockReserved
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.adapters.inventory import Product
from order.adapters.payments.registry import PaymentProviders
from order.service_layer import handlers, payments

from .conftest import ShopCatalog, order_api

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=10)
FREE = Product(uuid4(), "Free sample", 0, "CNY", True)
PAID = Product(uuid4(), "Game key", 1000, "CNY", True)
TOPUP = Product(uuid4(), "Top-up", 0, "CNY", True, delivery_type="recharge", face_value=500)


def Catalog() -> ShopCatalog:
    return ShopCatalog(FREE, PAID, TOPUP)


@pytest.fixture
async def api(db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, Catalog()) as client:
        yield client


async def deliver(db: Any, handler: Any, event: Any, *args: Any) -> None:
    async with db.uow() as uow:
        await handler(event, uow, *args)
        await uow.commit()


async def place_and_reserve(
    db: Any, api: httpx.AsyncClient, product: Product, **extra: Any
) -> dict[str, Any]:
    body = {"product_id": str(product.product_id), "quantity": 1, "buyer_email": "a@example.com", **extra}
    placed = await api.post("/internal/orders", json=body)
    assert placed.status_code == 201, placed.text
    order_id = UUID(placed.json()["order_id"])
    await deliver(db, handlers.on_risk_decided, RiskDecided(order_id=order_id, verdict="approve"), WINDOW)
    reserved = StockReserved(order_id=order_id, product_id=product.product_id, quantity=1, expires_at=None)
    await deliver(db, handlers.on_stock_reserved, reserved)
    await deliver(db, handlers.on_stock_reserved, reserved)  # redelivered
    return dict(placed.json())


async def outbox(db: Any, type_name: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT value FROM outbox WHERE type = $1 ORDER BY id", type_name)
    return [json.loads(r["value"])["payload"] for r in rows]


async def view(api: httpx.AsyncClient, placed: dict[str, Any]) -> dict[str, Any]:
    got = await api.post(f"/internal/orders/{placed['order_no']}/view", json={"token": placed["token"]})
    assert got.status_code == 200
    return dict(got.json())


async def test_a_free_product_is_paid_without_a_provider_once(db: Any, api: httpx.AsyncClient) -> None:
    placed = await place_and_reserve(db, api, FREE)
    assert placed["amount"] == 0
    shown = await view(api, placed)
    assert shown["status"] == "paid" and shown["paid_at"]
    assert (shown["pay_url"], shown["payment_methods"], shown["payment_required"]) == (None, [], False)
    rows = await db.fetch("SELECT provider, trade_no, amount FROM payments")
    assert [tuple(r) for r in rows] == [("free", f"FREE-{placed['order_no']}", 0)]
    [paid] = await outbox(db, "OrderPaid")
    assert (paid["provider"], paid["amount"], paid["order_no"]) == ("free", 0, placed["order_no"])
    transitions = await db.fetch(
        "SELECT from_state, to_state FROM order_transitions WHERE order_id = $1 ORDER BY id",
        UUID(placed["order_id"]),
    )
    assert [tuple(t) for t in transitions][-2:] == [
        ("reserving", "awaiting_payment"),
        ("awaiting_payment", "paid"),
    ]
    started = await api.post(
        f"/internal/orders/{placed['order_no']}/payments",
        json={"provider": "sandbox", "token": placed["token"]},
    )
    assert started.status_code == 409
    refund = await api.post(f"/internal/orders/{placed['order_no']}/refunds", json={})
    assert refund.status_code == 409  # nothing was taken, nothing to give back
    report = await payments.reconciliation_report(
        DEFAULT_SHOP_ID, datetime.now(UTC).date(), db.uow, PaymentProviders({})
    )
    assert report["providers"]["free"]["confirmed"] == 1


async def test_a_coupon_that_takes_the_whole_price_makes_the_order_free(
    db: Any, api: httpx.AsyncClient
) -> None:
    coupon = {"code": "ALL", "kind": "percent", "value": 100, "usage_limit": 5}
    assert (await api.post("/internal/coupons", json=coupon)).status_code == 201
    placed = await place_and_reserve(db, api, PAID, coupon_code="all")
    assert (placed["amount"], placed["discount"]) == (0, 1000)
    shown = await view(api, placed)
    assert (shown["status"], shown["pay_url"], shown["payment_required"]) == ("paid", None, False)
    assert len(await outbox(db, "OrderPaid")) == 1
    [row] = await db.fetch("SELECT used_count FROM coupons WHERE code = 'ALL'")
    assert row["used_count"] == 1  # a paid order keeps its use


async def test_a_priced_order_still_waits_for_payment(db: Any, api: httpx.AsyncClient) -> None:
    placed = await place_and_reserve(db, api, PAID)
    shown = await view(api, placed)
    assert shown["status"] == "awaiting_payment" and shown["pay_url"] and shown["payment_required"] is True
    assert await outbox(db, "OrderPaid") == [] and await db.fetch("SELECT 1 FROM payments") == []


async def test_a_free_recharge_asks_delivery_to_top_up(db: Any, api: httpx.AsyncClient) -> None:
    placed = await place_and_reserve(db, api, TOPUP, buyer_fields={"account": "13800138000"})
    assert (await view(api, placed))["status"] == "paid"
    [request] = await outbox(db, "RechargeRequested")
    assert (request["account"], request["amount"]) == ("13800138000", 500)
