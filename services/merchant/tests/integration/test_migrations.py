"""Migration 0002 (people) on a database that already holds shops: it adds its tables beside them, refuses a
second account under the same address in another case, and goes down and up again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest
from alembic import command
from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.testing import migrated_database
from merchant.config import MIGRATIONS

PEOPLE = {
    "accounts",
    "recovery_codes",
    "platform_roles",
    "memberships",
    "sessions",
    "sign_in_challenges",
    "account_links",
}


async def tables(db: asyncpg.Connection) -> set[str]:
    rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_people_tables_come_beside_the_shops_and_go_again() -> None:
    async with migrated_database("t_merchant_migration") as url:
        await ensure_database(url)
        config = alembic_config(url, MIGRATIONS)
        await asyncio.to_thread(command.upgrade, config, "0001")
        db = await asyncpg.connect(asyncpg_dsn(url))
        try:
            shops_before = await db.fetch("SELECT * FROM shops")
            assert not PEOPLE & await tables(db)
            await asyncio.to_thread(command.upgrade, config, "head")
            assert await tables(db) >= PEOPLE
            assert await db.fetch("SELECT * FROM shops") == shops_before
            insert = "INSERT INTO accounts (id, email, created_at, updated_at) VALUES ($1, $2, $3, $3)"
            now = datetime.now(UTC)
            await db.execute(insert, uuid4(), "Seller@example.com", now)
            with pytest.raises(asyncpg.UniqueViolationError, match="accounts_email"):
                await db.execute(insert, uuid4(), "seller@EXAMPLE.com", now)
            await asyncio.to_thread(command.downgrade, config, "0001")
            assert not PEOPLE & await tables(db)
            assert await db.fetch("SELECT * FROM shops") == shops_before
            await asyncio.to_thread(command.upgrade, config, "head")
            assert await tables(db) >= PEOPLE
        finally:
            await db.close()
