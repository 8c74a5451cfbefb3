"""Which of the merchant service's routes are shop-owned. The shops themselves are the platform's: an
operator of the platform opens, lists, changes and suspends them, and the gateway resolves a storefront's
address to its shop before it knows which shop a request acts for; so no route here is scoped by X-Shop-Id.
A route added later (accounts, memberships, tokens, the audit log) must be put on one side or the other."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator

import pytest
from faka_common.http import ShopScope
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from merchant.bootstrap import Service, bootstrap
from merchant.config import Settings
from merchant.entrypoints.http import build_app

SHOP_DEPENDENCY = typing.get_args(ShopScope)[1].dependency
OPS_AND_DOCS = {
    ("GET", path)
    for path in (
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    )
}
#: The platform's own routes over its tenants (callers: the gateway, for platform operators and storefronts).
PLATFORM = {
    ("POST", "/internal/shops"),
    ("GET", "/internal/shops"),
    ("GET", "/internal/shops/resolve"),
    ("GET", "/internal/shops/{shop_id}"),
    ("PATCH", "/internal/shops/{shop_id}"),
    ("POST", "/internal/shops/{shop_id}/status"),
}


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    built = bootstrap(Settings(run_migrations=False))
    try:
        yield built
    finally:
        await built.runtime.engine.dispose()


def _depends_on_shop(dependant: Dependant) -> bool:
    return any(d.call is SHOP_DEPENDENCY or _depends_on_shop(d) for d in dependant.dependencies)


async def test_every_route_is_listed_as_the_platforms_or_an_operational_one(service: Service) -> None:
    routes = {
        (method, str(context.path)): context.original_route
        for context in iter_route_contexts(build_app(service).routes)
        for method in context.methods or ()
        if method != "HEAD"
    }
    scoped = {k for k, r in routes.items() if isinstance(r, APIRoute) and _depends_on_shop(r.dependant)}
    assert scoped == set(), "a shop-owned route needs its isolation tests (shop B's X-Shop-Id: 404)"
    assert set(routes) == OPS_AND_DOCS | PLATFORM, "a new route must be classified here"
