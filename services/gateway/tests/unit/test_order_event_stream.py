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

    def __init__(self, access: dict[str, Any] | None = None) -> None:
        self.status = "pending_risk"
        self.reads: list[str] = []
        self.reveals: list[str] = []
        self.access = access if access is not None else TOKEN_ACCESS

    async def buyer_order_and_access(
        self, gw: Any, order_no: str, secret: OrderSecret, ip: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        self.reads.append(self.status)
        return await self.revealed_view(gw, self.view()), self.opened()

    def opened(self) -> dict[str, Any] | None:
        """How the secret opened the order, with what its view shows once it awaits payment (before it does),
        as `edge.buyer_order_and_access` hands them to the stream."""
        if self.access is None or self.status not in {"pending_risk", "reserving"}:
            return self.access
        return {**self.access, "once_awaiting_payment": ONCE_AWAITING}

    async def revealed_view(self, gw: Any, order: dict[str, Any]) -> dict[str, Any]:
        if order["status"] != "delivered":
            return order
        self.reveals.append(order["status"])
        return {**order, "items": [{"content": "KEY-1"}]}

    def view(self) -> dict[str, Any]:
        paid = self.status not in {"pending_risk", "reserving", "awaiting_payment"}
        awaiting = self.status == "awaiting_payment"
        return {
            "order_no": "N1",
            "status": self.status,
            "amount": 4800,
            "expires_at": EXPIRES_AT.isoformat(),
            "pay_url": ONCE_AWAITING["pay_url"] if awaiting else None,
            "payment_methods": ONCE_AWAITING["payment_methods"] if awaiting else [],
            "paid_at": PAID_AT.isoformat() if paid else None,
            "delivered_at": DELIVERED_AT.isoformat() if self.status == "delivered" else None,
        }


ONCE_AWAITING: dict[str, Any] = {"pay_url": "https://pay.example/N1", "payment_methods": ["sandbox"]}
EXPIRES_AT = datetime(2026, 12, 2, 12, 10, tzinfo=UTC)
PAID_AT = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC)
DELIVERED_AT = datetime(2026, 12, 2, 12, 0, 1, 5, tzinfo=UTC)
TOKEN_ACCESS = {"by": "token", "secret_version": 0, "until": "2999-01-01T00:00:00+00:00"}


def announced(status: str, with_times: bool = True, secret_version: int = 0) -> str:
    """`status` announced as the order service does: the move to awaiting payment with the end of its
    window, to paid with the time paid, to delivered with the time delivered and the secret version (none,
    unless `with_times`)."""
    if not with_times:
        return announcement(status)
    at = {"awaiting_payment": EXPIRES_AT, "delivered": DELIVERED_AT}.get(status, PAID_AT)
    return announcement(status, at, secret_version)


async def follow(
    orders: Orders, announcements: list[str], with_times: bool = True, secret_version: int = 0
) -> list[dict[str, Any]]:
    """The frames the stream sends for the order's first view and each announced status."""
    changes: asyncio.Queue[str] = asyncio.Queue()
    frames = order_events._stream(
        object(),
        "N1",
        OrderSecret("t", None),
        None,
        orders.view(),
        changes,
        contextlib.AsyncExitStack(),
        orders.opened(),
    )
    seen = [json.loads((await anext(frames)).decode().split("data: ", 1)[1])]
    for status in announcements:
        orders.status = status
        changes.put_nowait(announced(status, with_times, secret_version))
        seen.append(json.loads((await anext(frames)).decode().split("data: ", 1)[1]))
    return seen


@pytest.fixture
def orders(monkeypatch: pytest.MonkeyPatch) -> Orders:
    orders = Orders()
    monkeypatch.setattr(order_events.edge, "buyer_order_and_access", orders.buyer_order_and_access)
    monkeypatch.setattr(order_events.edge, "revealed_view", orders.revealed_view)
    return orders


async def test_a_keyed_sale_is_read_once_when_the_page_opens_and_told_the_rest(orders: Orders) -> None:
    seen = await follow(orders, ["reserving", "awaiting_payment", "paid", "fulfilling", "delivered"])
    assert [view["status"] for view in seen] == [
        "pending_risk",
        "reserving",
        "awaiting_payment",
        "paid",
        "fulfilling",
        "delivered",
    ]
    assert orders.reads == []
    assert orders.reveals == ["delivered"]  # the keys, revealed once
    assert seen[5] == {**orders.view(), "items": [{"content": "KEY-1"}]}  # what a read would have shown
    orders.status = "paid"
    assert seen[3] == orders.view()  # told by the announcement: what a read at paid would have shown
    orders.status = "awaiting_payment"
    assert seen[2] == orders.view()  # the payment link and methods the first read had for then
    assert seen[4]["paid_at"] and seen[4]["pay_url"] is None  # fulfilling keeps what paid showed


