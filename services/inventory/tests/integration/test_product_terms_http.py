"""The order service prices an order from the product's selling terms alone: `?stock=false` answers the same
product without counting its stock (one query less a sale), and no less scoped to the shop."""

from __future__ import annotations

import uuid

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.uow import SessionFactory
from faka_common.http import SHOP_HEADER
from faka_common.testing import as_caller

from .test_inventory_db import card_product
from .test_key_reveal_http import api  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def as_shop(shop: uuid.UUID) -> dict[str, str]:
    return {**as_caller("order"), SHOP_HEADER: str(shop)}


async def test_the_product_without_its_counts_has_the_same_terms_and_no_stock(
    api: httpx.AsyncClient,  # noqa: F811
    sessions: SessionFactory,
) -> None:
    product_id = await card_product(sessions, ["TERMS-1", "TERMS-2"])
    counted = await api.get(f"/internal/products/{product_id}", headers=as_shop(DEFAULT_SHOP_ID))
    terms = await api.get(
        f"/internal/products/{product_id}", params={"stock": "false"}, headers=as_shop(DEFAULT_SHOP_ID)
    )
    assert counted.status_code == terms.status_code == 200, (counted.text, terms.text)
    assert counted.json()["stock"] == {"available": 2, "reserved": 0, "sold": 0}
    assert terms.json()["stock"] is None
    assert {**terms.json(), "stock": None, "in_stock": None} == {
        **counted.json(),
        "stock": None,
        "in_stock": None,
    }
    assert (terms.json()["price"], terms.json()["active"], terms.json()["paused"]) == (4800, True, False)


async def test_another_shops_product_is_a_404_without_its_counts_too(
    api: httpx.AsyncClient,  # noqa: F811
    sessions: SessionFactory,
) -> None:
    product_id = await card_product(sessions, ["TERMS-3"])
    other = await api.get(
        f"/internal/products/{product_id}", params={"stock": "false"}, headers=as_shop(uuid.uuid4())
    )
    assert other.status_code == 404, other.text
    assert "TERMS" not in other.text


async def test_a_stock_flag_that_is_not_a_boolean_is_a_422_naming_it(
    api: httpx.AsyncClient,  # noqa: F811
    sessions: SessionFactory,
) -> None:
    product_id = await card_product(sessions, [])
    refused = await api.get(
        f"/internal/products/{product_id}", params={"stock": "sometimes"}, headers=as_shop(DEFAULT_SHOP_ID)
    )
    assert refused.status_code == 422, refused.text
    assert "stock" in refused.text
