"""Alembic per service: the shared env.py body, the messaging tables, the shop column, upgrade-on-start, and
the wait of a service whose migrations another process runs (Kubernetes: the migration Job)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import async_engine, asyncpg_dsn, sqlalchemy_url

MIGRATION_LOCK = 7_340_001

log = logging.getLogger(__name__)


async def ensure_database(database_url: str) -> None:
    """Create the service's database on its server if it does not exist yet."""
    dsn = asyncpg_dsn(database_url)
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            # two creating at once: the later one is told so either way, depending on when it looked
            # (the catalog's unique index answers when both passed the existence check together)
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def alembic_config(database_url: str, script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    config.set_main_option("faka.database_url", database_url.replace("%", "%%"))
    return config


async def upgrade(database_url: str, script_location: Path) -> None:
    """Bring the service database to the newest revision; safe when several replicas start at once."""
    await ensure_database(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(database_url, script_location), "head")


async def schema_behind(database_url: str, script_location: Path) -> str | None:
    """Why the database is not yet at the schema this code needs, or None when it is there.

    A database at a revision this code does not know is newer than the code (an old replica during a rolling
    update, after the migration Job ran for the new one): migrations only add, so the old code runs on it."""
    script = ScriptDirectory.from_config(alembic_config(database_url, script_location))
    heads = set(script.get_heads())
    try:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
    except asyncpg.InvalidCatalogNameError:
        return "the database does not exist yet"
    try:
        rows = await connection.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return "the database has no schema yet"
    finally:
        await connection.close()
    current = {row["version_num"] for row in rows}
    known = {revision.revision for revision in script.walk_revisions()}
    if current & heads or current - known:
        return None
    at, needed = ", ".join(sorted(current)) or "no revision", ", ".join(sorted(heads))
    return f"the database is at {at}, this code needs {needed}"


async def wait_for_schema(
    database_url: str, script_location: Path, give_up_after: float = 600.0, interval: float = 2.0
) -> None:
    """Wait until another process (the migration Job) has brought the database to this code's schema; give
    up after `give_up_after` seconds (the process exits and its supervisor starts it again)."""
    deadline = time.monotonic() + give_up_after
    while (behind := await schema_behind(database_url, script_location)) is not None:
        if time.monotonic() >= deadline:
            raise RuntimeError(f"gave up waiting for the migrations after {give_up_after:.0f}s: {behind}")
        log.warning("waiting for the migrations to run elsewhere: %s", behind)
        await asyncio.sleep(interval)


def run_env() -> None:
    """The body of every service's migrations/env.py (online mode only)."""
    url = context.config.get_main_option("faka.database_url")
    assert url is not None

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, transaction_per_migration=False)
        with context.begin_transaction():
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            context.run_migrations()

    async def run() -> None:
        engine = async_engine(url, poolclass=NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


def create_messaging_tables() -> None:
    """The outbox and inbox, created by each service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )
    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )


def add_shop_id(*tables: str, backfill: UUID = DEFAULT_SHOP_ID) -> None:
    """Give each of `tables` (in that order) a `shop_id UUID NOT NULL` column, filing the rows they already
    hold under the shop `backfill` (the default shop: an installation's data before it hosted others).

    The column is added with `backfill` as its server default, which is how Postgres fills the existing rows
    (in the same ALTER, no separate UPDATE), and the default is dropped straight after: from then on a write
    that forgets to name the shop fails (NOT NULL) instead of quietly filing the row under the default shop.
    A migration that must keep the value it was written with passes it: `backfill=UUID("...")`.
    """
    for table in tables:
        op.add_column(
            table,
            sa.Column(
                "shop_id",
                postgresql.UUID(as_uuid=True),
                nullable=False,
                server_default=sa.text(f"'{backfill}'::uuid"),
            ),
        )
        op.alter_column(table, "shop_id", server_default=None)
