"""The public request models refuse what the owners behind them cannot store, and say so in their schema."""

from typing import Any

import pytest
from faka_common.fields import LINE_PATTERN, MAX_MONEY, NONBLANK_LINE_PATTERN, TEXT_PATTERN
from gateway.entrypoints.schemas import (
    EMAIL_PATTERN,
    FixedCoupon,
    NewOrder,
    NewProduct,
    OrderLookup,
    PriceTier,
)
from pydantic import BaseModel, ValidationError

PRODUCT_ID = "0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"
ORDER = {"product_id": PRODUCT_ID, "email": "buyer@example.com"}
PRODUCT = {"title": "Steam ¥100", "price": 9900}


def refused_field(model: type[BaseModel], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    return ".".join(str(part) for part in refused.value.errors()[0]["loc"])


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"email": "a\x00b@example.com"}, "email"),
        ({"email": "moc.live\u202e@example.com"}, "email"),
        ({"email": "a@ex\u2067ample.com"}, "email"),
        ({"buyer_fields": {"account": "138\x00"}}, "buyer_fields.account"),
        ({"buyer_fields": {"acc\x00": "1"}}, "buyer_fields.acc\x00.[key]"),
        ({"query_password": "secret\x00pw"}, "query_password"),
    ],
)
def test_control_and_bidi_characters_in_an_order_are_refused(extra: dict[str, Any], field: str) -> None:
    assert refused_field(NewOrder, {**ORDER, **extra}) == field


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"title": "a\x00"}, "title"),
        ({"title": "\ud800"}, "title"),
        ({"variant_label": "v\x1b"}, "variant_label"),
        ({"description": "nul\x00"}, "description"),
        ({"price": 10**19}, "price"),
        ({"price": MAX_MONEY + 1}, "price"),
        ({"face_value": 10**19}, "face_value"),
        ({"max_per_order": 1_000_001}, "max_per_order"),
        ({"max_per_buyer": 10**12}, "max_per_buyer"),
        ({"low_stock_threshold": 10**10}, "low_stock_threshold"),
    ],
)
def test_odd_product_values_are_refused(extra: dict[str, Any], field: str) -> None:
    assert refused_field(NewProduct, {**PRODUCT, **extra}) == field


def test_amounts_beyond_the_money_bound_are_refused_in_tiers_and_coupons() -> None:
    assert refused_field(PriceTier, {"min_quantity": 2, "unit_price": 10**19}) == "unit_price"
    assert PriceTier(min_quantity=2, unit_price=MAX_MONEY).unit_price == MAX_MONEY
    coupon = {"code": "HUGE", "kind": "fixed", "value": 10**19, "currency": "CNY"}
    assert refused_field(FixedCoupon, coupon) == "value"


def test_multi_line_fields_keep_their_line_breaks() -> None:
    product = NewProduct.model_validate(
        {**PRODUCT, "description": "one\ntwo", "usage_instructions": "a\r\nb"}
    )
    assert product.description == "one\ntwo"


def test_the_schema_carries_each_constraint() -> None:
    order = NewOrder.model_json_schema()["properties"]
    assert order["email"]["pattern"] == EMAIL_PATTERN
    product = NewProduct.model_json_schema()["properties"]
    assert product["title"]["pattern"] == NONBLANK_LINE_PATTERN
    assert product["description"]["pattern"] == TEXT_PATTERN
    assert product["price"]["maximum"] == MAX_MONEY
    assert PriceTier.model_json_schema()["properties"]["unit_price"]["maximum"] == MAX_MONEY
    assert FixedCoupon.model_json_schema()["properties"]["value"]["maximum"] == MAX_MONEY
    assert OrderLookup.model_json_schema()["properties"]["password"]["pattern"] == LINE_PATTERN


@pytest.mark.parametrize("phone", ["+ (((((", "12 - ( )", "++8613800138000", "(555) 010-0199"])
def test_a_phone_the_order_service_would_refuse_is_refused_here(phone: str) -> None:
    assert refused_field(NewOrder, {**ORDER, "phone": phone}) == "phone"


@pytest.mark.parametrize("phone", ["+86 138 0013 8000", "13800138000", "555 (010) 0199", "1-2-3-4-5"])
def test_ordinary_phone_numbers_pass(phone: str) -> None:
    assert NewOrder.model_validate({**ORDER, "phone": phone}).phone == phone
