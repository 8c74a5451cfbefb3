"""Statements run straight on the asyncpg driver inside a session's transaction (`fetch_rows`, `execute`):
the session's connection is looked up once a transaction, and keeping it makes no reference cycle."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from faka_common.db.engine import create_engine, session_factory
from faka_common.db.uow import fetch_row
from faka_common.testing import server_url
from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.integration


async def test_driver_statements_look_the_connection_up_once_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups: list[int] = []
    connection = AsyncSession.connection

    async def counted(self: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        lookups.append(1)
        return await connection(self, *args, **kwargs)

    monkeypatch.setattr(AsyncSession, "connection", counted)
    engine = create_engine(server_url(), pool_size=1)
    try:
        async with session_factory(engine)() as session:
            first = await fetch_row(session, "SELECT txid_current()")
            again = await fetch_row(session, "SELECT txid_current()")
            assert first == again  # one transaction
            assert len(lookups) == 1
            await session.commit()
            after = await fetch_row(session, "SELECT txid_current()")
            assert after != first  # a new transaction after the commit, on a connection looked up again
            assert len(lookups) == 2
    finally:
        await engine.dispose()


async def test_a_session_that_ran_driver_statements_is_freed_without_the_cyclic_collector() -> None:
    """A session and its transaction kept in a cycle wait for the cyclic collector, whose pauses were the
    risk consumer's slowest batches."""
    engine = create_engine(server_url(), pool_size=1)
    gc.disable()
    try:
        session = session_factory(engine)()
        await fetch_row(session, "SELECT 1")
        await session.commit()
        await session.close()
        freed = weakref.ref(session.sync_session)
        del session
        assert freed() is None
    finally:
        gc.enable()
        await engine.dispose()
