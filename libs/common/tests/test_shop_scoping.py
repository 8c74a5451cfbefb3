"""Which of an app's routes are scoped by the shop (what every service's isolation walker checks its lists
against): a route is scoped when what runs for it reads X-Shop-Id through ShopScope or OptionalShopScope, at
any depth and from any router it is included through."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from faka_common.http import OptionalShopScope, ShopScope, create_app
from faka_common.runtime import Runtime
from faka_common.settings import ServiceSettings
from faka_common.testing import OPERATIONAL_ROUTES, shop_scoping
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from starlette.applications import Starlette


async def _order_of_the_shop(order_id: UUID, shop: ShopScope) -> dict[str, str]:
    return {"order": str(order_id), "shop": str(shop)}


OrderOfTheShop = Annotated[dict[str, str], Depends(_order_of_the_shop)]


def tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: UUID, shop: ShopScope) -> dict[str, Any]:
        return {}

    @app.api_route("/status", methods=["GET", "HEAD", "PUT"])
    async def status() -> dict[str, Any]:
        return {}

    @app.post("/links")
    async def link(shop: OptionalShopScope) -> dict[str, Any]:
        return {}

    @app.get("/both/{order_id}")
    async def both(maybe: OptionalShopScope, found: OrderOfTheShop) -> dict[str, Any]:  # ShopScope wins
        return found

    @app.websocket("/feed")
    async def feed(websocket: WebSocket) -> None:
        await websocket.close()

    app.mount("/static", Starlette())

    internal = APIRouter(prefix="/orders")

    @internal.get("/{order_id}")
    async def order(found: OrderOfTheShop) -> dict[str, Any]:  # the shop read by a dependency of a dependency
        return found

    @internal.get("/")
    async def orders() -> list[Any]:
        return []

    outer = APIRouter(prefix="/internal")
    outer.include_router(internal)
    app.include_router(outer)
    shop_wide = APIRouter()  # the shop read for each of its routes by the dependencies it is included with

    @shop_wide.get("/report")
    async def report() -> dict[str, Any]:
        return {}

    app.include_router(shop_wide, prefix="/shop-wide", dependencies=[typing.get_args(ShopScope)[1]])
    return app


def test_each_route_of_the_app_and_of_its_included_routers_is_on_the_side_it_belongs_to() -> None:
    scoping = shop_scoping(tiny_app())
    assert scoping.scoped == {
        ("GET", "/items/{item_id}"),
        ("POST", "/links"),
        ("GET", "/both/{order_id}"),
        ("GET", "/internal/orders/{order_id}"),
        ("GET", "/shop-wide/report"),
    }
    assert scoping.unscoped == {
        ("GET", "/status"),
        ("PUT", "/status"),
        ("*", "/feed"),
        ("*", "/static"),
        ("GET", "/internal/orders/"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    }
    assert scoping.optional == {("POST", "/links")}


def test_a_method_and_path_served_twice_is_scoped_only_when_both_are() -> None:
    app = FastAPI(openapi_url=None)
    first, second = APIRouter(), APIRouter()

    @first.get("/twice")
    async def scoped(shop: ShopScope) -> None:
        return None

    @second.get("/twice")
    async def unscoped() -> None:
        return None

    app.include_router(first)
    app.include_router(second)
    assert shop_scoping(app) == (frozenset(), {("GET", "/twice")}, frozenset())


def test_the_routes_every_service_app_has_are_the_operational_ones_and_none_is_scoped() -> None:
    runtime = Runtime(ServiceSettings(service_name="scoping-test"), Path("."))
    app = create_app(runtime, [], title="scoping test")
    assert shop_scoping(app) == (frozenset(), OPERATIONAL_ROUTES, frozenset())
