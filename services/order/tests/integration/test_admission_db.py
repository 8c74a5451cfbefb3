"""Admission at the order service: while too many orders have waited too long for their stock (risk's
decision or the reservation still to come), a new order is turned away at once with 503 busy and
Retry-After, and taken again once the queue has moved on. Orders that have only just been placed, and
orders past that point (awaiting payment, paid), do not count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest
from faka_common.testing import asgi_client
from order.adapters import metrics
from order.adapters.inventory import Product
from order.bootstrap import Service
from order.entrypoints.api import order_app

from .conftest import Db, ShopCatalog, order_service

pytestmark = pytest.mark.integration

PRODUCT = Product(uuid4(), "Game key", 1999, "CNY", True)


@asynccontextmanager
async def bounded(db: Db, bound: int) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with (
        order_service(db, ShopCatalog(PRODUCT), max_late_orders=bound, late_after_seconds=5) as service,
        asgi_client(order_app(service), "order") as api,
    ):
        yield service, api


def order(n: int) -> dict[str, Any]:
    return {"product_id": str(PRODUCT.product_id), "quantity": 1, "buyer_email": f"b{n}@example.com"}


async def placed_seconds_ago(db: Db, seconds: int, order_nos: list[str]) -> None:
    await db.fetch(
        "UPDATE orders SET created_at = now() - make_interval(secs => $1) WHERE order_no = ANY($2::text[])",
        seconds,
        order_nos,
    )


async def test_a_new_order_is_turned_away_busy_while_orders_are_late_and_taken_once_they_move(db: Db) -> None:
    await db.awaiting_order()  # past the queue: not counted, however old
    async with bounded(db, 2) as (service, api):
        placed = [(await api.post("/internal/orders", json=order(n))).json()["order_no"] for n in range(3)]
        await service.count_late()
        assert service.late == 0, "orders placed just now are not late"
        await placed_seconds_ago(db, 6, placed[:1])
        await service.count_late()
        assert service.late == 1
        assert (await api.post("/internal/orders", json=order(3))).status_code == 201

        await placed_seconds_ago(db, 6, placed)
        # admitted against the last count: the count, not each placement, reads the database
        assert (await api.post("/internal/orders", json=order(4))).status_code == 201
        await service.count_late()
        assert service.late == 3

        turned_away = metrics.TURNED_AWAY._value.get()
        refused = await api.post("/internal/orders", json=order(5), headers={"Idempotency-Key": "k-1"})
        assert metrics.TURNED_AWAY._value.get() == turned_away + 1
        assert metrics.LATE_ORDERS._value.get() == 3
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"] == "busy" and refused.json()["retry_after"] == 2
        assert "waiting for their stock" in refused.json()["message"]
        rows = await db.fetch("SELECT count(*) AS n FROM orders WHERE buyer_email = 'b5@example.com'")
        assert rows[0]["n"] == 0, "a refused order is not kept"

        await db.fetch(
            "UPDATE orders SET status = 'awaiting_payment' WHERE order_no = ANY($1::text[])", placed[:1]
        )
        await placed_seconds_ago(db, 120, placed[1:2])  # stuck for good: the watchdog's, not admission's
        await service.count_late()
        assert service.late == 1
        again = await api.post("/internal/orders", json=order(5), headers={"Idempotency-Key": "k-1"})
        assert again.status_code == 201, again.text


async def test_no_bound_turns_nothing_away(db: Db) -> None:
    async with bounded(db, 0) as (service, api):
        placed = [(await api.post("/internal/orders", json=order(n))).json()["order_no"] for n in range(3)]
        await placed_seconds_ago(db, 30, placed)
        await service.count_late()
        assert service.late == 3
        assert (await api.post("/internal/orders", json=order(9))).status_code == 201
