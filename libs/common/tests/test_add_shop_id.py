"""add_shop_id, the step every service's shops migration takes: existing rows are filed under the default shop
(or the shop the migration names) and the column keeps no default, so a write that names no shop fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn, create_engine
from faka_common.db.migrations import add_shop_id, ensure_database
from faka_common.testing import migrated_database
from sqlalchemy.engine import Connection

pytestmark = pytest.mark.integration


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with migrated_database("add_shop_id") as url:
        await ensure_database(url)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await connection.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
            await connection.execute("CREATE TABLE tags (note_id int NOT NULL, tag text NOT NULL)")
            await connection.execute("INSERT INTO notes VALUES (1, 'old'), (2, 'older')")
            await connection.execute("INSERT INTO tags VALUES (1, 'a')")
        finally:
            await connection.close()
        yield url


async def migrate(url: str, *tables: str, **options: Any) -> None:
    def run(connection: Connection) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            add_shop_id(*tables, **options)

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def test_existing_rows_are_filed_under_the_default_shop_and_the_column_keeps_no_default(
    database: str,
) -> None:
    await migrate(database, "notes", "tags")

    assert {r["shop_id"] for r in await fetch(database, "SELECT shop_id FROM notes")} == {DEFAULT_SHOP_ID}
    assert [r["shop_id"] for r in await fetch(database, "SELECT shop_id FROM tags")] == [DEFAULT_SHOP_ID]
    columns = await fetch(
        database,
        "SELECT table_name, data_type, is_nullable, column_default FROM information_schema.columns"
        " WHERE column_name = 'shop_id' ORDER BY table_name",
    )
    assert [tuple(c) for c in columns] == [("notes", "uuid", "NO", None), ("tags", "uuid", "NO", None)]


async def test_a_write_that_names_no_shop_fails_after_the_migration(database: str) -> None:
    await migrate(database, "notes")
    shop = uuid.uuid4()

    with pytest.raises(asyncpg.NotNullViolationError):
        await fetch(database, "INSERT INTO notes (id, body) VALUES (3, 'new')")
    await fetch(database, "INSERT INTO notes (id, body, shop_id) VALUES (3, 'new', $1)", shop)
    assert [r["shop_id"] for r in await fetch(database, "SELECT shop_id FROM notes WHERE id = 3")] == [shop]


async def test_a_migration_may_file_existing_rows_under_the_shop_it_was_written_with(database: str) -> None:
    written_with = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
    await migrate(database, "tags", backfill=written_with)

    assert [r["shop_id"] for r in await fetch(database, "SELECT shop_id FROM tags")] == [written_with]
    given = await fetch(
        database, "SELECT table_name FROM information_schema.columns WHERE column_name = 'shop_id'"
    )
    assert [r["table_name"] for r in given] == ["tags"]  # only the tables named
