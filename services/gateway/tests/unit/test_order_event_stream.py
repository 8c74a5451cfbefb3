"""The order page's event stream reads the order only when its view can have changed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from faka_common.contracts.order_watch import announcement
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
        awaiting = self.status == "awaiting_payment"
        return {
            "order_no": "N1",
            "status": self.status,
            "amount": 4800,
            "pay_url": "https://pay.example/N1" if awaiting else None,
            "payment_methods": ["sandbox"] if awaiting else [],
            "paid_at": PAID_AT.isoformat() if paid else None,
        }


PAID_AT = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC)


async def follow(orders: Orders, announcements: list[str], with_times: bool = True) -> list[dict[str, Any]]:
    """The frames the stream sends for the order's first view and each announced status (announced as the
    order service does: the move to paid with the time paid, unless not `with_times`)."""
    changes: asyncio.Queue[str] = asyncio.Queue()
    frames = order_events._stream(
        object(), "N1", OrderSecret("t", None), None, orders.view(), changes, contextlib.AsyncExitStack()
    )
    seen = [json.loads((await anext(frames)).decode().split("data: ", 1)[1])]
    for status in announcements:
        orders.status = status
        changes.put_nowait(announcement(status, PAID_AT if with_times else None))
        seen.append(json.loads((await anext(frames)).decode().split("data: ", 1)[1]))
    return seen


async def test_a_keyed_sale_is_read_when_it_awaits_payment_and_once_delivered_and_told_the_rest(
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
    assert orders.reads == ["awaiting_payment", "delivered"]
    orders.status = "paid"
    assert seen[3] == orders.view()  # told by the announcement: what a read at paid would have shown
    assert seen[4]["paid_at"] and seen[4]["pay_url"] is None  # fulfilling keeps what paid showed


async def test_a_payment_announced_without_its_time_makes_the_stream_read_the_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = Orders()
    orders.status = "awaiting_payment"
    monkeypatch.setattr(order_events.edge, "buyer_order", orders.buyer_order)
    seen = await follow(
        orders, ["paid"], with_times=False
    )  # an order service that announced the status alone
    assert orders.reads == ["paid"]
    assert seen[-1] == orders.view()


async def test_a_payment_announced_after_a_missed_announcement_makes_the_stream_read_the_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = Orders()
    monkeypatch.setattr(order_events.edge, "buyer_order", orders.buyer_order)
    seen = await follow(orders, ["paid"])  # from pending_risk: reserving and awaiting_payment never announced
    assert orders.reads == ["paid"]
    assert seen[-1] == orders.view()


async def test_a_missed_announcement_makes_the_stream_read_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    orders = Orders()
    orders.status = "awaiting_payment"
    monkeypatch.setattr(order_events.edge, "buyer_order", orders.buyer_order)
    seen = await follow(orders, ["fulfilling"])  # "paid" never announced
    assert orders.reads == ["fulfilling"]
    assert seen[-1]["pay_url"] is None and seen[-1]["paid_at"]
