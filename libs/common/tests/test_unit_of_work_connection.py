"""A unit of work takes its connection from the pool itself and begins and ends its transaction on the
driver (`faka_common.db.uow._Lease`): what its driver statements and its ORM statements do is kept or
undone together, the connection always goes back to the pool, and a reader's statements each run on
their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from faka_common.contracts import RiskDecided
from faka_common.db.engine import create_engine, reader_factory, session_factory
from faka_common.db.uow import UnitOfWork, execute, fetch_row
from faka_common.testing import server_url
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(server_url(), pool_size=1)  # two connections at most
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"uow_probe_{uuid4().hex[:12]}"
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {name} (n int PRIMARY KEY, txid bigint NOT NULL)"))
    try:
        yield name
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {name}"))


async def rows(engine: AsyncEngine, table: str) -> dict[int, int]:
    async with engine.connect() as connection:
        found = await connection.execute(text(f"SELECT n, txid FROM {table}"))
        return {n: txid for n, txid in found.all()}


def checked_out(engine: AsyncEngine) -> int:
    return engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined, no-any-return]


async def insert_driver(uow: UnitOfWork, table: str, n: int) -> None:
    await execute(uow.session, f"INSERT INTO {table} VALUES ($1, txid_current())", n)


async def insert_orm(uow: UnitOfWork, table: str, n: int) -> None:
    await uow.session.execute(text(f"INSERT INTO {table} VALUES (:n, txid_current())"), {"n": n})


@pytest.mark.parametrize(
    "statements",
    [("driver", "orm", "driver"), ("orm", "driver")],
    ids=["driver first", "orm first"],
)
async def test_driver_and_orm_statements_of_a_unit_of_work_commit_in_one_transaction(
    engine: AsyncEngine, table: str, statements: tuple[str, ...]
) -> None:
    async with UnitOfWork(session_factory(engine), "probe") as uow:
        for n, kind in enumerate(statements, start=1):
            await (insert_driver if kind == "driver" else insert_orm)(uow, table, n)
        await uow.commit()
    found = await rows(engine, table)
    assert sorted(found) == list(range(1, len(statements) + 1))
    assert len(set(found.values())) == 1  # one transaction
    assert checked_out(engine) == 0


@pytest.mark.parametrize("orm", [False, True], ids=["driver only", "driver then orm"])
async def test_a_unit_of_work_left_without_commit_keeps_nothing(
    engine: AsyncEngine, table: str, orm: bool
) -> None:
    async with UnitOfWork(session_factory(engine), "probe") as uow:
        await insert_driver(uow, table, 1)
        if orm:
            await insert_orm(uow, table, 2)
    assert await rows(engine, table) == {}
    assert checked_out(engine) == 0


async def test_a_unit_of_work_whose_statement_failed_rolls_back_and_gives_the_connection_back(
    engine: AsyncEngine, table: str
) -> None:
    with pytest.raises(Exception, match="duplicate key"):
        async with UnitOfWork(session_factory(engine), "probe") as uow:
            await insert_driver(uow, table, 1)
            await insert_driver(uow, table, 1)
    assert await rows(engine, table) == {}
    assert checked_out(engine) == 0
    async with UnitOfWork(session_factory(engine), "probe") as uow:  # the connection is usable again
        await insert_driver(uow, table, 2)
        await uow.commit()
    assert sorted(await rows(engine, table)) == [2]


async def test_rollback_undoes_and_the_unit_of_work_goes_on_in_a_new_transaction(
    engine: AsyncEngine, table: str
) -> None:
    async with UnitOfWork(session_factory(engine), "probe") as uow:
        await insert_driver(uow, table, 1)
        await insert_orm(uow, table, 2)
        await uow.rollback()
        assert checked_out(engine) == 0
        await insert_driver(uow, table, 3)
        await uow.commit()
    assert sorted(await rows(engine, table)) == [3]


async def test_a_unit_of_work_of_driver_statements_never_asks_the_session_for_its_transaction(
    engine: AsyncEngine, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    for name in ("connection", "commit", "close", "rollback"):
        original = getattr(AsyncSession, name)

        def counted(original: Any = original, name: str = name) -> Any:
            async def call(self: AsyncSession, *args: Any, **kwargs: Any) -> Any:
                asked.append(name)
                return await original(self, *args, **kwargs)

            return call

        monkeypatch.setattr(AsyncSession, name, counted())
    async with UnitOfWork(session_factory(engine), "probe") as uow:
        await insert_driver(uow, table, 1)
        await uow.commit()
    async with UnitOfWork(session_factory(engine), "probe") as uow:
        await insert_driver(uow, table, 2)
    assert asked == []
    assert sorted(await rows(engine, table)) == [1]


async def test_a_readers_statements_each_run_on_their_own_and_its_connection_goes_back_transactional(
    engine: AsyncEngine,
) -> None:
    async with UnitOfWork(reader_factory(engine), "probe") as reader:
        first = await fetch_row(reader.session, "SELECT txid_current()")
        second = await fetch_row(reader.session, "SELECT txid_current()")
        assert first is not None and second is not None and first[0] != second[0]
    for _ in range(2):  # both connections of the pool: a writer gets a transaction on each
        async with (
            UnitOfWork(session_factory(engine), "probe") as a,
            UnitOfWork(session_factory(engine), "probe") as b,
        ):
            for uow in (a, b):
                once = await fetch_row(uow.session, "SELECT txid_current()")
                again = await fetch_row(uow.session, "SELECT txid_current()")
                assert once == again
    assert checked_out(engine) == 0


async def test_many_units_of_work_at_once_share_two_connections_and_keep_everything(
    engine: AsyncEngine, table: str
) -> None:
    sessions = session_factory(engine)

    async def one(n: int) -> None:
        async with UnitOfWork(sessions, "probe") as uow:
            await insert_driver(uow, table, n)
            if n % 3 == 0:
                await insert_orm(uow, table, 1000 + n)
            if n % 5 == 0:
                return  # left without commit: undone
            await uow.commit()

    await asyncio.gather(*(one(n) for n in range(1, 41)))
    expected = {n for n in range(1, 41) if n % 5} | {1000 + n for n in range(1, 41) if n % 3 == 0 and n % 5}
    assert set(await rows(engine, table)) == expected
    assert checked_out(engine) == 0


async def test_a_unit_of_work_cancelled_inside_a_statement_hands_no_open_transaction_to_the_pool(
    engine: AsyncEngine, table: str
) -> None:
    """A consumer's task group cancels its other handlers when one fails: a connection given back to the
    pool inside a transaction would put the next unit of work's statements in it (or refuse its BEGIN)."""
    inside = asyncio.Event()

    async def slow() -> None:
        async with UnitOfWork(session_factory(engine), "probe") as uow:
            await insert_driver(uow, table, 1)
            inside.set()
            await execute(uow.session, "SELECT pg_sleep(10)")
            await uow.commit()

    task = asyncio.create_task(slow())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert checked_out(engine) == 0
    assert await rows(engine, table) == {}
    sessions = session_factory(engine)
    async with UnitOfWork(sessions, "probe") as a, UnitOfWork(sessions, "probe") as b:  # both connections
        for n, uow in enumerate((a, b), start=2):
            await insert_driver(uow, table, n)
            await insert_orm(uow, table, 10 * n)
            await uow.commit()
    found = await rows(engine, table)
    assert sorted(found) == [2, 3, 20, 30]
    assert found[2] == found[20] and found[3] == found[30] and found[2] != found[3]


