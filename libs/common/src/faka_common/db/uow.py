"""The unit of work: a service's state changes and its outgoing messages commit in one transaction."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from opentelemetry import propagate
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from faka_common import metrics
from faka_common.contracts.envelope import Envelope, Message
from faka_common.db.tables import outbox

SessionFactory = async_sessionmaker[AsyncSession]


log = logging.getLogger(__name__)

#: How long a wake-up NOTIFY waits to cover the commits that follow it (one NOTIFY for all of them).
KICK_COALESCE_SECONDS = 0.002


def outbox_channel(producer: str) -> str:
    """The NOTIFY channel that wakes a service's outbox relay."""
    return f"outbox_{producer}"


INBOX_CLAIM = (
    "INSERT INTO inbox (consumer, event_id, type) VALUES ($1::text, $2::uuid, $3::text) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
# in event id order, so that two transactions claiming some of the same events (a batch redelivered to
# another replica) wait for each other instead of deadlocking
INBOX_CLAIM_MANY = (
    "INSERT INTO inbox (consumer, event_id, type) SELECT $1::text, claim.event_id, claim.type "
    "FROM unnest($2::uuid[], $3::text[]) AS claim(event_id, type) ORDER BY claim.event_id "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


# every message a transaction staged, in one statement on the driver (CPU per commit of two messages 0.76-0.97
# of SQLAlchemy's insert); the rows take their ids in the order staged, the order the relay publishes them in
def outbox_insert(first: int = 1) -> str:
    """The insert of a transaction's staged messages, in their order, from six arrays (the parameters
    numbered from `first`: event ids, topics, keys, types, values, headers; `UnitOfWork.take_outbox`)."""
    arrays = ", ".join(
        f"${first + n}::{kind}[]" for n, kind in enumerate(("uuid", "text", "text", "text", "bytea", "text"))
    )
    source = (
        f"unnest({arrays}) WITH ORDINALITY AS staged(event_id, topic, key, type, value, headers, position)"
    )
    return (
        "INSERT INTO outbox (event_id, topic, key, type, value, headers) "
        "SELECT staged.event_id, staged.topic, staged.key, staged.type, staged.value, staged.headers::jsonb "
        "FROM " + source + " ORDER BY staged.position"
    )


OUTBOX_ADD = outbox_insert()


#: The key under which `_driver` keeps a session's transaction and its asyncpg connection.
_KEPT_DRIVER = "faka_driver"
#: The key under which a unit of work's session holds its `_Lease`.
_LEASE = "faka_lease"


class _Lease:
    """The connection of a unit of work, taken from the engine's pool without the session's machinery:
    its transaction is begun and ended on the driver. Through the session (its transaction, connection,
    commit and close) a one-statement unit of work cost 0.62-0.68 ms of CPU against 0.34 taken this way
    (micro-benchmark, uvloop, 3,000 each), and a sale runs 20-45 of them. The session is bound to the
    same connection while it is held, so a repository's ORM statement runs in the same transaction, and
    the session's commit then commits it (flushing what the ORM holds first). A reader session's
    (`reader_factory`, autocommit) connection begins nothing: each statement runs on its own; nor does
    the connection of a unit of work opened `alone` until it begins (`begins`)."""

    __slots__ = ("_bind", "adapter", "begins", "driver", "proxied")

    def __init__(self, begins: bool = True) -> None:
        self.proxied: Any = None
        self.adapter: Any = None
        self.driver: Any = None
        self._bind: Any = None
        #: whether the connection's transaction is begun when it is taken (`UnitOfWork.alone`: not yet)
        self.begins = begins

    async def take(self, session: AsyncSession) -> Any:
        """The asyncpg connection, its transaction begun; None when the adapter is not SQLAlchemy's
        asyncpg one (the session then runs everything itself)."""
        engine = session.bind
        if not isinstance(engine, AsyncEngine):
            return None
        proxied = await engine.raw_connection()
        adapter: Any = proxied.dbapi_connection
        driver = proxied.driver_connection
        if driver is None or not hasattr(adapter, "_start_transaction"):
            proxied.close()
            return None
        sync = session.sync_session
        self._bind = sync.bind
        # the engine's options (a reader's autocommit) are set on the connection here, as `connect` sets
        # them, and reset when the pool takes it back
        sync.bind = Connection(engine.sync_engine, connection=proxied)
        self.proxied, self.adapter, self.driver = proxied, adapter, driver
        if self.begins:
            await self.begin(session)
        return driver

    async def begin(self, session: AsyncSession) -> None:
        """Begin the taken connection's transaction, unless begun (nothing for an autocommit reader's)."""
        try:
            if self.adapter._transaction is None:
                await self.adapter._start_transaction()
        except BaseException:
            await self.end(commit=False, session=session)
            raise

    async def end(self, commit: bool, session: AsyncSession) -> None:
        """Commit or roll back what the driver began (the ORM's commit may have ended it already) and give
        the connection back to the pool; the session is bound to its engine again."""
        if self.proxied is None:
            return
        proxied, adapter, driver = self.proxied, self.adapter, self.driver
        self.proxied = self.adapter = self.driver = None
        session.sync_session.bind = self._bind
        ended = False
        try:
            transaction = adapter._transaction
            if transaction is not None:
                await adapter._call_and_discard(transaction.commit if commit else transaction.rollback)
            ended = True
        finally:
            if ended and not driver.is_closed() and not driver.is_in_transaction():
                proxied.close()
            else:
                # broken, or left inside a transaction (the end failed or was cancelled): never back to the
                # pool; outside a greenlet the adapter closes it at once, without waiting on it
                proxied.invalidate()


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection of the session, its transaction begun (or none, for a reader session); None
    when the adapter is not SQLAlchemy's asyncpg one: the statement then goes through SQLAlchemy.

    A unit of work's session takes its connection from the pool itself (`_Lease`), unless the ORM began
    the session's transaction first. Another session's connection is the session's own: its transaction
    is begun on the driver as SQLAlchemy's asyncpg adapter begins it before its first statement, so that
    the adapter commits and rolls it back; both are kept in the session's `info` for the rest of its
    transaction (asking the session again cost 0.03-0.05 ms of CPU a statement)."""
    lease: _Lease | None = session.info.get(_LEASE)
    if lease is not None and lease.driver is not None:
        return lease.driver
    transaction = session.sync_session.get_transaction()
    if lease is not None and transaction is None:
        return await lease.take(session)
    kept = session.info.get(_KEPT_DRIVER)
    if kept is not None and transaction is not None and kept[0]() is transaction and transaction.is_active:
        return kept[1]
    connection = await session.connection()
    adapted: Any = (await _raw(connection)).dbapi_connection
    driver = getattr(adapted, "driver_connection", None)
    start = getattr(adapted, "_start_transaction", None)
    if driver is None or start is None:
        return None
    if getattr(adapted, "autocommit", False):  # a reader's statement runs on its own, on the driver too
        return _kept(session, driver)
    if not driver.is_in_transaction():
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await start()
    if not driver.is_in_transaction():
        return None
    return _kept(session, driver)


async def _raw(connection: AsyncConnection) -> Any:
    """The pool's proxy of the connection's DBAPI connection. An established connection holds it: read
    without `get_raw_connection`, which spends a greenlet switch (about 0.04 ms of CPU) on reading an
    attribute; one that must be re-established first goes through it."""
    sync = connection.sync_connection
    held = getattr(sync, "_dbapi_connection", None) if sync is not None else None
    return held if held is not None else await connection.get_raw_connection()


def _kept(session: AsyncSession, driver: Any) -> Any:
    # the transaction by a weak reference: a strong one would make the session and its transaction a cycle
    # (they refer to each other), which only the cyclic collector frees, in pauses of milliseconds
    session.info[_KEPT_DRIVER] = (weakref.ref(session.sync_session.get_transaction()), driver)
    return driver


async def _through_session(session: AsyncSession, sql: str, args: tuple[Any, ...]) -> CursorResult[Any]:
    """`sql` run through the session's connection (an adapter other than SQLAlchemy's asyncpg one)."""
    return await (await session.connection()).exec_driver_sql(sql, args)


async def fetch_rows(session: AsyncSession, sql: str, *args: Any) -> list[Sequence[Any]]:
    """The rows of `sql` ($n parameters), run straight on the session's asyncpg connection inside the
    session's transaction: asyncpg's prepared-statement cache, none of SQLAlchemy's per-call machinery (for
    hot paths). A transaction not yet begun is begun on the driver first (`_driver`); a reader session's
    statement runs on its own, outside any transaction."""
    driver = await _driver(session)
    if driver is None:
        return list((await _through_session(session, sql, args)).all())
    return [tuple(row) for row in await driver.fetch(sql, *args)]


async def fetch_records(session: AsyncSession, sql: str, *args: Any) -> list[Mapping[str, Any]]:
    """`fetch_rows`, each row a mapping of column name to value."""
    driver = await _driver(session)
    if driver is None:
        return [dict(row) for row in (await _through_session(session, sql, args)).mappings()]
    records: list[Mapping[str, Any]] = await driver.fetch(sql, *args)
    return records


async def execute(session: AsyncSession, sql: str, *args: Any) -> None:
    """Run `sql` for its effect, as `fetch_rows` runs it."""
    driver = await _driver(session)
    if driver is None:
        await _through_session(session, sql, args)
    else:
        await driver.execute(sql, *args)


async def fetch_row(session: AsyncSession, sql: str, *args: Any) -> Sequence[Any] | None:
    """The first row of `sql` or None, as `fetch_rows` runs it."""
    rows = await fetch_rows(session, sql, *args)
    return rows[0] if rows else None


async def fetch_one(session: AsyncSession, sql: str, *args: Any) -> Sequence[Any]:
    """The row of `sql` that always returns one (an aggregate, a summary of its CTEs), as `fetch_rows` runs
    it: none is a bug."""
    row = await fetch_row(session, sql, *args)
    assert row is not None
    return row


class OutboxKicker:
    """Wakes a producer's outbox relay after commits that wrote to the outbox. When this process leads the
    relay, its wake event is set directly; otherwise one NOTIFY, sent in its own short transaction a few
    milliseconds later, stands for every commit before it. (A NOTIFY inside each transaction would make
    Postgres serialise every commit on its notification queue lock: measured 2,273 → 497 commits/s.)
    A lost wake-up costs latency only: the relay also polls."""

    def __init__(self) -> None:
        self._local: dict[tuple[str, str], asyncio.Event] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}

    def register(self, database: str, producer: str, wake: asyncio.Event) -> None:
        """The relay of `producer` on `database` runs in this process and leads: wake it directly."""
        self._local[(database, producer)] = wake

    def unregister(self, database: str, producer: str, wake: asyncio.Event) -> None:
        if self._local.get((database, producer)) is wake:
            del self._local[(database, producer)]

    def kick(self, database: str, producer: str, sessions: SessionFactory) -> None:
        key = (database, producer)
        wake = self._local.get(key)
        if wake is not None:
            wake.set()
            return
        if key not in self._pending:
            self._pending[key] = asyncio.create_task(self._notify(key, sessions))

    async def _notify(self, key: tuple[str, str], sessions: SessionFactory) -> None:
        producer = key[1]
        try:
            await asyncio.sleep(KICK_COALESCE_SECONDS)
        finally:
            # from here on a commit needs a NOTIFY of its own: this one may already be on its way
            self._pending.pop(key, None)
        try:
            async with sessions() as session:
                # one statement on its own, outside a transaction (no BEGIN and COMMIT round trips)
                raw = await (await session.connection()).get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.execute("SELECT pg_notify($1, '')", outbox_channel(producer))
        except Exception as error:  # the relay's poll finds the rows
            log.warning("could not wake the outbox relay of %s: %s", producer, error)


kicker = OutboxKicker()


class UnitOfWork:
    """Open with `async with`; stage messages with `publish`; nothing is kept unless `commit` is called."""

    #: Why `commit` may not be called now (set by a consumer while a batch's handlers run: the batch's
    #: inbox claims are taken first, and a commit by a handler would keep the claims of records not yet
    #: handled); a commit then raises, the batch is rolled back and its records are handled one at a time.
    commit_held: str | None = None

    def __init__(self, sessions: SessionFactory, producer: str) -> None:
        self._sessions = sessions
        self.producer = producer
        self._staged: list[tuple[Message, Envelope, dict[str, str]]] = []
        #: how many of the staged messages a statement of the transaction wrote itself (`take_outbox`)
        self._taken = 0
        self._raw_added = False
        self._session: AsyncSession | None = None
        self._lease = _Lease()
        #: opened with `alone`: no transaction until `begin`
        self._alone = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    def alone(self) -> Self:
        """Open with `async with uow.alone()` for work that reads, then writes everything in one statement
        (its messages in it too: `take_outbox`): no transaction is begun, each statement runs and commits on
        its own, so neither a BEGIN nor a COMMIT round trip is spent (two of a placement's five). `begin`
        begins the transaction after all, for work that turns out to need it (a lock, a second write). A
        commit with messages left to write refuses them: written apart, they would not be atomic with the
        write that made them. Not for anything whose reads must be locked or agree with each other."""
        self._alone = True
        return self

    async def begin(self) -> None:
        """Begin the transaction of a unit of work opened `alone`: the statements from here on (none before)
        commit together. Nothing for one already in its transaction."""
        self._lease.begins = True
        if self._lease.driver is not None:
            await self._lease.begin(self.session)

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self._lease = self._session.info[_LEASE] = _Lease(begins=not self._alone)
        self._alone = False
        self._forget_staged()
        self.commit_held = None
        self.bind(self._session)
        return self

    def bind(self, session: AsyncSession) -> None:
        """Attach repositories to the session; services override this."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        self._forget_staged()
        try:
            # a session whose transaction ended (committed) holds no connection and nothing to undo:
            # closing it would be one more trip through SQLAlchemy's greenlet for nothing; otherwise
            # close() rolls the transaction back and gives its connection back to the pool
            if session.in_transaction():
                await session.close()
        finally:
            try:
                await self._lease.end(commit=False, session=session)
            finally:
                self._session = None

    def publish(self, message: Message) -> Envelope:
        """Stage a message for the outbox; the current trace context rides along as Kafka headers."""
        envelope = Envelope.wrap(message, self.producer)
        headers: dict[str, str] = {}
        propagate.inject(headers)
        self._staged.append((message, envelope, headers))
        return envelope

    def _forget_staged(self) -> None:
        """Nothing staged, taken or added raw: a transaction begins, ends or is undone."""
        self._staged, self._taken = [], 0
        self._raw_added = False

    def take_outbox(self) -> list[list[Any]] | None:
        """The messages staged so far and not yet taken, as the six arrays of `outbox_insert`, for a statement
        of this transaction that writes them itself (a write and its outbox rows in one round trip); the
        commit writes only what is staged after. None when there are none."""
        staged, self._taken = self._staged[self._taken :], len(self._staged)
        if not staged:
            return None
        return [
            [envelope.event_id for _, envelope, _ in staged],
            [message.topic for message, _, _ in staged],
            [message.key for message, _, _ in staged],
            [envelope.type for _, envelope, _ in staged],
            [envelope.to_bytes() for _, envelope, _ in staged],
            [json.dumps(headers) for _, _, headers in staged],
        ]

    async def claim_inbox(self, consumer: str, envelope: Envelope) -> bool:
        """Record that `consumer` handles this message; False when it already has (a duplicate)."""
        return (
            await fetch_row(self.session, INBOX_CLAIM, consumer, envelope.event_id, envelope.type) is not None
        )

    async def claim_inboxes(self, consumer: str, envelopes: Sequence[Envelope]) -> set[UUID]:
        """`claim_inbox` for several messages in one statement: the event ids claimed now (the others the
        consumer has already handled)."""
        kinds = {envelope.event_id: envelope.type for envelope in envelopes}
        rows = await fetch_rows(self.session, INBOX_CLAIM_MANY, consumer, list(kinds), list(kinds.values()))
        return {row[0] for row in rows}

    async def commit(self) -> None:
        if self.commit_held is not None:
            raise RuntimeError(f"commit refused: {self.commit_held}")
        rest = self.take_outbox()
        if rest is not None:
            if not self._lease.begins and not self.session.in_transaction():
                raise RuntimeError(
                    "a unit of work opened alone writes its messages in its one write (take_outbox)"
                )
            await execute(self.session, OUTBOX_ADD, *rest)
        wrote_outbox = bool(self._staged) or self._raw_added
        database = await self._database() if wrote_outbox else ""
        if self.session.in_transaction():  # the ORM took part: its commit flushes, then commits
            await self.session.commit()
        await self._lease.end(commit=True, session=self.session)
        metrics.committed(message for message, _, _ in self._staged)
        self._forget_staged()
        if wrote_outbox:
            kicker.kick(database, self.producer, self._sessions)

    async def _database(self) -> str:
        """The name of the database the sessions write to (whose relay a commit wakes): from the factory's
        engine, with no call into the session (asking the session's connection for it cost 0.03 ms of CPU a
        commit, 2-3 % of a consumer's one-record transaction)."""
        bind = self._sessions.kw.get("bind")
        url = getattr(bind, "url", None)
        if url is None:
            url = (await self.session.connection()).engine.url
        return str(url.database)

    async def add_raw(
        self, topic: str, key: str, event_id: object, type_: str, value: bytes, headers: dict[str, str]
    ) -> None:
        """Stage an already-serialized message (dead letters keep the original bytes)."""
        await self.session.execute(
            insert(outbox).values(
                event_id=event_id, topic=topic, key=key, type=type_, value=value, headers=headers
            )
        )
        self._raw_added = True

    async def rollback(self) -> None:
        self._forget_staged()
        try:
            await self.session.rollback()
        finally:
            await self._lease.end(commit=False, session=self.session)
