"""The order page's event stream reads the order only when its view can have changed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from gateway.entrypoints import order_events
from gateway.service_layer.buyer_secrets import OrderSecret


class Orders:
    """The order as the order service would answer it, at whatever status it has reached."""

    def __init__(self) -> None:
        self.status = "pending_risk"
        self.reads: list[str] = []

    async def buyer_order(
        self, gw: Any, order_no: str, secret: OrderSecret, ip: str | None
    ) -> dict[str, Any]:
        self.reads.append(self.status)
        return self.view()

    def view(self) -> dict[str, Any]:
        paid = self.status not in {"pending_risk", "reserving", "awaiting_payment"}
        return {
            "order_no": "N1",
            "status": self.status,
            "pay_url": "https://pay.example/N1" if self.status == "awaiting_payment" else None,
            "paid_at": "2026-12-02T12:00:00+00:00" if paid else None,
        }


async def follow(orders: Orders, announcements: list[str]) -> list[dict[str, Any]]:
    changes: asyncio.Queue[str] = asyncio.Queue()
    frames = order_events._stream(
        object(), "N1", OrderSecret("t", None), None, orders.view(), changes, contextlib.AsyncExitStack()
    )
    seen = [json.loads((await anext(frames)).decode().split("data: ", 1)[1])]
    for status in announcements:
        orders.status = status
        changes.put_nowait(status)
        seen.append(json.loads((await anext(frames)).decode().split("data: ", 1)[1]))
    return seen


async def test_a_keyed_sale_is_read_at_payment_paid_and_delivery_and_passes_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = Orders()
    monkeypatch.setattr(order_events.edge, "buyer_order", orders.buyer_order)
    seen = await follow(orders, ["reserving", "awaiting_payment", "paid", "fulfilling", "delivered"])
    assert [view["status"] for view in seen] == [
        "pending_risk",
        "reserving",
        "awaiting_payment",
        "paid",
        "fulfilling",
        "delivered",
    ]
    assert orders.reads == ["awaiting_payment", "paid", "delivered"]
    assert seen[4]["paid_at"] and seen[4]["pay_url"] is None  # fulfilling keeps what paid showed


async def test_a_missed_announcement_makes_the_stream_read_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    orders = Orders()
    orders.status = "awaiting_payment"
    monkeypatch.setattr(order_events.edge, "buyer_order", orders.buyer_order)
    seen = await follow(orders, ["fulfilling"])  # "paid" never announced
    assert orders.reads == ["fulfilling"]
    assert seen[-1]["pay_url"] is None and seen[-1]["paid_at"]
