"""What every service process runs: migrations, the database, the broker and its consumers, the relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from faststream import FastStream
from faststream.specification import AsyncAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from faka_common import collector
from faka_common.contracts.envelope import Message
from faka_common.contracts.topics import dead_letter
from faka_common.db.engine import create_engine, reader_factory, session_factory
from faka_common.db.migrations import upgrade, wait_for_schema
from faka_common.db.uow import SessionFactory
from faka_common.messaging.broker import (
    ServiceBroker,
    create_broker,
    create_topics,
    document_emits,
    subscribe,
)
from faka_common.messaging.consumer import EventConsumer
from faka_common.messaging.progress import ConsumerProgress, broker_consumers
from faka_common.messaging.relay import OutboxRelay
from faka_common.messaging.retention import Retention, sweep
from faka_common.outages import retry_while_down
from faka_common.settings import ServiceSettings
from faka_common.telemetry import setup_logging, setup_tracing

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
Job = Callable[[], Coroutine[Any, Any, None]]


class Runtime:
    """Built by a service's bootstrap; connects nothing until `start`."""

    def __init__(self, settings: ServiceSettings, migrations: Path) -> None:
        self.settings = settings
        self.migrations = migrations
        self.engine: AsyncEngine = create_engine(settings.database_url)
        self.sessions: SessionFactory = session_factory(self.engine)
        #: for reads of one statement, without a transaction around them (`reader_factory`)
        self.readers: SessionFactory = reader_factory(self.engine)
        self.kafka_security = security = settings.kafka_security()
        self.broker: ServiceBroker = create_broker(
            settings.kafka_bootstrap_servers, settings.service_name, security
        )
        self.relay = OutboxRelay(
            settings.service_name,
            settings.database_url,
            settings.kafka_bootstrap_servers,
            namespace=settings.kafka_namespace,
            security=security,
        )
        self.on_start: list[Hook] = []
        self.on_stop: list[Hook] = []
        self.readiness_checks: dict[str, Hook] = {"database": self._check_database}
        self.progress = ConsumerProgress(broker_consumers(self.broker), settings.consumer_stall_seconds)
        self.retention = Retention(
            outbox=timedelta(hours=settings.outbox_keep_hours), inbox=timedelta(days=settings.inbox_keep_days)
        )
        self._topics: set[str] = set()
        self._consumers: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.every(settings.retention_sweep_seconds, "messaging retention sweep", self.sweep)

    def consume(self, consumer: EventConsumer, topics: Sequence[str]) -> None:
        """Feed `topics` to `consumer`; readiness fails while one of its partitions makes no progress."""
        subscribe(self.broker, consumer, topics, self.settings.kafka_namespace)
        self._consumers.append(consumer.name)
        self._topics.update(dead_letter(topic) for topic in topics)
        if "consumers" not in self.readiness_checks:
            self.readiness_checks["consumers"] = self.progress.check
            self.every(self.settings.consumer_lag_sample_seconds, "consumer lag sample", self.progress.sample)

    def emits(self, messages: Sequence[type[Message]]) -> None:
        document_emits(self.broker, messages)
        self._topics.update(message.topic for message in messages)

    def background(self, job: Job) -> None:
        """Run `job` for the life of the process (e.g. a watchdog loop)."""

        async def start() -> None:
            self._tasks.append(asyncio.create_task(job()))

        self.on_start.append(start)

    def every(self, seconds: float, name: str, step: Callable[[], Awaitable[object]]) -> None:
        """Run `step` every `seconds` for the life of the process; an error is logged and the loop goes on."""

        async def loop() -> None:
            while True:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s failed; retrying in %.1fs", name, seconds)
                await asyncio.sleep(seconds)

        self.background(loop)

    async def sweep(self) -> dict[str, int]:
        """Remove the outbox and inbox rows kept long enough (`retention`), while this process leads the
        relay (one sweeper per service); the rows removed per table."""
        if not self.relay.is_leader:
            return {}
        return await sweep(self.engine, self.settings.service_name, self._consumers, self.retention)

    @property
    def topics(self) -> Iterable[str]:
        """The topics this service writes (its events, the dead letters of what it consumes)."""
        return sorted(self._topics)

    async def start(self) -> None:
        setup_logging(self.settings.log_level)
        setup_tracing(self.settings.service_name, self.settings.otel_exporter_otlp_endpoint)
        wait = self.settings.dependency_wait_seconds
        if self.settings.run_migrations:
            await retry_while_down(
                "migrating", lambda: upgrade(self.settings.database_url, self.migrations), wait
            )
        else:
            await wait_for_schema(
                self.settings.database_url, self.migrations, self.settings.migration_wait_seconds
            )
        # a service started while the broker is down waits for it here, instead of exiting to be restarted
        await retry_while_down("starting", self._reach_kafka, wait)
        for hook in self.on_start:
            await hook()
        self._tasks.append(asyncio.create_task(self.relay.run()))
        await self.broker.start()
        collector.settle()
        log.info("%s started", self.settings.service_name)

    async def _reach_kafka(self) -> None:
        """Create the missing topics (when this service may) or at least reach the brokers."""
        topics = self.topics if self.settings.kafka_create_topics else ()
        await create_topics(
            self.settings.kafka_bootstrap_servers, topics, self.settings.kafka_namespace, self.kafka_security
        )

    async def stop(self) -> None:
        await self.broker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for hook in reversed(self.on_stop):
            await hook()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        results: dict[str, str] = {}
        for name, check in self.readiness_checks.items():
            try:
                await asyncio.wait_for(check(), 2)
                results[name] = "ok"
            except Exception as error:
                results[name] = f"failed: {type(error).__name__}"
        return results

    async def _check_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    def asyncapi(self) -> FastStream:
        """The FastStream app whose `schema` `faststream docs gen` renders."""
        name = self.settings.service_name
        return FastStream(self.broker, specification=AsyncAPI(self.broker, title=f"faka {name} service"))