async def test_a_connection_whose_rollback_failed_is_closed_not_given_back(
    engine: AsyncEngine, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its transaction may still be open on the server: the next unit of work on it would run inside it."""
    rollback = asyncpg.transaction.Transaction.rollback
    failures = [OSError("the network dropped the ROLLBACK")]

    async def failing(self: Any) -> None:
        if failures:
            raise failures.pop()
        await rollback(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "rollback", failing)
    with pytest.raises(OSError, match="dropped the ROLLBACK"):
        async with UnitOfWork(session_factory(engine), "probe") as uow:
            await insert_driver(uow, table, 1)
    assert checked_out(engine) == 0
    sessions = session_factory(engine)
    async with UnitOfWork(sessions, "probe") as a, UnitOfWork(sessions, "probe") as b:  # both connections
        for n, uow in enumerate((a, b), start=2):
            await insert_driver(uow, table, n)
            await uow.commit()
    assert sorted(await rows(engine, table)) == [2, 3]


async def test_a_unit_of_work_opened_alone_runs_each_statement_on_its_own_until_it_begins(
    engine: AsyncEngine, table: str
) -> None:
    """Opened `alone`, no BEGIN is sent: each statement commits by itself (kept though the work never
    commits); after `begin` the statements share one transaction, undone when the work is left."""
    async with UnitOfWork(session_factory(engine), "probe").alone() as uow:
        await insert_driver(uow, table, 1)
        await insert_driver(uow, table, 2)
        await uow.begin()
        await insert_driver(uow, table, 3)
        await insert_orm(uow, table, 4)
        assert sorted(await rows(engine, table)) == [1, 2]  # the two before `begin` already kept
    found = await rows(engine, table)
    assert sorted(found) == [1, 2] and found[1] != found[2]
    assert checked_out(engine) == 0
    async with UnitOfWork(session_factory(engine), "probe") as uow:  # the next opens a transaction again
        await insert_driver(uow, table, 5)
        await insert_driver(uow, table, 6)
    assert sorted(await rows(engine, table)) == [1, 2]
    assert checked_out(engine) == 0


async def test_a_unit_of_work_opened_alone_and_begun_commits_everything_after_begin_together(
    engine: AsyncEngine, table: str
) -> None:
    async with UnitOfWork(session_factory(engine), "probe").alone() as uow:
        await uow.begin()
        await insert_driver(uow, table, 1)
        await uow.begin()  # begun already: nothing (a placement with a limit and a coupon begins twice)
        await insert_orm(uow, table, 2)
        await uow.commit()
    found = await rows(engine, table)
    assert sorted(found) == [1, 2] and found[1] == found[2]
    assert checked_out(engine) == 0


async def test_a_unit_of_work_opened_alone_refuses_to_write_its_messages_apart_from_its_write(
    engine: AsyncEngine, table: str
) -> None:
    """Messages left for the commit would be written by a statement of their own, not atomic with the write
    that made them: the commit refuses them (a placement writes them in its one statement)."""
    with pytest.raises(RuntimeError, match="opened alone"):
        async with UnitOfWork(session_factory(engine), "probe").alone() as uow:
            await insert_driver(uow, table, 1)
            uow.publish(RiskDecided(order_id=uuid4(), shop_id=uuid4(), verdict="approve"))
            await uow.commit()
    assert checked_out(engine) == 0
