"""Odd input to the order service's order and pricing routes is a clear 4xx naming the field, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faka_common.fields import MAX_MONEY

from .conftest import order_api
from .test_pricing_http import PRODUCT, Catalog, order

pytestmark = pytest.mark.integration
TIERS = f"/internal/products/{PRODUCT.product_id}/price-tiers"


@pytest.fixture
async def api(db: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, Catalog()) as client:
        yield client


@pytest.mark.parametrize("unit_price", [10**19, MAX_MONEY + 1, -1])
async def test_a_price_tier_beyond_the_money_bound_is_refused(
    api: httpx.AsyncClient, unit_price: int
) -> None:
    tiers = {"tiers": [{"min_quantity": 2, "unit_price": unit_price}]}
    refused = await api.put(TIERS, json=tiers)
    assert refused.status_code == 422, refused.text
    assert "unit_price" in refused.json()["message"]


async def test_a_price_tier_at_the_money_bound_is_taken(api: httpx.AsyncClient) -> None:
    tiers = {"tiers": [{"min_quantity": 2, "unit_price": MAX_MONEY}]}
    taken = await api.put(TIERS, json=tiers)
    assert taken.status_code == 200, taken.text
    assert (await api.put(TIERS, json={"tiers": []})).is_success


async def test_a_fixed_coupon_beyond_the_money_bound_is_refused(api: httpx.AsyncClient) -> None:
    coupon = {"code": "HUGE", "kind": "fixed", "value": 10**19, "currency": "CNY"}
    refused = await api.post("/internal/coupons", json=coupon)
    assert refused.status_code == 422, refused.text
    assert "value" in refused.json()["message"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"buyer_email": "a\x00b@example.com"}, "buyer_email"),
        ({"buyer_email": "moc.live\u202e@example.com"}, "buyer_email"),
        ({"buyer_email": "a@exa\u2066mple.com"}, "buyer_email"),
        ({"buyer_fields": {"account": "138\x00"}}, "buyer_fields"),
        ({"buyer_fields": {"acc\x00": "1"}}, "buyer_fields"),
        ({"query_password": "pass\x00word"}, "query_password"),
        ({"coupon_code": "A\x00"}, "coupon_code"),
    ],
)
async def test_control_and_bidi_characters_in_buyer_input_are_refused(
    api: httpx.AsyncClient, extra: dict[str, Any], field: str
) -> None:
    refused = await api.post("/internal/orders", json=order(**extra))
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]


@pytest.mark.parametrize("code", ["A%00B", "%E2%80%AEX", "x" * 41])
async def test_disabling_a_coupon_by_an_odd_code_is_a_422(api: httpx.AsyncClient, code: str) -> None:
    refused = await api.post(f"/internal/coupons/{code}/disable")
    assert refused.status_code == 422, refused.text
    assert "code" in refused.json()["message"]
