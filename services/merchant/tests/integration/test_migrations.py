"""Migration 0002 (people) on a database that already holds shops: it adds its tables beside them, refuses a
second account under the same address in another case, and goes down and up again. Migration 0003 (API
tokens) after it: known scopes only, one row per digest, down and up again. Migration 0004 (the audit log):
one entry per request id, its rules, no change or removal of an entry, down and up again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
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


@asynccontextmanager
async def at_revision(name: str, revision: str) -> AsyncIterator[tuple[Config, asyncpg.Connection]]:
    """A fresh database migrated up to `revision`: its alembic config and a connection to it."""
    async with migrated_database(name) as url:
        await ensure_database(url)
        config = alembic_config(url, MIGRATIONS)
        await asyncio.to_thread(command.upgrade, config, revision)
        db = await asyncpg.connect(asyncpg_dsn(url))
        try:
            yield config, db
        finally:
            await db.close()


async def test_people_tables_come_beside_the_shops_and_go_again() -> None:
    async with at_revision("t_merchant_migration", "0001") as (config, db):
        shops_before = await db.fetch("SELECT * FROM shops")
        assert not PEOPLE & await tables(db)
        await asyncio.to_thread(command.upgrade, config, "head")
        assert await tables(db) >= PEOPLE
        # 0005 adds the fee rate: every shop keeps the platform's default (null)
        assert [
            {k: v for k, v in r.items() if k != "fee_rate_bps"} for r in await db.fetch("SELECT * FROM shops")
        ] == [dict(r) for r in shops_before]
        assert {r["fee_rate_bps"] for r in await db.fetch("SELECT fee_rate_bps FROM shops")} == {None}
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


async def test_api_tokens_come_after_the_people_refuse_unknown_scopes_and_go_again() -> None:
    async with at_revision("t_merchant_migration_tokens", "0002") as (config, db):
        assert "api_tokens" not in await tables(db)
        await asyncio.to_thread(command.upgrade, config, "head")
        assert "api_tokens" in await tables(db)
        now = datetime.now(UTC)
        account = uuid4()
        await db.execute(
            "INSERT INTO accounts (id, email, created_at, updated_at) VALUES ($1, 'o@example.com', $2, $2)",
            account,
            now,
        )
        insert = (
            "INSERT INTO api_tokens (id, shop_id, name, scopes, token_digest, created_by, created_at) "
            "VALUES ($1, (SELECT id FROM shops LIMIT 1), 'script', $2, $3, $4, $5)"
        )
        await db.execute(insert, uuid4(), ["orders:read"], bytes(32), account, now)
        for scopes, token_digest in ((["keys:reencrypt"], b"\1" * 32), ([], b"\2" * 32)):
            with pytest.raises(asyncpg.CheckViolationError, match="api_tokens_scopes"):
                await db.execute(insert, uuid4(), scopes, token_digest, account, now)
        with pytest.raises(asyncpg.UniqueViolationError, match="api_tokens_token_digest"):
            await db.execute(insert, uuid4(), ["orders:read"], bytes(32), account, now)
        with pytest.raises(asyncpg.CheckViolationError, match="api_tokens_digest_sha256"):
            await db.execute(insert, uuid4(), ["orders:read"], b"token", account, now)
        await asyncio.to_thread(command.downgrade, config, "0002")
        assert "api_tokens" not in await tables(db)
        await asyncio.to_thread(command.upgrade, config, "head")
        assert "api_tokens" in await tables(db)


async def test_the_audit_log_comes_after_the_tokens_refuses_changes_and_goes_again() -> None:
    async with at_revision("t_merchant_migration_audit", "0003") as (config, db):
        assert "audit_entries" not in await tables(db)
        await asyncio.to_thread(command.upgrade, config, "head")
        insert = (
            "INSERT INTO audit_entries (id, request_id, occurred_at, actor_kind, actor_label, action, "
            "summary, outcome, client_ip) "
            "VALUES ($1, $2, now(), $3, 'faka-admin', 'shops.create', 'opened', 201, $4)"
        )
        await db.execute(insert, uuid4(), "r-1", "system", "2001:db8::1")
        with pytest.raises(asyncpg.UniqueViolationError, match="audit_entries_request_id"):
            await db.execute(insert, uuid4(), "r-1", "system", None)
        with pytest.raises(asyncpg.CheckViolationError, match="audit_entries_actor_kind"):
            await db.execute(insert, uuid4(), "r-2", "robot", None)
        with pytest.raises(asyncpg.CheckViolationError, match="audit_entries_request_id_length"):
            await db.execute(insert, uuid4(), "r" * 65, "system", None)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute("UPDATE audit_entries SET outcome = 500")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute("TRUNCATE audit_entries")
        await asyncio.to_thread(command.downgrade, config, "0003")
        assert "audit_entries" not in await tables(db)
        assert await db.fetchval("SELECT to_regproc('audit_entries_append_only')") is None
        await asyncio.to_thread(command.upgrade, config, "head")
        assert "audit_entries" in await tables(db)
