"""No route of any service runs its endpoint or a dependency on a worker thread. FastAPI runs a plain `def`
there, one thread hop per call per request: the dependency naming an internal caller was a tenth of
inventory's CPU on its key reveals (py-spy, twice a sale)."""

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)


def _awaited(call: Any) -> bool:
    """Whether FastAPI awaits `call` on the event loop (a coroutine or async generator function, or an
    object whose `__call__` is one) rather than running it on a worker thread."""
    if inspect.isroutine(call) or inspect.isclass(call):
        return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
    return inspect.iscoroutinefunction(type(call).__call__)


def _on_threads(dependant: Dependant) -> Iterator[str]:
    call = dependant.call
    if call is not None and not _awaited(call):
        yield f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', type(call).__name__)}"
    for sub in dependant.dependencies:
        yield from _on_threads(sub)


@pytest.mark.parametrize("service", SERVICES)
def test_no_route_runs_an_endpoint_or_dependency_on_a_worker_thread(service: str) -> None:
    app = importlib.import_module(f"{service}.entrypoints.app").app
    routes = list(_routes(app.routes))
    assert len(routes) > 3, "the routes were not found (FastAPI changed how it keeps included routers?)"
    threaded = {f"{route.path}: {name}" for route in routes for name in _on_threads(route.dependant)}
    assert not threaded
