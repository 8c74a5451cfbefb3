"""Odd values sent to the catalog routes (category create, product create and patch) are a clear 422 naming
the field, never a 500: control characters, bidi controls, unpaired surrogates, amounts beyond the bound."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faka_common.fields import MAX_MONEY
from faka_common.http import create_app
from faka_common.testing import asgi_client
from inventory.bootstrap import bootstrap
from inventory.config import Settings
from inventory.entrypoints.http import router

pytestmark = pytest.mark.integration
PRODUCT = {"title": "Steam ¥100", "price": 100, "delivery_type": "card_key"}


@pytest.fixture(scope="module")
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service = bootstrap(Settings(database_url=database_url, run_migrations=False))
    app = create_app(service.runtime, [router(service)], title="inventory")  # the body limits with it
    async with asgi_client(app, "inventory") as client:
        yield client
    await service.runtime.engine.dispose()


@pytest.fixture(scope="module")
async def product_id(api: httpx.AsyncClient) -> str:
    created = await api.post("/internal/products", json=PRODUCT)
    assert created.status_code == 201, created.text
    return str(created.json()["product_id"])


async def send(api: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """JSON as a client would send it (\\u escapes for what UTF-8 cannot carry)."""
    return await api.request(
        method, path, content=json.dumps(body), headers={"content-type": "application/json"}
    )


ODD_TEXT = ["a\x00b", "bell\x07", "moc.live\u202e", "\ud800", "new\nline"]


@pytest.mark.parametrize("name", ODD_TEXT)
async def test_an_odd_category_name_is_a_422(api: httpx.AsyncClient, name: str) -> None:
    refused = await send(api, "POST", "/internal/categories", {"name": name})
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"].startswith("name: must not contain")


@pytest.mark.parametrize("field", ["title", "variant_label"])
@pytest.mark.parametrize("value", ODD_TEXT)
async def test_an_odd_title_or_variant_label_is_a_422_on_create_and_patch(
    api: httpx.AsyncClient, product_id: str, field: str, value: str
) -> None:
    created = await send(
        api, "POST", "/internal/products", {**PRODUCT, field: value, "variant_of": product_id}
    )
    patched = await send(api, "PATCH", f"/internal/products/{product_id}", {field: value})
    for refused in (created, patched):
        assert refused.status_code == 422, refused.text
        assert refused.json()["message"].startswith(f"{field}: must not contain")


async def test_descriptions_keep_their_line_breaks_but_not_control_characters(
    api: httpx.AsyncClient, product_id: str
) -> None:
    path = f"/internal/products/{product_id}"
    kept = await send(api, "PATCH", path, {"description": "line one\nline two\ttabbed"})
    assert kept.status_code == 200 and kept.json()["description"] == "line one\nline two\ttabbed"
    assert (await send(api, "PATCH", path, {"description": "nul\x00"})).status_code == 422
    assert (await send(api, "PATCH", path, {"usage_instructions": "\udc00"})).status_code == 422


@pytest.mark.parametrize("field", ["price", "face_value"])
async def test_amounts_beyond_the_money_bound_are_a_422(
    api: httpx.AsyncClient, product_id: str, field: str
) -> None:
    for value in (10**19, MAX_MONEY + 1):
        refused = await send(api, "PATCH", f"/internal/products/{product_id}", {field: value})
        assert refused.status_code == 422, refused.text
        assert field in refused.json()["message"]


async def test_a_key_upload_is_not_held_to_the_json_body_limit_but_a_json_route_is(
    api: httpx.AsyncClient, product_id: str
) -> None:
    keys = "".join(f"KEY-{n:08d}\n" for n in range(10_000)).encode()  # 130 KB
    imported = await api.post(
        f"/internal/products/{product_id}/keys", content=keys, headers={"content-type": "text/plain"}
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == 10_000
    refused = await api.post("/internal/categories", content=keys, headers={"content-type": "text/plain"})
    assert refused.status_code == 413, refused.text


async def test_a_key_cost_beyond_the_money_bound_is_a_422(api: httpx.AsyncClient, product_id: str) -> None:
    refused = await api.post(
        f"/internal/products/{product_id}/keys?cost_price={MAX_MONEY + 1}",
        content=b"KEY-COST-1\n",
        headers={"content-type": "text/plain"},
    )
    assert refused.status_code == 422, refused.text
    assert "cost_price" in refused.json()["message"]
