"""What a paid order asks of delivery: recharge, manual, or nothing (keys come from inventory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from faka_common.contracts.delivery import ManualDeliveryRequested, RechargeRequested
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.domain.fulfilment import (
    InvalidBuyerFields,
    check_buyer_fields,
    check_recharge_fields,
    fulfilment_request,
)
from order.domain.model import Order


def order(delivery_type: str, fields: dict[str, str] | None = None, **changes: Any) -> Order:
    placed = Order.place(
        id=uuid4(),
        shop_id=DEFAULT_SHOP_ID,
        order_no="F20260301120000ABCDEF",
        product_id=uuid4(),
        product_title="Mobile top-up 50",
        quantity=2,
        unit_price=4900,
        currency="CNY",
        buyer_email="a@example.com",
        buyer_ip=None,
        locale="zh-CN",
        password_hash=None,
        now=datetime.now(UTC),
        payment_window=timedelta(minutes=10),
        delivery_type=delivery_type,
        buyer_fields=fields,
        **changes,
    )
    return placed


def test_recharge_order_asks_for_a_recharge_of_the_face_value_to_the_buyers_account() -> None:
    paid = order("recharge", {"account": " 13800138000 ", "note": "thanks"}, discount=800)
    request = fulfilment_request(paid)
    assert isinstance(request, RechargeRequested)
    assert (request.account, request.amount, request.currency) == ("13800138000", 9800, "CNY")
    assert (request.order_id, request.product_id, request.order_no) == (
        paid.id,
        paid.product_id,
        paid.order_no,
    )
    assert request.quantity == 2 and request.buyer_fields == {"account": " 13800138000 ", "note": "thanks"}


def test_recharge_face_value_from_the_product_view_wins() -> None:
    request = fulfilment_request(order("recharge", {"phone": "13800138000"}, face_value=5000))
    assert isinstance(request, RechargeRequested) and request.amount == 10000


def test_recharge_without_an_account_goes_to_an_operator() -> None:
    request = fulfilment_request(order("recharge", {"server": "asia"}))
    assert isinstance(request, ManualDeliveryRequested)
    assert request.buyer_fields == {"server": "asia"}


def test_manual_order_asks_an_operator_with_the_buyer_fields() -> None:
    request = fulfilment_request(order("manual", {"game_id": "player#1"}))
    assert isinstance(request, ManualDeliveryRequested)
    assert request.buyer_fields == {"game_id": "player#1"} and request.quantity == 2


@pytest.mark.parametrize("delivery_type", ["card_key", "loop_key"])
def test_key_orders_ask_nothing_of_delivery(delivery_type: str) -> None:
    assert fulfilment_request(order(delivery_type, {"account": "x"})) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({f"f{i}": "v" for i in range(11)}, "at most 10"),
        ({"k" * 41: "v"}, "1..40"),
        ({" ": "v"}, "1..40"),
        ({"account": "v" * 201}, "at most 200"),
    ],
)
def test_buyer_fields_are_bounded(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidBuyerFields, match=message):
        check_buyer_fields(fields)


def test_buyer_fields_within_bounds_are_kept_trimmed() -> None:
    fields = {f"f{i}": "v" * 200 for i in range(10)}
    assert check_buyer_fields(fields) == fields
    assert check_buyer_fields({" account ": " 1 "}) == {"account": "1"}


def test_a_recharge_product_needs_an_account_at_checkout() -> None:
    check_recharge_fields("recharge", {"account": "13800138000"})
    check_recharge_fields("card_key", {})
    with pytest.raises(InvalidBuyerFields, match="account"):
        check_recharge_fields("recharge", {"account": "  "})
