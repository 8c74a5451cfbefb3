"""Reader sessions run a one-statement read without BEGIN/ROLLBACK, and leave the pooled connection
transactional for the next writer."""

from __future__ import annotations

import uuid

import pytest
from faka_common.db.engine import create_engine, reader_factory, session_factory
from faka_common.db.uow import fetch_row
from faka_common.testing import server_url
from sqlalchemy import text

pytestmark = pytest.mark.integration


async def test_a_reader_reads_outside_any_transaction() -> None:
    engine = create_engine(server_url(), pool_size=1)
    try:
        async with reader_factory(engine)() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection is not None
            assert not raw.driver_connection.is_in_transaction()
            # each statement is its own transaction: no snapshot held between them
            first = (await session.execute(text("SELECT txid_current()"))).scalar_one()
            second = (await session.execute(text("SELECT txid_current()"))).scalar_one()
            assert first != second
            await session.rollback()
    finally:
        await engine.dispose()


async def test_a_writer_after_a_reader_on_the_same_connection_is_all_or_nothing_again() -> None:
    engine = create_engine(server_url(), pool_size=1)
    table = f"reader_{uuid.uuid4().hex[:12]}"
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"CREATE TABLE {table} (n int)"))
        async with reader_factory(engine)() as session:
            reader_pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with session_factory(engine)() as session:
            assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() == reader_pid
            await session.execute(text(f"INSERT INTO {table} VALUES (1)"))
            await session.rollback()
        async with engine.connect() as connection:
            assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


async def test_a_readers_driver_statements_run_each_on_its_own() -> None:
    """`fetch_row` in a reader session goes straight to the driver, as in a writer's transaction, but begins
    none: each statement is its own transaction, and nothing is left open on the pooled connection."""
    engine = create_engine(server_url(), pool_size=1)
    try:
        async with reader_factory(engine)() as session:
            first = await fetch_row(session, "SELECT txid_current()")
            second = await fetch_row(session, "SELECT txid_current()")
            assert first is not None and second is not None and first[0] != second[0]
            raw = await (await session.connection()).get_raw_connection()
            assert not raw.driver_connection.is_in_transaction()
        async with session_factory(engine)() as session:
            one = await fetch_row(session, "SELECT txid_current()")
            assert one == await fetch_row(session, "SELECT txid_current()")  # a writer's one transaction
            await session.rollback()
    finally:
        await engine.dispose()
