"""The order page's stream starting from the page the order service kept at the placement
(`edge.page_order_and_access`, faka_common.contracts.order_watch): only the placement's token opens it, the
moves announced since are applied as the stream applies them, and anything it cannot tell reads the order."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from faka_common.contracts.order_watch import OPENED, announcement, seal
from gateway.service_layer import edge
from gateway.service_layer.buyer_secrets import OrderSecret

TOKEN = "AAAAAGk0eX4fP1cx5w2-vJb_QZ3qH0sT9yK8d7Lr6Nm4Po2Uw"
EXPIRES_AT = datetime(2026, 12, 6, 4, 15, tzinfo=UTC)
PAID_AT = datetime(2026, 12, 6, 4, 1, 2, 345678, tzinfo=UTC)
DELIVERED_AT = datetime(2026, 12, 6, 4, 1, 3, tzinfo=UTC)
PAY_URL = f"http://127.0.0.1:8000/pay/sandbox/F1?token={TOKEN}"
#: The order service's view of an order just placed, for the placement's token (`POST .../view`).
PLACED = {
    "order_id": "0193a3f2-0000-7000-8000-000000000001",
    "shop_id": "00000000-0000-0000-0000-000000000001",
    "order_no": "F1",
    "status": "pending_risk",
    "amount": 4800,
    "expires_at": EXPIRES_AT.isoformat(),
    "paid_at": None,
    "delivered_at": None,
    "pay_url": None,
    "payment_methods": [],
    "delivery_type": "card_key",
    "access": {"by": "token", "secret_version": 0, "until": "2999-01-01T00:00:00+00:00"},
    "once_awaiting_payment": {"pay_url": PAY_URL, "payment_methods": ["sandbox"]},
}


class Pages:
    def __init__(self, page: dict[str, str] | None) -> None:
        self.kept, self.asked = page, 0

    async def page(self, order_no: str) -> dict[str, str] | None:
        self.asked += 1
        return self.kept


def gateway(*moves: str) -> Any:
    sealed = seal(PLACED, TOKEN)
    assert sealed is not None
    return SimpleNamespace(
        changes=Pages({OPENED: sealed, **{move.partition(" ")[0]: move for move in moves}})
    )


@pytest.fixture
def reveals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The orders whose keys were fetched (the stream reveals them once the page shows the delivery)."""
    revealed: list[str] = []

    async def fetch_keys(gw: Any, order: dict[str, Any]) -> dict[str, Any]:
        revealed.append(order["order_no"])
        return {"keys": [{"content": "KEY-1"}], "usage_instructions": ""}

    monkeypatch.setattr(edge, "fetch_keys", fetch_keys)
    return revealed


async def test_the_page_as_placed_moved_by_each_announced_move_with_the_buyers_payment_link() -> None:
    gw = gateway(announcement("awaiting_payment", EXPIRES_AT), announcement("reserving"))
    opened = await edge.page_order_and_access(gw, "F1", OrderSecret(TOKEN))
    assert opened is not None
    view, access = opened
    assert view["status"] == "awaiting_payment"
    assert view["pay_url"] == PAY_URL and view["payment_methods"] == ["sandbox"]  # the token put back
    assert "access" not in view and "once_awaiting_payment" not in view
    assert access == {**PLACED["access"], "once_awaiting_payment": PLACED["once_awaiting_payment"]}
    unmoved = await edge.page_order_and_access(gateway(), "F1", OrderSecret(TOKEN))
    assert unmoved is not None and unmoved[0]["status"] == "pending_risk" and unmoved[0]["pay_url"] is None


async def test_a_delivery_announced_for_the_tokens_version_is_shown_with_its_keys(reveals: list[str]) -> None:
    moves = (
        announcement("awaiting_payment", EXPIRES_AT),
        announcement("paid", PAID_AT),
        announcement("fulfilling"),
        announcement("delivered", DELIVERED_AT, 0),
    )
    opened = await edge.page_order_and_access(gateway(*moves), "F1", OrderSecret(TOKEN))
    assert opened is not None
    view, _ = opened
    assert (view["status"], view["paid_at"], view["delivered_at"]) == (
        "delivered",
        PAID_AT.isoformat(),
        DELIVERED_AT.isoformat(),
    )
    assert view["items"] == [{"content": "KEY-1"}] and reveals == ["F1"]


@pytest.mark.parametrize(
    ("secret", "moves"),
    [
        (OrderSecret(TOKEN[:-1] + "A"), ()),  # another token: the order service checks it, as ever
        (OrderSecret(TOKEN, "the-query-password"), ()),  # a password: read (the stream's access differs)
        (OrderSecret(None, "the-query-password"), ()),
        (OrderSecret(TOKEN), (announcement("cancelled"),)),  # a move no sale makes
        # an approval after review: another window than the one the page showed
        (OrderSecret(TOKEN), (announcement("awaiting_payment", datetime(2026, 12, 6, 5, tzinfo=UTC)),)),
        (OrderSecret(TOKEN), (announcement("paid", PAID_AT),)),  # a move missed: paid from pending_risk
        # delivered after the tokens were rotated (the new version announced): nothing revealed unread
        (
            OrderSecret(TOKEN),
            (
                announcement("awaiting_payment", EXPIRES_AT),
                announcement("paid", PAID_AT),
                announcement("delivered", DELIVERED_AT, 1),
            ),
        ),
    ],
)
async def test_what_the_page_cannot_tell_reads_the_order(
    reveals: list[str], secret: OrderSecret, moves: tuple[str, ...]
) -> None:
    assert await edge.page_order_and_access(gateway(*moves), "F1", secret) is None
    assert reveals == []


async def test_no_page_kept_reads_the_order() -> None:
    gw = SimpleNamespace(changes=Pages(None))
    assert await edge.page_order_and_access(gw, "F1", OrderSecret(TOKEN)) is None
    assert gw.changes.asked == 1
