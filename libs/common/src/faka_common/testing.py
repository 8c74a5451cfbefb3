"""Test support shared by the services' integration tests: a throwaway database, migrated, on the Postgres
server that DATABASE_URL names (`make test` exports it), dropped again afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from starlette.types import ASGIApp

from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import upgrade
from faka_common.service_auth import ServiceCredential

T = TypeVar("T")


def as_caller(service: str) -> dict[str, str]:
    """The headers `service` calls another's internal routes with (its development credential)."""
    return ServiceCredential.development(service).headers()


def asgi_client(app: ASGIApp, service: str, caller: str = "gateway") -> httpx.AsyncClient:
    """A client of a service's app over ASGI (no socket), calling its internal routes as `caller`."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{service}.test", headers=as_caller(caller)
    )


def required_env(name: str, example: str) -> str:
    """A setting the integration tests cannot run without; a clear error naming it when it is missing."""
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: integration tests need it, e.g. {name}={example} (`make test` exports it)"
        )
    return value


def server_url() -> str:
    """The Postgres server the integration tests use."""
    return required_env("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres")


def database_url_for(server: str, name: str) -> str:
    parts = urlsplit(asyncpg_dsn(server))
    return urlunsplit(parts._replace(path=f"/{name}"))


async def drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(database_url_for(server, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def migrated_database(
    prefix: str, migrations: Path | None = None, server: str | None = None
) -> AsyncIterator[str]:
    """A database named `<prefix>_<random>` that exists for the block: created and brought to head by
    `migrations` (or left to whoever uses it first when None), dropped afterwards."""
    server = server or server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = database_url_for(server, name)
    if migrations is not None:
        await upgrade(url, migrations)
    try:
        yield url
    finally:
        await drop_database(server, name)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20.0, interval: float = 0.05) -> T:  # noqa: ASYNC109
    """Poll `check` until it returns a truthy value (returned) or `timeout` seconds pass (AssertionError)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {result!r})")
        await asyncio.sleep(interval)
