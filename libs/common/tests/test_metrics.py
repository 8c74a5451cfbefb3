"""The shared metric mechanisms: bounded label values, counters that move only for what committed (a real
unit of work on Postgres), dead letters counted once written, the outbox's oldest age, HTTP responses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from faka_common import metrics
from faka_common.contracts import RiskDecided
from faka_common.contracts.envelope import Envelope
from faka_common.db.engine import asyncpg_dsn, create_engine, session_factory
from faka_common.db.tables import messaging_metadata
from faka_common.db.uow import UnitOfWork
from faka_common.messaging.consumer import Delivery, EventConsumer, RetryPolicy
from faka_common.messaging.relay import OutboxRelay, lock_id
from faka_common.testing import database_url_for, eventually, migrated_database, server_url
from fastapi import FastAPI
from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_bounded_label_keeps_the_first_values_and_sums_the_rest_as_other() -> None:
    shops = metrics.BoundedLabel(2)
    assert [shops("a"), shops("b"), shops("c"), shops("a"), shops("d")] == ["a", "b", "other", "a", "other"]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with migrated_database("t_metrics") as url:
        admin = await asyncpg.connect(database_url_for(server_url(), "postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{asyncpg_dsn(url).rsplit("/", 1)[1]}"')
        finally:
            await admin.close()
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(messaging_metadata.create_all)
        await engine.dispose()
        yield url


def forget(observer: Any) -> None:
    """Unregister a test's own observer only: the services' observers (risk's, registered when its tests
    were collected) stay."""
    del metrics._observers["RiskDecided"][f"{observer.__module__}.{observer.__qualname__}"]


def decided(verdict: str = "approve") -> RiskDecided:
    return RiskDecided(order_id=uuid.uuid4(), shop_id=uuid.uuid4(), verdict=verdict)  # type: ignore[arg-type]


async def test_observers_see_a_message_only_after_its_transaction_commits(database: str) -> None:
    seen: list[RiskDecided] = []

    @metrics.on_committed(RiskDecided)
    def observe(event: RiskDecided) -> None:
        seen.append(event)

    engine = create_engine(database)
    try:
        uow = UnitOfWork(session_factory(engine), "risk")
        rolled_back, kept = decided("reject"), decided("approve")
        async with uow:
            uow.publish(rolled_back)
        assert seen == []
        async with uow:
            uow.publish(kept)
            assert seen == []
            await uow.commit()
        assert seen == [kept]
    finally:
        forget(observe)
        await engine.dispose()


def test_a_failing_observer_does_not_reach_the_committer() -> None:
    @metrics.on_committed(RiskDecided)
    def broken(event: RiskDecided) -> None:
        raise RuntimeError("observer bug")

    try:
        metrics.committed([decided()])
    finally:
        forget(broken)


class DeadLetterUow:
    def __init__(self, commit_fails: bool) -> None:
        self.commit_fails = commit_fails

    async def __aenter__(self) -> DeadLetterUow:
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    async def claim_inbox(self, consumer: str, envelope: Envelope) -> bool:
        return True

    async def claim_inboxes(self, consumer: str, envelopes: list[Envelope]) -> set[uuid.UUID]:
        return {envelope.event_id for envelope in envelopes}

    async def add_raw(self, **row: Any) -> None:
        return None

    async def commit(self) -> None:
        if self.commit_fails:
            raise ConnectionRefusedError("database down")


async def failing(event: RiskDecided, uow: Any) -> None:
    raise ValueError("poison")


@pytest.mark.parametrize("commit_fails", [False, True])
async def test_a_dead_letter_is_counted_as_written_only_once_its_write_committed(commit_fails: bool) -> None:
    consumer = EventConsumer(
        "metrics-dlq", lambda: DeadLetterUow(commit_fails), {RiskDecided: failing}, RetryPolicy(1, 0.0)
    )  # type: ignore[arg-type,var-annotated]
    before = sample("faka_dead_letters_written_total", consumer="metrics-dlq")
    record = Delivery("risk.events", 0, 1, b"k", Envelope.wrap(decided(), "risk").to_bytes())
    if commit_fails:
        with pytest.raises(ConnectionRefusedError):
            await consumer.consume(record)
    else:
        assert await consumer.consume(record) == "dead_lettered"
    written = sample("faka_dead_letters_written_total", consumer="metrics-dlq") - before
    assert written == (0 if commit_fails else 1)


class SentNowhere:
    async def send(self, *args: Any, **kwargs: Any) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_the_relay_reports_the_age_of_the_oldest_unpublished_row(database: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await old_row(connection)
        relay = OutboxRelay("metrics-age", database, "unused:9092")
        assert await relay.publish_batch(connection, SentNowhere()) == 1  # type: ignore[arg-type]
        assert 90 <= sample("faka_outbox_oldest_age_seconds", service="metrics-age") < 120
        assert await relay.publish_batch(connection, SentNowhere()) == 0  # type: ignore[arg-type]
        assert sample("faka_outbox_oldest_age_seconds", service="metrics-age") == 0
    finally:
        await connection.close()


async def test_http_responses_are_counted_by_route_template_and_status_class() -> None:
    app = FastAPI()
    app.add_middleware(metrics.HttpMetrics)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "broken":
            raise RuntimeError("bug")
        return {"id": thing_id}

    def count(route: str, status: str) -> float:
        return sample("faka_http_responses_total", route=route, status=status)

    before = [
        count("/things/{thing_id}", "2xx"),
        count("/things/{thing_id}", "5xx"),
        count("unmatched", "4xx"),
    ]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/things/1", "/things/2", "/things/broken", "/nothing/here"):
            await client.get(path)
    after = [
        count("/things/{thing_id}", "2xx"),
        count("/things/{thing_id}", "5xx"),
        count("unmatched", "4xx"),
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]


async def handled(event: RiskDecided, uow: Any) -> None:
    return None


async def test_a_handled_record_observes_its_handler_time() -> None:
    consumer = EventConsumer(
        "metrics-time", lambda: DeadLetterUow(False), {RiskDecided: handled}, RetryPolicy(1, 0.0)
    )  # type: ignore[arg-type,var-annotated]
    before = sample("faka_consumer_handler_seconds_count", consumer="metrics-time")
    records = [
        Delivery("risk.events", 0, n, b"k", Envelope.wrap(decided(), "risk").to_bytes()) for n in range(3)
    ]
    assert await consumer.consume(records[0]) == "handled"
    assert await consumer.consume_batch(records[1:]) == ["handled", "handled"]
    assert sample("faka_consumer_handler_seconds_count", consumer="metrics-time") - before == 3


async def test_a_failed_attempt_tried_again_in_place_counts_a_retry() -> None:
    failures = [ValueError("deadlock"), ValueError("deadlock")]

    async def flaky(event: RiskDecided, uow: Any) -> None:
        if failures:
            raise failures.pop()

    consumer = EventConsumer(
        "metrics-retry", lambda: DeadLetterUow(False), {RiskDecided: flaky}, RetryPolicy(3, 0.0)
    )  # type: ignore[arg-type,var-annotated]
    before = sample("faka_consumer_retries_total", consumer="metrics-retry")
    record = Delivery("risk.events", 0, 1, b"k", Envelope.wrap(decided(), "risk").to_bytes())
    assert await consumer.consume(record) == "handled"
    assert sample("faka_consumer_retries_total", consumer="metrics-retry") - before == 2


async def test_the_pool_gauges_show_connections_in_use_and_the_limit(database: str) -> None:
    name = asyncpg_dsn(database).rsplit("/", 1)[1]
    others = sample("faka_db_pool_limit", database=name)  # the fixture's engine, still referenced
    engine = create_engine(database, pool_size=3)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
            assert sample("faka_db_pool_in_use", database=name) == 1
        assert sample("faka_db_pool_in_use", database=name) == 0
        assert sample("faka_db_pool_limit", database=name) - others == 6
    finally:
        await engine.dispose()


async def old_row(connection: asyncpg.Connection) -> None:
    await connection.execute(
        "INSERT INTO outbox (event_id, topic, key, type, value, created_at) "
        "VALUES ($1, 'risk.events', 'k', 'RiskDecided', '\\x00', now() - interval '90 seconds')",
        uuid.uuid4(),
    )


@pytest.mark.parametrize("leads", [True, False])
async def test_the_outbox_age_shows_while_kafka_is_down_and_on_a_replica_that_does_not_lead(
    database: str, leads: bool
) -> None:
    service = f"metrics-age-{'leader' if leads else 'follower'}"
    connection = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await old_row(connection)
        if not leads:  # another replica holds the relay's lock
            assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(service))
        relay = OutboxRelay(service, database, f"127.0.0.1:{closed_port()}", poll_interval=0.05)
        running = asyncio.create_task(relay.run())

        async def shown() -> bool:
            return sample("faka_outbox_oldest_age_seconds", service=service) >= 90

        try:
            await eventually(shown)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    finally:
        await connection.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
