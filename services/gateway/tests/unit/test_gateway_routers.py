"""The order of the gateway's routers decides only what is tried first: no path one router serves is also
served by another router, so moving the buyer's routers to the front (for speed) cannot change which route
answers a request."""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from gateway.adapters.principals import KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import routers
from starlette.routing import compile_path


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = build_gateway(
        principals=KnownPrincipals.platform_admin(),
        shops=KnownShops.default_only(),
        settings=Settings(lookup_limit_storage_url="memory://"),
    )
    yield gw
    await gw.aclose()


def example(path: str) -> str:
    """A concrete path the template serves: each parameter filled with a value no literal segment has."""
    return re.sub(r"\{[^}]+\}", "p4r4m", path)


def served(gw: Gateway) -> list[tuple[int, str, set[str], Any]]:
    out = []
    for index, router in enumerate(routers(gw)):
        prefix = router.prefix
        for route in router.routes:
            if isinstance(route, APIRoute):
                path = prefix + route.path if not route.path.startswith(prefix) else route.path
                out.append((index, path, set(route.methods), compile_path(path)[0]))
    return out


def test_no_request_path_is_served_by_two_routers(gateway: Gateway) -> None:
    routes = served(gateway)
    assert len({index for index, *_ in routes}) > 10, "the routers were not all read"
    clashes = [
        (path, other_path)
        for index, path, methods, regex in routes
        for other_index, other_path, other_methods, _ in routes
        if index != other_index and methods & other_methods and regex.match(example(other_path))
    ]
    assert clashes == []


def test_the_buyers_routers_are_matched_first(gateway: Gateway) -> None:
    first = {path for index, path, *_ in served(gateway) if index < 3}
    assert {"/api/v1/orders", "/api/v1/orders/{order_no}", "/api/v1/orders/{order_no}/events"} <= first
