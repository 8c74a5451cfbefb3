"""Admission: past its bounds the gateway turns new work away at once with 503 and Retry-After, keeps
taking payment notifications, and takes new work again as soon as what it holds is answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from gateway.entrypoints.admission import Admission, kind_of
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class Held:
    """An app whose every request waits until released (a slow platform), counting those it got."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.arrived = asyncio.Condition()

    async def endpoint(self, request: Request) -> JSONResponse:
        async with self.arrived:
            self.entered += 1
            self.arrived.notify_all()
        if request.url.path.endswith("/boom"):
            raise RuntimeError("the endpoint failed")
        await self.release.wait()
        return JSONResponse({"path": request.url.path}, status_code=201 if request.method == "POST" else 200)

    async def until_entered(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.entered >= count), 5)


@pytest.fixture
async def held() -> AsyncIterator[tuple[Held, Admission, httpx.AsyncClient]]:
    app = Held()
    routes = [Route("/{path:path}", app.endpoint, methods=["GET", "POST"])]
    admission = Admission(Starlette(routes=routes), placing=2, serving=3)
    transport = httpx.ASGITransport(app=admission, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield app, admission, client
        app.release.set()


async def test_new_orders_are_turned_away_first_payments_never_and_the_count_drains(
    held: tuple[Held, Admission, httpx.AsyncClient],
) -> None:
    app, admission, client = held
    views = [asyncio.create_task(client.get(f"/api/v1/orders/ORD{i}")) for i in range(2)]
    await app.until_entered(2)

    refused = await client.post("/api/v1/orders", json={"product_id": "p"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json()["error"] == "busy" and refused.json()["retry_after"] == 2
    assert "try again in 2 s" in refused.json()["message"]
    in_a_shop = await client.post("/s/acme/api/v1/orders", json={"product_id": "p"})
    assert in_a_shop.status_code == 503
    form = await client.post("/s/acme/shop/orders", data={"product_id": "p"})
    assert form.status_code == 503 and form.headers["content-type"].startswith("text/html")
    assert app.entered == 2, "a refused request never reached the app"

    # the third request in flight is still served (any request but a placement: bound 3)
    views.append(asyncio.create_task(client.get("/s/acme/api/v1/orders/ORD2")))
    await app.until_entered(3)
    assert (await client.get("/api/v1/products")).status_code == 503

    # a provider's notification is taken however full the gateway is, and so are health and the event stream
    notices = [asyncio.create_task(client.post("/api/v1/payments/sandbox/notify", json={})) for _ in range(2)]
    uncounted = [
        asyncio.create_task(client.get(path))
        for path in (
            "/health/ready",
            "/metrics",
            "/api/v1/orders/ORD0/events",
            "/s/acme/api/v1/orders/ORD0/events",
        )
    ]
    await app.until_entered(9)
    assert admission.in_flight == 5

    app.release.set()
    answers = await asyncio.gather(*views, *notices, *uncounted)
    assert [a.status_code for a in answers] == [200] * 3 + [201] * 2 + [200] * 4
    assert admission.in_flight == 0
    placed = await client.post("/api/v1/orders", json={"product_id": "p"})
    assert placed.status_code == 201


async def test_a_request_that_fails_gives_its_place_back(
    held: tuple[Held, Admission, httpx.AsyncClient],
) -> None:
    app, admission, client = held
    for _ in range(4):
        assert (await client.get("/api/v1/boom")).status_code == 500
    assert admission.in_flight == 0
    app.release.set()
    assert (await client.post("/api/v1/orders", json={})).status_code == 201


async def test_a_bound_of_zero_turns_nothing_away() -> None:
    app = Held()
    routes = [Route("/{path:path}", app.endpoint, methods=["GET", "POST"])]
    admission = Admission(Starlette(routes=routes), placing=0, serving=0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=admission), base_url="http://gw"
    ) as client:
        waiting = [asyncio.create_task(client.get(f"/api/v1/orders/O{i}")) for i in range(20)]
        await app.until_entered(20)
        placing = asyncio.create_task(client.post("/api/v1/orders", json={}))
        await app.until_entered(21)
        app.release.set()
        answers = await asyncio.gather(*waiting, placing)
    assert [a.status_code for a in answers] == [200] * 20 + [201]


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/api/v1/orders", "placing"),
        ("POST", "/s/acme/api/v1/orders", "placing"),
        ("POST", "/shop/orders", "placing"),
        ("GET", "/api/v1/orders", "other"),
        ("POST", "/api/v1/orders/ORD1/cancel", "other"),
        ("POST", "/api/v1/payments/epay/notify", "payment"),
        ("GET", "/s/acme/api/v1/payments/epay/notify", "payment"),
        ("GET", "/health/live", "uncounted"),
        ("GET", "/metrics", "uncounted"),
        ("GET", "/api/v1/orders/ORD1/events", "uncounted"),
        ("GET", "/api/v1/orders/ORD1/events/more", "other"),
        ("GET", "/metrics/x", "other"),
    ],
)
def test_what_kind_of_request_a_path_is(method: str, path: str, kind: str) -> None:
    assert kind_of(method, path) == kind
