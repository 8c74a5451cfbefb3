"""The shop's home marks a product paused by its after-sales rate (the inventory's ProductPaused state, as
the product page does) and sells it from nowhere: its card says Paused instead of its stock, its page has no
checkout and a checkout naming it is a 409. Over ASGI with the in-memory owners of test_gateway_http and the
storefront read model holding the product (it does not know of pauses)."""

from __future__ import annotations

import httpx
import pytest
from gateway.entrypoints import web
from gateway.service_layer.paused_products import PausedProducts

from .test_gateway_http import PRODUCT_ID, Edge, FakeOwner, FakeStorefront, edge
from .test_storefront_quality import answering

__all__ = ["edge"]
ENGLISH = {"Accept-Language": "en"}
CHINESE = {"Accept-Language": "zh-CN"}


@pytest.fixture(autouse=True)
def fresh_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test reads the inventory afresh (the kept answers are per process)."""
    monkeypatch.setattr(web, "PAUSED_PRODUCTS", PausedProducts())


def listed(edge: Edge) -> None:
    storefront = edge.gateway.storefront
    assert isinstance(storefront, FakeStorefront)
    storefront.items = [{**edge.inventory.product, "visible": True}]


async def test_the_home_marks_a_paused_product_and_nothing_sells_it(edge: Edge) -> None:
    inventory = answering(edge, paused=True)
    inventory.product["paused"] = True
    listed(edge)

    home = await edge.client.get("/", headers=ENGLISH)
    chinese = await edge.client.get("/", headers=CHINESE)
    page = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)
    form = {"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1"}
    checkout = await edge.client.post("/shop/orders", data=form, headers=ENGLISH)

    assert home.status_code == 200
    assert '<span class="stock stock-paused">Paused</span>' in home.text
    assert "Only a few left" not in home.text
    assert '<span class="stock stock-paused">已暂停</span>' in chinese.text
    assert 'action="shop/orders"' not in page.text
    assert checkout.status_code == 409
    assert not any(call.url.path == "/internal/orders" for call in edge.orders.calls)


async def test_a_product_on_sale_keeps_its_stock_on_the_home(edge: Edge) -> None:
    answering(edge, paused=False)
    listed(edge)
    home = await edge.client.get("/", headers=ENGLISH)
    assert "Only a few left" in home.text and "stock-paused" not in home.text


async def test_the_home_still_shows_when_the_inventory_cannot_say_what_is_paused(edge: Edge) -> None:
    listed(edge)
    edge.gateway.inventory = FakeOwner(lambda request: httpx.Response(503))
    home = await edge.client.get("/", headers=ENGLISH)
    assert home.status_code == 200 and "Steam &lt;50&gt;" in home.text
