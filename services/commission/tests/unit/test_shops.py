"""Shops in the commission service: its internal routes act for the shop a request names (X-Shop-Id)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from commission.bootstrap import Service, bootstrap
from commission.config import Settings
from commission.entrypoints.http import router
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.http import SHOP_HEADER, create_app
from faka_common.testing import OPERATIONAL_ROUTES, asgi_client, shop_scoping
from fastapi import FastAPI

NOT_SHOP_OWNED = OPERATIONAL_ROUTES
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


async def test_every_route_is_scoped_by_the_shop_or_listed_as_not_shop_owned(service: Service) -> None:
    scoping = shop_scoping(the_app(service))
    assert scoping.unscoped == NOT_SHOP_OWNED, "a route that is not shop-owned must be listed as such"
    assert scoping.scoped == SCOPED, "every scoped route needs a test below"


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
