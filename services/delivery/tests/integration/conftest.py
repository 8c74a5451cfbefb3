"""The delivery service against a real Postgres, and a local HTTP server (FastAPI under uvicorn on 127.0.0.1)
that plays the suppliers. Needs DATABASE_URL (a server URL); each module gets its own database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
import uvicorn
from delivery.adapters.suppliers.base import signature_valid
from delivery.adapters.tables import metadata
from delivery.bootstrap import Service, bootstrap
from delivery.config import MIGRATIONS, Settings
from delivery.entrypoints.http import router
from faka_common.breakers import close_breakers
from faka_common.contracts import Envelope, Message
from faka_common.http import install_error_handlers
from faka_common.messaging.consumer import Delivery as Record
from faka_common.testing import asgi_client, migrated_database
from faka_common.testing import eventually as shared_eventually
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = "supplier-secret-1"
#: Every table whose rows belong to a shop (they have a shop_id).
SHOP_TABLES = tuple(t.name for t in metadata.sorted_tables if "shop_id" in t.c)


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    async with migrated_database("faka_delivery_test", MIGRATIONS) as url:
        yield url


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "run_migrations": False,
        "supplier_retry_attempts": 3,
        "supplier_retry_backoff_seconds": 0.01,
        "supplier_retry_backoff_max_seconds": 0.05,
        "supplier_processing_wait_seconds": 3,
        "supplier_processing_poll_seconds": 0.05,
        "recharge_reschedule_seconds": 0.2,
        "breaker_threshold": 3,
        "breaker_ttl_seconds": 1,
        "outbound_allow_list": ["127.0.0.1"],  # the fake suppliers' server
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def built_service(settings: Settings) -> AsyncIterator[Service]:
    built = bootstrap(settings)
    try:
        yield built
    finally:
        await close_breakers(built.breakers.factory)
        await built.runtime.engine.dispose()


@asynccontextmanager
async def api_of(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The service's internal HTTP API over ASGI, called as the gateway (the admin API's edge)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router(service))
    async with asgi_client(app, "delivery") as client:
        yield client


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    """A fresh service per test (its own breakers), on the module's database."""
    async with built_service(settings_for(database_url)) as built:
        yield built


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with api_of(service) as client:
        yield client


async def feed(service: Service, message: Message, envelope: Envelope | None = None) -> tuple[Envelope, str]:
    """Hand one message to the service's Kafka consumer exactly as the broker would."""
    envelope = envelope or Envelope.wrap(message, "test")
    outcome = await service.consumer.consume(
        Record(message.topic, 0, 0, message.key.encode(), envelope.to_bytes())
    )
    return envelope, outcome


