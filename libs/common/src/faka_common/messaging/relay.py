"""The outbox relay: the only writer to Kafka. One leader per service, in id order, idempotent producer."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.security import BaseSecurity
from prometheus_client import Counter, Gauge

from faka_common.db.engine import asyncpg_dsn
from faka_common.db.uow import kicker, outbox_channel
from faka_common.messaging.security import client_options
from faka_common.outages import dependency_down

log = logging.getLogger(__name__)

PUBLISHED = Counter("faka_outbox_published_total", "Messages the relay published", ["service", "topic"])
BACKLOG = Gauge("faka_outbox_backlog", "Unpublished outbox rows at the last poll", ["service"])
LEADER = Gauge("faka_outbox_relay_leader", "1 while this process holds the relay lock", ["service"])
OLDEST_AGE = Gauge(
    "faka_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row at the last poll", ["service"]
)

FETCH = """
SELECT id, topic, key, type, value, headers, extract(epoch FROM clock_timestamp() - created_at) AS age
FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1
"""
MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
# the rows published last time marked and the next ones fetched in one round trip; the fetch's snapshot is
# the statement's start, where the rows being marked are still unpublished, so it leaves them out by id
MARK_AND_FETCH = """
WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY($2::bigint[]))
SELECT id, topic, key, type, value, headers, extract(epoch FROM clock_timestamp() - created_at) AS age
FROM outbox WHERE published_at IS NULL AND id <> ALL($2::bigint[]) ORDER BY id LIMIT $1
"""
#: How long published rows wait to be marked with the next fetch: a commit waking the relay within it
#: spares a round trip (a sale's messages come in bursts); else they are marked alone. Rows published but
#: not marked when the relay dies are published again, and consumers take them as duplicates.
MARK_WITHIN = 0.05
OLDEST = """
SELECT extract(epoch FROM clock_timestamp() - created_at) FROM outbox
WHERE published_at IS NULL ORDER BY id LIMIT 1
"""
COUNT = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
#: The relay's session plans its statements once. By default Postgres planned MARK_AND_FETCH afresh on
#: every call (its plan for a short id array looks cheaper than the generic one, which assumes ten ids),
#: 0.13 ms of the server's CPU each time, several times a sale in every service; the generic plan is the
#: same two index scans (the primary key, and the partial index of unpublished rows).
#: Its commits do not wait for the WAL flush (`synchronous_commit = off`): a mark lost to a crash of
#: Postgres leaves its rows unpublished, and they are published again, which consumers take as duplicates,
#: as after a crash of the relay. The rows themselves are written by the producers' transactions, which
#: keep waiting for the flush. Marks were 5.4 of a sale's 14-15 WAL flushes at 27.6 orders/s (a flush
#: took 0.84-1.26 ms under load against 0.085 idle, one at a time); asynchronous, the flushes of a
#: 60 s run fell by 15-25 % (docs/scaling.md).
SESSION = {"plan_cache_mode": "force_generic_plan", "synchronous_commit": "off"}


def lock_id(service: str) -> int:
    """A stable advisory-lock id per service, so one relay leads per service database."""
    return int.from_bytes(hashlib.sha256(f"outbox-relay:{service}".encode()).digest()[:8], "big", signed=True)


def create_producer(
    bootstrap_servers: str, client_id: str, security: BaseSecurity | None = None
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        **client_options(security),
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
    )


class OutboxRelay:
    """Publishes unpublished outbox rows in id order and marks them; wakes on NOTIFY, polls as a fallback."""

    def __init__(
        self,
        service: str,
        database_url: str,
        bootstrap_servers: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        namespace: str = "",
        security: BaseSecurity | None = None,
    ) -> None:
        self.service = service
        self._namespace = namespace
        self._dsn = asyncpg_dsn(database_url)
        self._bootstrap = bootstrap_servers
        self._security = security
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.is_leader = False
        #: ids of the rows published and not yet marked (see MARK_WITHIN)
        self._published: list[int] = []

    async def run(self) -> None:
        """Run until cancelled; reconnects after any failure."""
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if dependency_down(error):  # Postgres or Kafka restarting: expected, and said in one line
                    log.warning(
                        "outbox relay of %s waits for a server that is down (%s: %s); retrying in %.1f s",
                        self.service,
                        type(error).__name__,
                        str(error)[:200],
                        self._poll_interval,
                    )
                else:
                    log.exception("outbox relay of %s failed; retrying", self.service)
            self._set_leader(False)
            await asyncio.sleep(self._poll_interval)

    def _set_leader(self, value: bool) -> None:
        self.is_leader = value
        LEADER.labels(self.service).set(1 if value else 0)

    async def connect(self) -> asyncpg.Connection:
        """The relay's own session (SESSION)."""
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn, server_settings=SESSION)
        return conn

    async def _lead(self) -> None:
        conn = await self.connect()
        try:
            # every replica reports the outbox's age, and the leader does before it reaches for Kafka, so the
            # age shows while Kafka is down or when the replica that last led is no longer leading
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(self.service)):
                await self._observe_age(conn)
                await asyncio.sleep(self._poll_interval)
            self._set_leader(True)
            await self._observe_age(conn)
            await conn.add_listener(outbox_channel(self.service), self._on_notify)
            producer = create_producer(self._bootstrap, f"{self.service}-outbox-relay", self._security)
            await producer.start()
            database = urlsplit(self._dsn).path.lstrip("/")
            kicker.register(database, self.service, self._wake)
            try:
                while True:
                    self._wake.clear()
                    sent = await self.publish_batch(conn, producer)
                    if sent < self._batch_size:
                        await self._idle(conn)
            finally:
                kicker.unregister(database, self.service, self._wake)
                await producer.stop()
        finally:
            try:
                if self._published:  # best effort: what stays unmarked is published again
                    await asyncio.wait_for(self._mark(conn), 1.0)
            except Exception as error:
                log.info("outbox relay of %s left published rows unmarked: %s", self.service, error)
            finally:
                await conn.close(timeout=5)

    async def _idle(self, conn: asyncpg.Connection) -> None:
        """Wait for a commit to wake the relay (a poll after `poll_interval`). Rows published and not yet
        marked wait at most MARK_WITHIN for that: then they are marked alone."""
        if self._published:
            try:
                async with asyncio.timeout(MARK_WITHIN):
                    await self._wake.wait()
                return
            except TimeoutError:
                await self._mark(conn)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll_interval):
                await self._wake.wait()

    async def _mark(self, conn: asyncpg.Connection) -> None:
        await conn.execute(MARK, self._published)
        self._published = []

    async def _observe_age(self, conn: asyncpg.Connection) -> None:
        OLDEST_AGE.labels(self.service).set(float(await conn.fetchval(OLDEST) or 0.0))

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        """Publish the next unpublished rows in id order and say how many; the rows published by the call
        before are marked in the same round trip, these ones by the next call (or `_idle`)."""
        if self._published:
            rows = await conn.fetch(MARK_AND_FETCH, self._batch_size, self._published)
            self._published = []
        else:
            rows = await conn.fetch(FETCH, self._batch_size)
        OLDEST_AGE.labels(self.service).set(float(rows[0]["age"]) if rows else 0.0)
        if not rows:
            BACKLOG.labels(self.service).set(0)
            return 0
        futures = [
            await producer.send(
                self._namespace + row["topic"],
                value=row["value"],
                key=row["key"].encode(),
                # the type rides in a header so consumers skip what they do not handle unparsed
                headers=[("type", row["type"].encode())]
                + [(k, str(v).encode()) for k, v in _json(row["headers"]).items() if k != "type"],
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
        self._published = [row["id"] for row in rows]
        for row in rows:
            PUBLISHED.labels(self.service, row["topic"]).inc()
        # a batch that was not full took every row there was: count only behind a full one (whose rows,
        # published but not yet marked, are not behind it)
        backlog = await conn.fetchval(COUNT) - len(rows) if len(rows) == self._batch_size else 0
        BACKLOG.labels(self.service).set(backlog)
        return len(rows)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded: dict[str, Any] = json.loads(value)
        return loaded
    return dict(value or {})
