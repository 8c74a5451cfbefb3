"""The product page's pre-sale figures and a paused product, over ASGI with the in-memory owners of
test_gateway_http: the inventory's 7-day success rate and typical delivery time are shown in the buyer's
language, of all the product's options together (the page asks for its family's); a paused product is marked,
has no checkout, and a checkout form naming it is a 409 that says why and places no order (judged on the
option ordered alone); without the inventory's figures the page still sells."""

from __future__ import annotations

import httpx
import pytest

from .test_gateway_http import PRODUCT_ID, Edge, FakeInventory, FakeOwner, edge

__all__ = ["edge"]
ENGLISH = {"Accept-Language": "en"}
CHINESE = {"Accept-Language": "zh-CN"}
PAUSED_NOTICE = "Paused: buyers reported too many problems with this product recently."


class QualityInventory(FakeInventory):
    """The fake inventory that also answers a product's quality."""

    def __init__(self, paused: bool, median: int | None = 10) -> None:
        super().__init__()
        self.paused, self.median = paused, median

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/internal/products/{PRODUCT_ID}/quality":
            self.calls.append(request)
            week = {"delivered_orders": 49, "failed_orders": 1, "success_rate": 0.98,
                    "median_delivery_seconds": self.median}  # fmt: skip
            return httpx.Response(
                200, json={"product_id": PRODUCT_ID, "paused": self.paused, "last_7_days": week}
            )
        return super().__call__(request)


def answering(edge: Edge, paused: bool, median: int | None = 10) -> QualityInventory:
    inventory = QualityInventory(paused, median)
    edge.gateway.inventory = FakeOwner(inventory)
    return inventory


async def test_the_product_page_shows_the_7_day_success_rate_and_typical_time_in_the_buyers_language(
    edge: Edge,
) -> None:
    answering(edge, paused=False)

    english = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)
    chinese = await edge.client.get(f"/products/{PRODUCT_ID}", headers=CHINESE)

    assert "Delivered in the last 7 days" in english.text and "98.0% of 50 orders" in english.text
    assert "Typical delivery time" in english.text and "Within 10 seconds" in english.text
    assert "50 单中成功 98.0%" in chinese.text and "10 秒内" in chinese.text
    assert 'action="shop/orders"' in english.text and "Paused" not in english.text


async def test_the_page_asks_for_the_figures_of_all_its_options_and_the_checkout_for_the_option_alone(
    edge: Edge,
) -> None:
    inventory = answering(edge, paused=False)

    await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)
    form = {"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1"}
    await edge.client.post("/shop/orders", data=form, headers=ENGLISH)

    asked = [c for c in inventory.calls if c.url.path.endswith("/quality")]
    page_call, checkout_call = asked[:2]
    assert page_call.url.params.get("family") == "true"
    assert "family" not in checkout_call.url.params


@pytest.mark.parametrize(("median", "shown"), [(600, "Within 10 minutes"), (21600, "Within 6 hours")])
async def test_a_longer_typical_time_is_shown_in_minutes_or_hours(
    edge: Edge, median: int, shown: str
) -> None:
    answering(edge, paused=False, median=median)

    page = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)

    assert shown in page.text


async def test_a_paused_product_is_marked_without_a_checkout_and_its_form_is_a_409_placing_nothing(
    edge: Edge,
) -> None:
    answering(edge, paused=True)

    page = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)
    form = {"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1"}
    refused = await edge.client.post("/shop/orders", data=form, headers=ENGLISH)

    assert page.status_code == 200 and PAUSED_NOTICE in page.text and 'action="shop/orders"' not in page.text
    assert refused.status_code == 409 and PAUSED_NOTICE in refused.text
    assert not any(call.url.path == "/internal/orders" for call in edge.orders.calls)


async def test_without_the_inventorys_figures_the_page_still_sells(edge: Edge) -> None:
    page = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)  # the plain fake answers 404

    assert page.status_code == 200 and 'action="shop/orders"' in page.text
    assert "Delivered in the last 7 days" not in page.text
