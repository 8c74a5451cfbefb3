"""Shops in the commission service: its internal routes act for the shop a request names (X-Shop-Id)."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from commission.bootstrap import Service, bootstrap
from commission.config import Settings
from commission.entrypoints.http import router
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.http import SHOP_HEADER, ShopScope, create_app
from faka_common.testing import asgi_client
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

SHOP_DEPENDENCY = typing.get_args(ShopScope)[1].dependency
OPS_AND_DOCS = (
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
)
NOT_SHOP_OWNED = {("GET", path) for path in (*OPS_AND_DOCS, "/redoc")}
SCOPED = {("GET", "/internal/ledger/summary")}


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    built = bootstrap(Settings(run_migrations=False))
    try:
        yield built
    finally:
        await built.runtime.engine.dispose()


def the_app(service: Service) -> FastAPI:
    return create_app(service.runtime, [router(service)], title="commission under test")


def _depends_on_shop(dependant: Dependant) -> bool:
    return any(d.call is SHOP_DEPENDENCY or _depends_on_shop(d) for d in dependant.dependencies)


async def test_every_route_is_scoped_by_the_shop_or_listed_as_not_shop_owned(service: Service) -> None:
    routes = {
        (method, str(context.path)): context.original_route
        for context in iter_route_contexts(the_app(service).routes)
        for method in context.methods or ()
        if method != "HEAD"
    }
    scoped = {k for k, r in routes.items() if isinstance(r, APIRoute) and _depends_on_shop(r.dependant)}
    assert set(routes) - scoped == NOT_SHOP_OWNED, "a route that is not shop-owned must be listed as such"
    assert scoped == SCOPED, "every scoped route needs a test below"


async def test_the_ledger_summary_is_the_named_shops_and_the_default_shops_without_a_name(
    service: Service,
) -> None:
    shop = uuid4()
    async with asgi_client(the_app(service), "commission") as api:
        named = await api.get("/internal/ledger/summary", headers={SHOP_HEADER: str(shop)})
        unnamed = await api.get("/internal/ledger/summary")
        malformed = await api.get("/internal/ledger/summary", headers={SHOP_HEADER: "shop-b"})
    assert named.status_code == 200 and named.json()["shop_id"] == str(shop)
    assert unnamed.json()["shop_id"] == str(DEFAULT_SHOP_ID)
    assert malformed.status_code == 400 and SHOP_HEADER in malformed.json()["message"]
