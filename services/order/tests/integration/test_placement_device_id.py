"""The checkout's device id at the order service: announced to risk on OrderPlaced, not part of what an
Idempotency-Key compares (like the buyer's address), refused with a 422 naming it when malformed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from faka_common.contracts import Envelope
from order.adapters.inventory import Product

from .conftest import ShopCatalog, order_api

pytestmark = pytest.mark.integration

PRODUCT = Product(uuid4(), "Game key", 1999, "CNY", True)
DEVICE = "dLq3x2m1Qk-7YvB0aZr9Tw"


@pytest.fixture
async def api(db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, ShopCatalog(PRODUCT)) as client:
        yield client


def order(**extra: Any) -> dict[str, Any]:
    return {"product_id": str(PRODUCT.product_id), "quantity": 1, "buyer_email": "a@example.com", **extra}


async def announced(db: Any, order_no: str) -> dict[str, Any]:
    rows = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderPlaced'")
    placed = [Envelope.from_bytes(bytes(r["value"])).payload for r in rows]
    [found] = [p for p in placed if p["order_no"] == order_no]
    return found


async def test_the_device_id_given_at_checkout_is_announced_to_risk_with_the_order(
    api: httpx.AsyncClient, db: Any
) -> None:
    placed = (await api.post("/internal/orders", json=order(device_id=DEVICE))).json()
    assert (await announced(db, placed["order_no"]))["device_id"] == DEVICE
    plain = (await api.post("/internal/orders", json=order())).json()
    assert (await announced(db, plain["order_no"]))["device_id"] is None


async def test_a_retry_from_another_device_id_replays_the_first_answer(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": f"k-{uuid4().hex}"}
    first = await api.post("/internal/orders", json=order(device_id=DEVICE), headers=key)
    again = await api.post("/internal/orders", json=order(device_id="another-browser-0123"), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["order_no"] == first.json()["order_no"]
    assert again.headers.get("Idempotent-Replayed") == "true"


async def test_a_malformed_device_id_is_a_422_naming_it(api: httpx.AsyncClient) -> None:
    for bad in ("short", "x" * 65, "no spaces allowed 0123"):
        refused = await api.post("/internal/orders", json=order(device_id=bad))
        assert refused.status_code == 422 and "device_id" in refused.text, bad
