"""Requests the merchant service refuses: each answers a clear 4xx and changes nothing (no shop, no domain,
no event). They share one database, which each test checks is unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from faka_common.testing import as_caller
from merchant.bootstrap import Service
from merchant.entrypoints.http import build_app

from .conftest import outbox

Snapshot = tuple[list[dict[str, Any]], int]


@pytest.fixture(scope="module")
async def shop(shared_api: httpx.AsyncClient) -> dict[str, Any]:
    response = await shared_api.post(
        "/internal/shops", json={"slug": "game-cards", "name": "Game cards", "domains": ["cards.example.com"]}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def snapshot(api: httpx.AsyncClient, service: Service) -> Snapshot:
    """Every shop as the API shows it, and how many messages the outbox holds."""
    shops = (await api.get("/internal/shops", params={"limit": 200})).json()["items"]
    return shops, len(await outbox(service))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"slug": "api", "name": "Shop"}, "reserved"),
        ({"slug": "Game-Cards", "name": "Shop"}, "lower-case letters"),
        ({"slug": "ab", "name": "Shop"}, "3 to 40 characters"),
        ({"slug": "x" * 101, "name": "Shop"}, "slug"),
        ({"slug": "a\x00b-c", "name": "Shop"}, "lower-case letters"),
        ({"slug": "new-shop", "name": "Shop", "domains": ["https://new.example.com"]}, "scheme"),
        ({"slug": "new-shop", "name": "Shop", "domains": ["new.example.com:8443"]}, "port"),
        ({"slug": "new-shop", "name": "Shop", "domains": ["10.0.0.1"]}, "IP address"),
        ({"slug": "new-shop", "name": "Shop", "domains": ["new.example.com\x00"]}, "letters a-z"),
        ({"slug": "new-shop", "name": "   "}, "name"),
        ({"slug": "new-shop", "name": "Shop\nLine"}, "line breaks"),
        ({"slug": "new-shop"}, "name"),
        ({"slug": "new-shop", "name": "Shop", "currency": "cny"}, "ISO 4217"),
        ({"slug": "new-shop", "name": "Shop", "languages": ["fr"]}, "languages"),
        ({"slug": "new-shop", "name": "Shop", "languages": ["en", "en"]}, "each language once"),
        ({"slug": "new-shop", "name": "Shop", "status": "closed"}, "status"),
        ({"slug": "new-shop", "name": "Shop", "owner": "me"}, "owner"),
    ],
)
async def test_bad_input_on_opening_is_refused_clearly_and_stores_nothing(
    shared_api: httpx.AsyncClient, shared_service: Service, body: dict[str, Any], says: str
) -> None:
    before = await snapshot(shared_api, shared_service)
    response = await shared_api.post("/internal/shops", json=body)
    assert response.status_code == 422, response.text
    assert says in response.json()["message"]
    assert await snapshot(shared_api, shared_service) == before


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "at least one setting"),
        ({"name": None}, "null"),
        ({"slug": "new-slug"}, "slug"),
        ({"status": "active"}, "status"),
        ({"domains": ["cards.example.com/path"]}, "path"),
        ({"domains": [f"d{n}.example.com" for n in range(21)]}, "domains"),
        ({"currency": "yuan"}, "currency"),
        ({"languages": []}, "languages"),
    ],
)
async def test_a_change_that_names_nothing_to_change_or_bad_values_is_refused(
    shared_api: httpx.AsyncClient,
    shared_service: Service,
    shop: dict[str, Any],
    body: dict[str, Any],
    says: str,
) -> None:
    before = await snapshot(shared_api, shared_service)
    response = await shared_api.patch(f"/internal/shops/{shop['shop_id']}", json=body)
    assert response.status_code == 422 and says in response.json()["message"], response.text
    assert await snapshot(shared_api, shared_service) == before


async def test_an_unknown_shop_is_404_on_every_route(
    shared_api: httpx.AsyncClient, shared_service: Service, shop: dict[str, Any]
) -> None:
    before = await snapshot(shared_api, shared_service)
    unknown = uuid.uuid4()
    answers = [
        await shared_api.get(f"/internal/shops/{unknown}"),
        await shared_api.patch(f"/internal/shops/{unknown}", json={"name": "New"}),
        await shared_api.post(f"/internal/shops/{unknown}/status", json={"status": "active"}),
        await shared_api.get("/internal/shops/resolve", params={"slug": "no-such-shop"}),
        await shared_api.get("/internal/shops/resolve", params={"host": "nowhere.example.com"}),
    ]
    assert [a.status_code for a in answers] == [404] * 5
    assert all(a.json()["error"] == "not_found" for a in answers)
    assert await snapshot(shared_api, shared_service) == before
    assert (await shared_api.get("/internal/shops/not-a-uuid")).status_code == 422


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"slug": "game-cards", "host": "cards.example.com"}, 400),
        ({"host": "cards.example.com:443"}, 422),
        ({"host": "https://cards.example.com/"}, 422),
        ({"host": "c" * 300 + ".example.com"}, 422),
        ({"slug": "Game_Cards"}, 422),
        ({"slug": "admin"}, 422),
        ({"slug": "a\x00bc"}, 422),
    ],
)
async def test_resolving_needs_exactly_one_well_formed_slug_or_host(
    shared_api: httpx.AsyncClient, shop: dict[str, Any], params: dict[str, str], status: int
) -> None:
    response = await shared_api.get("/internal/shops/resolve", params=params)
    assert response.status_code == status and response.json()["message"], response.text


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"after": "x\x00"}, {"status": "open"}])
async def test_a_bad_page_request_is_refused(shared_api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await shared_api.get("/internal/shops", params=params)
    assert response.status_code == 422 and response.json()["message"], response.text


@pytest.mark.parametrize("caller", ["order", "inventory", "risk"])
async def test_only_the_gateway_may_call_the_shop_routes(
    shared_api: httpx.AsyncClient, shared_service: Service, shop: dict[str, Any], caller: str
) -> None:
    before = await snapshot(shared_api, shared_service)
    other = as_caller(caller)
    answers = [
        await shared_api.get("/internal/shops", headers=other),
        await shared_api.get(f"/internal/shops/{shop['shop_id']}", headers=other),
        await shared_api.post("/internal/shops", json={"slug": "abc", "name": "x"}, headers=other),
        await shared_api.patch(f"/internal/shops/{shop['shop_id']}", json={"name": "x"}, headers=other),
    ]
    assert [a.status_code for a in answers] == [403] * 4
    assert all("admits gateway" in a.json()["message"] for a in answers)
    transport = httpx.ASGITransport(app=build_app(shared_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://merchant.test") as anonymous:
        response = await anonymous.post("/internal/shops", json={"slug": "abc", "name": "x"})
        assert response.status_code == 401
    assert await snapshot(shared_api, shared_service) == before
