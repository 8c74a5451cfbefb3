"""migrated_database: each test's database is a copy of a template migrated once per migrations folder. The
copies are at head and independent of each other, and a migration added to the folder makes a new template
(an old template never stands in for migrations it did not run)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from faka_common.db.engine import asyncpg_dsn
from faka_common.testing import _template_name, drop_database, migrated_database, server_url

pytestmark = pytest.mark.integration

REVISION = """
from alembic import op

revision = "{revision}"
down_revision = {down}


def upgrade() -> None:
    op.execute("CREATE TABLE {table} (id int PRIMARY KEY)")
"""


def write_revision(migrations: Path, revision: str, down: str | None, table: str) -> None:
    versions = migrations / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    down_literal = repr(down) if down else "None"
    (versions / f"{revision}.py").write_text(
        REVISION.format(revision=revision, down=down_literal, table=table)
    )


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "svc" / "migrations"
    folder.mkdir(parents=True)
    (folder / "env.py").write_text("from faka_common.db.migrations import run_env\n\nrun_env()\n")
    write_revision(folder, "0001", None, "notes")
    return folder


async def tables_and_revision(url: str) -> tuple[set[str], str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = {
            r["tablename"]
            for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        return tables, await connection.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await connection.close()


@pytest.fixture
async def cleanup_templates() -> AsyncIterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        await drop_database(server_url(), name)


async def test_copies_are_at_head_and_independent(migrations: Path, cleanup_templates: list[str]) -> None:
    cleanup_templates.append(_template_name(migrations))
    async with (
        migrated_database("tmpl_test", migrations) as first,
        migrated_database("tmpl_test", migrations) as second,
    ):
        assert first != second
        assert await tables_and_revision(first) == ({"alembic_version", "notes"}, "0001")
        connection = await asyncpg.connect(asyncpg_dsn(first))
        try:
            await connection.execute("INSERT INTO notes VALUES (1)")
        finally:
            await connection.close()
        connection = await asyncpg.connect(asyncpg_dsn(second))
        try:
            assert await connection.fetchval("SELECT count(*) FROM notes") == 0
        finally:
            await connection.close()


async def test_a_new_migration_makes_a_new_template(migrations: Path, cleanup_templates: list[str]) -> None:
    before = _template_name(migrations)
    cleanup_templates.append(before)
    async with migrated_database("tmpl_test", migrations) as url:
        assert (await tables_and_revision(url))[1] == "0001"
    write_revision(migrations, "0002", "0001", "tags")
    after = _template_name(migrations)
    cleanup_templates.append(after)
    assert after != before
    async with migrated_database("tmpl_test", migrations) as url:
        assert await tables_and_revision(url) == ({"alembic_version", "notes", "tags"}, "0002")
