"""A request whose pooled database connection died (Postgres restarted), whose database is down, or whose
upstream service is down is a 503 with Retry-After, never a 500; the next request works on a fresh
connection."""

from __future__ import annotations

import socket

import asyncpg
import httpx
import pytest
from faka_common.db.engine import asyncpg_dsn, create_engine
from faka_common.errors import Unavailable
from faka_common.http import install_error_handlers
from faka_common.testing import server_url
from fastapi import FastAPI
from sqlalchemy import text

pytestmark = pytest.mark.integration


async def test_a_request_on_a_connection_the_server_dropped_is_a_503_and_the_next_one_works() -> None:
    engine = create_engine(server_url(), pool_size=1)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/pid")
    async def pid() -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")
    try:
        first = (await client.get("/pid")).json()
        admin = await asyncpg.connect(asyncpg_dsn(server_url()))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()

        dropped = await client.get("/pid")
        assert dropped.status_code == 503
        assert dropped.json()["error"] == "unavailable"
        assert dropped.headers["Retry-After"] == "1"

        again = await client.get("/pid")
        assert again.status_code == 200 and again.json() != first
    finally:
        await client.aclose()
        await engine.dispose()


async def test_a_request_while_the_database_server_is_down_is_a_503_not_a_500() -> None:
    """Postgres not listening (killed, restarting): the pool's connect is refused, which SQLAlchemy
    passes on unwrapped; the buyer gets a 503 with Retry-After, not a 500 (seen in the chaos run)."""
    with socket.socket() as unused:  # a port nothing listens on: a server that is down
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    engine = create_engine(f"postgresql://postgres@127.0.0.1:{port}/postgres", pool_size=1)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/one")
    async def one() -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT 1"))).scalar_one())

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://svc"
    )
    try:
        down = await client.get("/one")
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "unavailable"
        assert down.headers["Retry-After"] == "1"
    finally:
        await client.aclose()
        await engine.dispose()


async def test_a_service_that_is_down_is_a_503_that_says_when_to_retry() -> None:
    """An `Unavailable` (a service this one calls is down) tells the caller when to try again, as the
    database's and the servers' 503s do: a buyer's checkout during a restart is told to retry, not failed."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/order")
    async def order() -> None:
        raise Unavailable("http://127.0.0.1:8001 unreachable: ClientConnectorError")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        down = await client.get("/order")
    assert down.status_code == 503
    assert down.json()["error"] == "unavailable"
    assert down.headers["Retry-After"] == "1"
