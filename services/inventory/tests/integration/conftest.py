"""Each inventory integration module gets its own migrated database on the Postgres server at DATABASE_URL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faka_common.db.engine import create_engine, session_factory
from faka_common.db.uow import SessionFactory
from faka_common.testing import migrated_database
from inventory.config import MIGRATIONS
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    async with migrated_database("faka_inventory_test", MIGRATIONS) as url:
        yield url


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=40)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def sessions(engine: AsyncEngine) -> SessionFactory:
    return session_factory(engine)
