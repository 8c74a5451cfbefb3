"""Merchant databases on the real PostgreSQL server at DATABASE_URL, migrated, with the service's internal
API over ASGI on them: a fresh one per test (`service`, `api`), or one per module (`shared_service`,
`shared_api`) for tests that change nothing, which is cheaper to run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import httpx
import pytest
from faka_common.contracts import Envelope
from faka_common.testing import asgi_client, migrated_database
from merchant.bootstrap import Service, bootstrap
from merchant.config import MIGRATIONS, Settings
from merchant.entrypoints.http import build_app
from sqlalchemy import text


@asynccontextmanager
async def migrated_service(**settings: Any) -> AsyncIterator[Service]:
    """The service on a fresh migrated database (`settings` over the defaults)."""
    async with migrated_database("t_merchant", MIGRATIONS) as url:
        built = bootstrap(Settings(database_url=url, **settings))
        try:
            yield built
        finally:
            await built.runtime.engine.dispose()


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with migrated_service() as built:
        yield built


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(build_app(service), "merchant") as client:
        yield client


@pytest.fixture(scope="module")
async def shared_service() -> AsyncIterator[Service]:
    async with migrated_service() as built:
        yield built


@pytest.fixture(scope="module")
async def shared_api(shared_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(build_app(shared_service), "merchant") as client:
        yield client


async def outbox(service: Service, shop_id: UUID | str | None = None) -> list[Envelope]:
    """The messages the service staged (for one shop: under its key), in order."""
    query = "SELECT value FROM outbox" + (" WHERE key = :key" if shop_id is not None else "") + " ORDER BY id"
    async with service.runtime.engine.connect() as connection:
        rows = await connection.execute(text(query), {"key": str(shop_id)} if shop_id is not None else {})
        return [Envelope.from_bytes(row[0]) for row in rows]
