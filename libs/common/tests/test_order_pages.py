"""The order page the order service keeps of an order just placed (faka_common.contracts.order_watch): the
view sealed without its token, opened only by that token, and the moves announced since in a sale's order."""

from __future__ import annotations

import json

from faka_common.contracts.order_watch import (
    OPENED,
    Announced,
    announcement,
    opened_view,
    page_moves,
    seal,
)

TOKEN = "AAAAAGk0eX4fP1cx5w2-vJb_QZ3qH0sT9yK8d7Lr6Nm4Po2Uw"
VIEW = {
    "order_no": "F20261206040000ABCDEF",
    "status": "pending_risk",
    "product_title": "月卡 Monthly card",
    "pay_url": None,
    "once_awaiting_payment": {
        "pay_url": f"http://127.0.0.1:8000/pay/sandbox/F20261206040000ABCDEF?token={TOKEN}",
        "payment_methods": ["sandbox"],
    },
}


def test_a_sealed_view_holds_no_copy_of_its_token_and_that_token_alone_opens_it_as_it_was() -> None:
    sealed = seal(VIEW, TOKEN)
    assert sealed is not None
    assert TOKEN not in sealed  # a reader of Redis finds no token that opens the order
    assert opened_view({OPENED: sealed}, TOKEN) == VIEW  # the payment link's token put back
    assert opened_view({OPENED: sealed}, TOKEN[:-1] + "x") is None
    assert opened_view({OPENED: sealed}, "") is None
    assert opened_view({"paid": announcement("paid")}, TOKEN) is None  # no view kept


def test_text_of_the_order_that_looks_like_the_mark_is_kept_as_it_is() -> None:
    """A seller's title holding the mark's characters is escaped in JSON, so it never takes the token."""
    view = {**VIEW, "product_title": "\\u0000token\\u0000 and \\\\u0000token\\\\u0000"}
    sealed = seal(view, TOKEN)
    assert sealed is not None
    opened = opened_view({OPENED: sealed}, TOKEN)
    assert opened is not None and opened["product_title"] == view["product_title"]
    assert TOKEN not in json.dumps(opened["product_title"])


def test_the_moves_come_in_a_sales_order_and_one_no_sale_makes_asks_for_a_read() -> None:
    page = {
        OPENED: "x",
        "paid": announcement("paid"),
        "reserving": announcement("reserving"),
        "awaiting_payment": announcement("awaiting_payment"),
    }
    assert page_moves(page) == [Announced("reserving"), Announced("awaiting_payment"), Announced("paid")]
    assert page_moves({OPENED: "x"}) == []
    assert page_moves({OPENED: "x", "cancelled": announcement("cancelled")}) is None
