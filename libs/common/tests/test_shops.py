"""Shop scoping shared by every service: the shop a message and an internal request belong to."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from faka_common.contracts import DEFAULT_SHOP_ID, Envelope
from faka_common.contracts.order import OrderCancelled
from faka_common.http import SHOP_HEADER, InternalClient, OptionalShopScope, ShopScope, install_error_handlers
from faka_common.service_auth import ServiceCredential
from fastapi import APIRouter, FastAPI


def scoped_app() -> FastAPI:
    router = APIRouter()

    @router.get("/scope")
    async def scope(shop: ShopScope) -> dict[str, Any]:
        return {"shop": str(shop)}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=scoped_app()), base_url="http://svc.test")


async def test_an_internal_request_acts_for_the_shop_it_names() -> None:
    shop = uuid.uuid4()
    async with client() as http:
        answer = await http.get("/scope", headers={SHOP_HEADER: str(shop)})
    assert answer.json() == {"shop": str(shop)}


async def test_a_malformed_shop_header_is_a_clear_400_not_the_default_shop() -> None:
    async with client() as http:
        answer = await http.get("/scope", headers={SHOP_HEADER: "shop-b; drop table"})
    assert answer.status_code == 400
    assert SHOP_HEADER in answer.json()["message"]


async def test_a_request_that_names_no_shop_acts_for_the_default_shop() -> None:
    async with client() as http:
        answer = await http.get("/scope")
    assert answer.json() == {"shop": str(DEFAULT_SHOP_ID)}


async def test_the_internal_client_sends_the_shop_it_is_given_and_no_shop_otherwise() -> None:
    shop = uuid.uuid4()
    internal = InternalClient(
        "http://svc.test",
        ServiceCredential.development("gateway"),
        transport=httpx.ASGITransport(scoped_app()),
    )
    try:
        named = await internal.request("GET", "/scope", shop=shop)
        unnamed = await internal.request("GET", "/scope")
    finally:
        await internal.aclose()
    assert named.json() == {"shop": str(shop)}
    assert unnamed.json() == {"shop": str(DEFAULT_SHOP_ID)}


def test_an_event_carries_its_shop_through_the_envelope() -> None:
    shop = uuid.uuid4()
    event = OrderCancelled(order_id=uuid.uuid4(), order_no="F1", reason="expired", shop_id=shop)
    opened = Envelope.from_bytes(Envelope.wrap(event, "order").to_bytes()).open()
    assert isinstance(opened, OrderCancelled) and opened.shop_id == shop


def test_an_event_produced_before_events_named_their_shop_belongs_to_the_default_shop() -> None:
    event = OrderCancelled(order_id=uuid.uuid4(), order_no="F1", reason="expired")
    envelope = Envelope.wrap(event, "order")
    old = envelope.model_copy(
        update={"payload": {k: v for k, v in envelope.payload.items() if k != "shop_id"}}
    )
    assert "shop_id" not in old.payload
    opened = Envelope.from_bytes(old.to_bytes()).open()
    assert isinstance(opened, OrderCancelled) and opened.shop_id == DEFAULT_SHOP_ID


async def test_a_platform_wide_route_acts_for_any_shop_without_the_header_and_for_the_named_one_with_it() -> (
    None
):
    router = APIRouter()

    @router.get("/either")
    async def either(shop: OptionalShopScope) -> dict[str, Any]:
        return {"shop": None if shop is None else str(shop)}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    shop = uuid.uuid4()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc.test") as http:
        assert (await http.get("/either")).json() == {"shop": None}
        assert (await http.get("/either", headers={SHOP_HEADER: str(shop)})).json() == {"shop": str(shop)}
        assert (await http.get("/either", headers={SHOP_HEADER: "nope"})).status_code == 400
