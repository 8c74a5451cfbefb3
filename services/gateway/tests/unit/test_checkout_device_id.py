"""The checkout's optional device id (a per-browser random id the storefront keeps, or an API caller's):
passed to the order service with the order, refused with a 4xx naming it when malformed, and the product
page's form carries the hidden field the storefront's script fills."""

import json

import pytest

from .test_gateway_http import PRODUCT_ID, Edge, edge

__all__ = ["edge"]
ENGLISH = {"Accept-Language": "en"}
DEVICE = "dLq3x2m1Qk-7YvB0aZr9Tw"


def placed_bodies(edge: Edge) -> list[dict[str, object]]:
    return [json.loads(c.content) for c in edge.orders.calls if c.url.path == "/internal/orders"]


async def test_an_api_order_with_a_device_id_passes_it_to_the_order_service(edge: Edge) -> None:
    order = {"product_id": PRODUCT_ID, "email": "a@example.com", "device_id": DEVICE}
    assert (await edge.client.post("/api/v1/orders", json=order)).status_code == 201
    assert (await edge.client.post("/api/v1/orders", json={**order, "device_id": None})).status_code == 201
    with_id, without = placed_bodies(edge)
    assert with_id["device_id"] == DEVICE and "device_id" not in without


@pytest.mark.parametrize("device_id", ["short", "x" * 65, "has spaces in it 0123", "ünïcode-0123456789", 42])
async def test_a_malformed_device_id_is_422_naming_the_field_and_no_order_is_placed(
    edge: Edge, device_id: object
) -> None:
    order = {"product_id": PRODUCT_ID, "email": "a@example.com", "device_id": device_id}
    refused = await edge.client.post("/api/v1/orders", json=order)
    assert refused.status_code == 422 and "device_id" in refused.json()["message"], refused.text
    assert placed_bodies(edge) == []


async def test_the_product_form_has_the_device_field_and_sends_what_the_script_put_in_it(edge: Edge) -> None:
    page = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)
    assert '<input type="hidden" name="device_id" value="">' in page.text
    script = await edge.client.get("/static/storefront.js")
    assert "input[name=device_id]" in script.text and "localStorage" in script.text
    form = {"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1", "device_id": DEVICE}
    assert (await edge.client.post("/shop/orders", data=form, headers=ENGLISH)).status_code == 303
    [sent] = placed_bodies(edge)
    assert sent["device_id"] == DEVICE


async def test_a_form_with_a_forged_malformed_device_id_is_a_400_page_saying_so(edge: Edge) -> None:
    form = {"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1", "device_id": "<script>"}
    page = await edge.client.post("/shop/orders", data=form, headers=ENGLISH)
    assert page.status_code == 400
    assert "This browser sent a malformed device id: reload the page and buy again." in page.text
    assert placed_bodies(edge) == []
