"""Migrations run by another process (Kubernetes: the migration Job, `python -m faka_common.db.migrate`) while
the service waits for its schema: against a real Postgres, with the merchant service's migrations."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from alembic import command
from faka_common.db.migrations import alembic_config, schema_behind, upgrade, wait_for_schema
from faka_common.testing import database_url_for, drop_database, server_url
from merchant.config import MIGRATIONS

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def fresh_url() -> object:
    """The URL of a database that does not exist yet (dropped afterwards if something created it)."""
    server = server_url()
    name = f"migjob_{uuid.uuid4().hex[:12]}"
    yield database_url_for(server, name)
    await drop_database(server, name)


def run_job(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "FAKA_SERVICE": "merchant"}
    return subprocess.run(
        [sys.executable, "-m", "faka_common.db.migrate", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_the_job_creates_and_migrates_the_database_and_two_jobs_at_once_succeed(fresh_url: str) -> None:
    assert await schema_behind(fresh_url, MIGRATIONS) == "the database does not exist yet"
    first, second = await asyncio.gather(
        asyncio.to_thread(run_job, fresh_url), asyncio.to_thread(run_job, fresh_url, "merchant")
    )
    for job in (first, second):
        assert job.returncode == 0, job.stderr
        assert "merchant: database at the newest revision" in job.stdout
    assert await schema_behind(fresh_url, MIGRATIONS) is None


async def test_the_job_names_what_is_missing_instead_of_a_traceback(fresh_url: str) -> None:
    no_url = subprocess.run(
        [sys.executable, "-m", "faka_common.db.migrate", "merchant"],
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert no_url.returncode != 0 and "DATABASE_URL is not set" in no_url.stderr
    unknown = run_job(fresh_url, "no_such_service")
    assert unknown.returncode != 0 and "no service 'no_such_service' in this image" in unknown.stderr


async def test_a_service_waits_for_its_schema_and_starts_once_the_job_has_run(fresh_url: str) -> None:
    waiting = asyncio.create_task(wait_for_schema(fresh_url, MIGRATIONS, give_up_after=60, interval=0.05))
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done, "the service went on before its schema existed"
    await upgrade(fresh_url, MIGRATIONS)
    await asyncio.wait_for(waiting, timeout=30)


async def test_a_database_at_an_older_revision_is_behind_and_the_wait_gives_up(fresh_url: str) -> None:
    await upgrade(fresh_url, MIGRATIONS)
    await asyncio.to_thread(command.downgrade, alembic_config(fresh_url, MIGRATIONS), "0001")
    behind = await schema_behind(fresh_url, MIGRATIONS)
    assert behind is not None and behind.startswith("the database is at 0001, this code needs ")
    gave_up = "gave up waiting for the migrations after 0s: the database is at 0001"
    with pytest.raises(RuntimeError, match=gave_up):
        await wait_for_schema(fresh_url, MIGRATIONS, give_up_after=0.1, interval=0.05)


async def test_a_database_newer_than_the_code_does_not_hold_the_old_replica_back(fresh_url: str) -> None:
    """An old replica restarting during a rolling update, after the Job migrated for the new code."""
    await upgrade(fresh_url, MIGRATIONS)
    connection = await asyncpg.connect(fresh_url)
    try:
        await connection.execute("UPDATE alembic_version SET version_num = '9999_from_a_newer_release'")
    finally:
        await connection.close()
    assert await schema_behind(fresh_url, MIGRATIONS) is None
