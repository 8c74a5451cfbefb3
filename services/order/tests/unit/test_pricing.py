"""Pricing rules: wholesale tiers, coupon checks and discounts (half-up rounding), purchase limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import uuid4

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import DomainError
from hypothesis import given
from hypothesis import strategies as st
from order.domain.pricing import (
    Coupon,
    CouponRejected,
    InvalidTiers,
    PriceTier,
    PurchaseLimitExceeded,
    check_purchase_limits,
    check_tiers,
    percent_of,
    price,
    unit_price_for,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRODUCT, CATEGORY = uuid4(), uuid4()


def coupon(**changes: Any) -> Coupon:
    values: dict[str, Any] = {
        "shop_id": DEFAULT_SHOP_ID,
        "code": "spring10",
        "kind": "percent",
        "value": 10,
        "currency": None,
        "product_id": None,
        "category_id": None,
        "usage_limit": None,
        "per_buyer_limit": None,
        "expires_at": None,
        "now": NOW,
    }
    values.update(changes)
    return Coupon.new(**values)


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [(1999, 15, 300), (1001, 50, 501), (3, 50, 2), (1, 1, 0), (1, 50, 1), (4800, 100, 4800), (0, 30, 0)],
)
def test_percent_discount_rounds_half_up_to_the_minor_unit(amount: int, percent: int, expected: int) -> None:
    assert percent_of(amount, percent) == expected


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=100))
def test_percent_discount_matches_decimal_half_up(amount: int, percent: int) -> None:
    exact = (Decimal(amount) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert percent_of(amount, percent) == int(exact)


@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=1, max_value=1000),
    st.sampled_from(["fixed", "percent"]),
    st.integers(min_value=1, max_value=10**13),
)
def test_discounted_amount_is_never_below_zero_nor_above_the_price(
    unit: int, quantity: int, kind: str, value: int
) -> None:
    value = min(value, 100) if kind == "percent" else value
    priced = price(unit, quantity, coupon(kind=kind, value=value, currency="CNY"))
    assert 0 <= priced.discount <= priced.subtotal == unit * quantity
    assert priced.amount == priced.subtotal - priced.discount >= 0


def test_fixed_coupon_takes_its_value_and_never_more_than_the_price() -> None:
    ten_off = coupon(kind="fixed", value=1000, currency="CNY")
    assert price(4800, 1, ten_off).amount == 3800
    assert price(500, 1, ten_off).amount == 0


def test_tiers_price_by_the_highest_quantity_reached() -> None:
    tiers = check_tiers([PriceTier(10, 4000), PriceTier(5, 4500)])
    assert [t.min_quantity for t in tiers] == [5, 10]
    assert [unit_price_for(4800, tiers, q) for q in (1, 4, 5, 9, 10, 500)] == [4800] * 2 + [4500] * 2 + [
        4000
    ] * 2
    assert unit_price_for(4800, [], 100) == 4800


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([PriceTier(1, 100)], "at least 2"),
        ([PriceTier(5, -1)], "negative"),
        ([PriceTier(5, 100), PriceTier(5, 90)], "two tiers"),
        ([PriceTier(5, 100), PriceTier(10, 120)], "costs more"),
        ([PriceTier(q, 100) for q in range(2, 30)], "at most"),
    ],
)
def test_bad_tiers_are_refused_with_the_reason(tiers: list[PriceTier], message: str) -> None:
    with pytest.raises(InvalidTiers, match=message) as caught:
        check_tiers(tiers)
    assert caught.value.status_code == 422


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"active": False}, "coupon_disabled"),
        ({"expires_at": NOW - timedelta(seconds=1)}, "coupon_expired"),
        ({"usage_limit": 5, "used_count": 5}, "coupon_used_up"),
        ({"product_id": uuid4()}, "coupon_not_applicable"),
        ({"category_id": uuid4()}, "coupon_not_applicable"),
        ({"kind": "fixed", "value": 100, "currency": "USD"}, "coupon_not_applicable"),
    ],
)
def test_a_coupon_that_does_not_apply_says_why(changes: dict[str, Any], code: str) -> None:
    from dataclasses import replace

    checked = replace(coupon(), **changes)
    with pytest.raises(CouponRejected) as caught:
        checked.check(PRODUCT, CATEGORY, "CNY", NOW)
    assert caught.value.code == code
    assert caught.value.status_code == 409  # the request is well formed; the coupon's state forbids it
    assert "SPRING10" in caught.value.message


def test_a_coupon_applies_to_its_product_or_category() -> None:
    coupon(product_id=PRODUCT).check(PRODUCT, None, "CNY", NOW)
    coupon(category_id=CATEGORY).check(PRODUCT, CATEGORY, "CNY", NOW)
    coupon(kind="fixed", value=100, currency="cny").check(PRODUCT, None, "CNY", NOW)
    with pytest.raises(CouponRejected, match="category"):
        coupon(category_id=CATEGORY).check(PRODUCT, None, "CNY", NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "percent", "value": 101},
        {"kind": "percent", "value": 0},
        {"kind": "fixed", "value": 100, "currency": None},
        {"product_id": PRODUCT, "category_id": CATEGORY},
        {"usage_limit": 0},
        {"expires_at": NOW},
        {"code": " "},
    ],
)
def test_malformed_coupons_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(DomainError):
        coupon(**changes)


def test_codes_are_case_insensitive() -> None:
    assert coupon(code=" Spring10 ").code == "SPRING10"


def test_purchase_limits_per_order_and_per_buyer() -> None:
    check_purchase_limits(3, 3, 5, 2)
    with pytest.raises(PurchaseLimitExceeded, match="per order"):
        check_purchase_limits(4, 3, None, 0)
    with pytest.raises(PurchaseLimitExceeded, match="1 left for you") as caught:
        check_purchase_limits(2, None, 5, 4)
    assert caught.value.status_code == 409
    check_purchase_limits(1000, None, None, 10**6)