async def outbox(service: Service, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """The messages the service emitted for an order, decoded, in order."""
    async with service.runtime.engine.connect() as connection:
        from sqlalchemy import text

        rows = await connection.execute(
            text("SELECT value FROM outbox WHERE key = :key ORDER BY id"), {"key": str(order_id)}
        )
        return [Envelope.from_bytes(row[0]).model_dump(mode="json") for row in rows]


#: The shared poller, with this suite's tighter bound and faster polling.
eventually = partial(shared_eventually, timeout=10.0, interval=0.02)


@dataclass
class FakeSupplier:
    """One supplier's behaviour and what it saw. `mode` decides how a submit is answered:
    ok, slow, accept_then_timeout (executes, then answers too late), error_5xx (not executed), rate_limited,
    invalid_account, out_of_stock, processing (accepted; queries report success after `processing_polls`)."""

    name: str
    mode: str = "ok"
    delay: float = 0.0
    processing_polls: int = 2
    submits: dict[str, int] = field(default_factory=dict)
    executed: set[str] = field(default_factory=set)
    queries: dict[str, int] = field(default_factory=dict)
    bad_signatures: int = 0

    def total_submits(self) -> int:
        return sum(self.submits.values())


class SupplierServer:
    """A real HTTP server on 127.0.0.1 playing several suppliers: generic HTTP-JSON ones under /s/{name}/ and
    this platform's agent API under /p/{name}/api/agent/v1/."""

    def __init__(self) -> None:
        self.suppliers: dict[str, FakeSupplier] = {}
        self.app = FastAPI()
        self._routes()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    def add(self, name: str, mode: str = "ok", **kwargs: Any) -> FakeSupplier:
        self.suppliers[name] = FakeSupplier(name, mode, **kwargs)
        return self.suppliers[name]

    def url(self, name: str, platform: bool = False) -> str:
        return f"http://127.0.0.1:{self.port}/{'p' if platform else 's'}/{name}"

    async def _verified(self, fake: FakeSupplier, request: Request, signed: bytes) -> bool:
        ok = signature_valid(
            SECRET, request.headers.get("X-Timestamp", ""), signed, request.headers.get("X-Signature", "")
        )
        if not ok:
            fake.bad_signatures += 1
        return ok

    async def _submit(
        self, fake: FakeSupplier, order_id: str, status_of: Callable[[str], str]
    ) -> JSONResponse:
        fake.submits[order_id] = fake.submits.get(order_id, 0) + 1
        if fake.mode == "error_5xx":
            return JSONResponse({"error": "internal"}, status_code=503)
        if fake.mode == "rate_limited":
            return JSONResponse({"error": "slow down"}, status_code=429)
        if fake.mode in ("invalid_account", "out_of_stock"):
            return JSONResponse({"error": fake.mode, "message": fake.mode.replace("_", " ")}, status_code=400)
        if fake.mode == "processing":
            fake.executed.add(order_id)
            return JSONResponse(
                {"status": status_of("processing"), "supplier_order_no": f"{fake.name}-{order_id}"}
            )
        fake.executed.add(order_id)
        if fake.mode in ("slow", "accept_then_timeout"):
            await asyncio.sleep(fake.delay)
        return JSONResponse(
            {
                "status": status_of("succeeded"),
                "supplier_order_no": f"{fake.name}-{order_id}",
                "content": f"topped up by {fake.name}",
            }
        )

    def _query(self, fake: FakeSupplier, order_id: str, status_of: Callable[[str], str]) -> JSONResponse:
        fake.queries[order_id] = fake.queries.get(order_id, 0) + 1
        if order_id not in fake.executed:
            return JSONResponse({"error": "not_found"}, status_code=404)
        state = (
            "processing"
            if fake.mode == "processing" and fake.queries[order_id] < fake.processing_polls
            else "succeeded"
        )
        return JSONResponse({"status": status_of(state), "supplier_order_no": f"{fake.name}-{order_id}"})

    def _routes(self) -> None:
        generic = {"succeeded": "success", "processing": "processing"}
        platform = {"succeeded": "delivered", "processing": "processing"}

        @self.app.post("/s/{name}/orders")
        async def submit(name: str, request: Request) -> JSONResponse:
            fake, body = self.suppliers[name], await request.body()
            if not await self._verified(fake, request, body):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            return await self._submit(fake, json_field(body, "order_id"), generic.__getitem__)

        @self.app.post("/s/{name}/orders/query")
        async def query(name: str, request: Request) -> JSONResponse:
            fake, body = self.suppliers[name], await request.body()
            if not await self._verified(fake, request, body):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            return self._query(fake, json_field(body, "order_id"), generic.__getitem__)

        @self.app.get("/s/{name}/balance")
        async def balance(name: str, request: Request) -> JSONResponse:
            if not await self._verified(self.suppliers[name], request, request.url.path.encode()):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            return JSONResponse({"balance": 123_456, "currency": "CNY"})

        @self.app.get("/s/{name}/products")
        async def products(name: str, request: Request) -> JSONResponse:
            if not await self._verified(self.suppliers[name], request, request.url.path.encode()):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            return JSONResponse(
                {
                    "items": [
                        {"product_id": "mobile-50", "title": "Mobile 50", "price": 4950, "currency": "CNY"}
                    ]
                }
            )

        @self.app.post("/p/{name}/api/agent/v1/recharges")
        async def agent_submit(name: str, request: Request) -> JSONResponse:
            fake, body = self.suppliers[name], await request.body()
            if request.headers.get("X-Agent-Id") != "agent-7" or not await self._verified(
                fake, request, body
            ):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            return await self._submit(fake, json_field(body, "out_trade_no"), platform.__getitem__)

        @self.app.get("/p/{name}/api/agent/v1/recharges/{out_trade_no}")
        async def agent_query(name: str, out_trade_no: str, request: Request) -> JSONResponse:
            fake = self.suppliers[name]
            if not await self._verified(fake, request, request.url.path.encode()):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            return self._query(fake, out_trade_no, platform.__getitem__)

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        config.timeout_graceful_shutdown = 1
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        await eventually(lambda: _started(self._server))
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


async def _started(server: uvicorn.Server | None) -> bool:
    return bool(server and server.started)


def json_field(body: bytes, name: str) -> str:
    import json

    return str(json.loads(body)[name])


@pytest.fixture(scope="module")
async def suppliers() -> AsyncIterator[SupplierServer]:
    server = SupplierServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: every request is refused (a supplier that is down)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