@pytest.mark.parametrize(
    ("announced_as", "opened"),
    [
        (
            announcement("awaiting_payment", datetime(2026, 12, 2, 12, 30, tzinfo=UTC)),
            TOKEN_ACCESS,
        ),  # reviewed
        (announcement("awaiting_payment"), TOKEN_ACCESS),  # an order service that announced the status alone
        (announced("awaiting_payment"), None),  # one that does not say how the order opened
    ],
)
async def test_a_move_to_awaiting_payment_it_cannot_tell_makes_the_stream_read_the_order(
    orders: Orders, announced_as: str, opened: dict[str, Any] | None
) -> None:
    """A window other than the one the page showed (the order was reviewed, and its window starts at the
    approval), or no window or payment link known: the stream reads the order for its link."""
    orders.access = opened  # type: ignore[assignment]
    changes: asyncio.Queue[str] = asyncio.Queue()
    frames = order_events._stream(
        object(), "N1", OrderSecret("t", None), None, orders.view(), changes, contextlib.AsyncExitStack(),
        orders.opened(),
    )  # fmt: skip
    await anext(frames)
    orders.status = "awaiting_payment"
    changes.put_nowait(announced_as)
    await anext(frames)
    assert orders.reads == ["awaiting_payment"]


async def test_a_payment_announced_without_its_time_makes_the_stream_read_the_order(orders: Orders) -> None:
    orders.status = "awaiting_payment"
    seen = await follow(
        orders, ["paid"], with_times=False
    )  # an order service that announced the status alone
    assert orders.reads == ["paid"]
    assert seen[-1] == orders.view()


async def test_a_payment_announced_after_a_missed_announcement_makes_the_stream_read_the_order(
    orders: Orders,
) -> None:
    seen = await follow(orders, ["paid"])  # from pending_risk: reserving and awaiting_payment never announced
    assert orders.reads == ["paid"]
    assert seen[-1] == orders.view()


async def test_a_missed_announcement_makes_the_stream_read_the_order(orders: Orders) -> None:
    orders.status = "awaiting_payment"
    seen = await follow(orders, ["fulfilling"])  # "paid" never announced
    assert orders.reads == ["fulfilling"]
    assert seen[-1]["pay_url"] is None and seen[-1]["paid_at"]


async def test_a_delivery_after_the_token_was_rotated_makes_the_stream_read_the_order(orders: Orders) -> None:
    """A seller rotated the order's tokens while the buyer watched: the delivery is announced with the new
    secret version, so the stream reads the order with the old token (which the order service refuses),
    and nothing is revealed without that read."""
    orders.status = "fulfilling"
    seen = await follow(orders, ["delivered"], secret_version=1)
    assert orders.reads == ["delivered"]
    assert seen[-1]["status"] == "delivered"  # this fake order service still opens it; the real one 404s


@pytest.mark.parametrize(
    ("access", "told"),
    [
        ({"by": "password"}, True),  # rotating tokens leaves the query password
        ({**TOKEN_ACCESS, "until": "2020-01-01T00:00:00+00:00"}, False),  # the token has expired since
        ({**TOKEN_ACCESS, "until": "not a time"}, False),
        ({"by": "token"}, False),  # no version known
        (None, False),  # an order service that does not say how the order was opened
    ],
)
async def test_a_delivery_is_told_only_while_the_watchers_secret_still_opens_the_order(
    orders: Orders, access: dict[str, Any] | None, told: bool
) -> None:
    orders.status, orders.access = "fulfilling", access  # type: ignore[assignment]
    seen = await follow(orders, ["delivered"])
    assert orders.reads == ([] if told else ["delivered"])
    assert seen[-1]["items"] == [{"content": "KEY-1"}]


async def test_a_delivery_announced_without_its_secret_version_makes_the_stream_read_the_order(
    orders: Orders,
) -> None:
    orders.status = "fulfilling"
    seen = await follow(orders, ["delivered"], with_times=False)  # an order service before versions
    assert orders.reads == ["delivered"]
    assert seen[-1]["delivered_at"] == DELIVERED_AT.isoformat()
