"""The risk service against a real Postgres (DATABASE_URL names the server; each module gets its own
database) and the real Redis (REDIS_URL; each test its own key prefix)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from faka_common.contracts import Envelope, Message
from faka_common.http import create_app
from faka_common.messaging.consumer import Delivery as Record
from faka_common.testing import asgi_client, migrated_database
from fastapi import FastAPI
from risk.bootstrap import Service, bootstrap
from risk.config import MIGRATIONS, Settings
from risk.entrypoints.http import router
from sqlalchemy import text


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    async with migrated_database("faka_risk_test", MIGRATIONS) as url:
        yield url


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    # its own Redis key prefix: each test's windows start empty
    settings = Settings(
        database_url=database_url,
        run_migrations=False,
        max_quantity_per_order=10,
        kafka_namespace=f"risk-test-{uuid4().hex[:8]}.",
    )
    built = bootstrap(settings)
    try:
        yield built
    finally:
        await built.decider.counters.aclose()
        await built.runtime.engine.dispose()


def the_app(service: Service) -> FastAPI:
    """The service's app as its entrypoint builds it (ops routes included)."""
    return create_app(service.runtime, [router(service)], title="risk under test")


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(the_app(service), "risk") as client:
        yield client


async def feed(service: Service, message: Message) -> str:
    """Hand one message to the service's Kafka consumer as the broker would; how it was handled."""
    record = Record(message.topic, 0, 0, message.key.encode(), Envelope.wrap(message, "test").to_bytes())
    return await service.consumer.consume(record)


async def emitted(service: Service, key: object) -> list[dict[str, Any]]:
    """The messages the service staged under a Kafka key, decoded, in order."""
    async with service.runtime.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT value FROM outbox WHERE key = :key ORDER BY id"), {"key": str(key)}
        )
        return [Envelope.from_bytes(row[0]).model_dump(mode="json") for row in rows]
