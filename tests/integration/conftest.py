"""Fixtures for integration tests: real Kafka, Postgres and Redis.

testcontainers starts them where a Docker engine answers; otherwise the endpoints come from
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL / REDIS_URL, which `make test` exports after starting the local
services. Missing infrastructure fails the run loudly: it is never skipped."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest
from faka_common.db.engine import create_engine
from faka_common.db.migrations import ensure_database
from faka_common.testing import database_url_for, drop_database
from sqlalchemy.ext.asyncio import AsyncEngine

from .messaging_fixtures import create_schema


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[dict[str, str]]:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")
    if all(os.environ.get(n) for n in names):
        yield {n: os.environ[n] for n in names}
        return
    if not _docker_answers():
        pytest.fail(
            "integration tests need Kafka, Postgres and Redis: run them with `make test` (which starts "
            "the local services and exports KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, REDIS_URL) "
            "or with a Docker engine"
        )
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft())
        postgres = stack.enter_context(PostgresContainer("postgres:16", driver=None))
        redis = stack.enter_context(RedisContainer("redis:7"))
        yield {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "DATABASE_URL": postgres.get_connection_url(),
            "REDIS_URL": f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
        }


@pytest.fixture(scope="session")
def kafka_bootstrap(infrastructure: dict[str, str]) -> str:
    return infrastructure["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def redis_url(infrastructure: dict[str, str]) -> str:
    return infrastructure["REDIS_URL"]


@pytest.fixture
async def fresh_database(infrastructure: dict[str, str]) -> AsyncIterator[str]:
    """The URL of a database that exists only for this test (created on first use by migrations)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = database_url_for(infrastructure["DATABASE_URL"], name)
    yield url
    await drop_database(infrastructure["DATABASE_URL"], name)


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database with the messaging tables and the test service's `effects` table."""
    await ensure_database(fresh_database)
    engine = create_engine(fresh_database)
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:10]


os.environ.setdefault("FAKA_TEST_TOPIC", f"test.pings.{uuid.uuid4().hex[:10]}")
