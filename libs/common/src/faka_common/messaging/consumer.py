"""Idempotent consumers: inbox dedupe in the handler's transaction, bounded retries, then a dead letter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError
from uuid6 import uuid7

from faka_common import telemetry
from faka_common.contracts.envelope import ContractError, Envelope, Message
from faka_common.contracts.topics import dead_letter, retry
from faka_common.db.uow import UnitOfWork
from faka_common.errors import RetryLater, Unavailable
from faka_common.outages import dependency_down

__all__ = ["Delivery", "EventConsumer", "RetryLater", "RetryPolicy", "current_envelope", "dependency_down"]

log = logging.getLogger(__name__)

HANDLED = Counter(
    "faka_consumer_messages_total", "Messages seen by consumers", ["consumer", "type", "outcome"]
)
HANDLER_SECONDS = Histogram(
    "faka_consumer_handler_seconds",
    "Time to handle a record in its transaction (a record handled in a batch waits for the whole batch)",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    "faka_consumer_retries_total",
    "Failed attempts a consumer tries again in place, after a backoff",
    ["consumer"],
)
IN_PROCESS = Gauge(
    "faka_consumer_records_in_process",
    "Records of the batches a consumer is handling right now",
    ["consumer"],
)
DEAD_LETTERS = Counter(
    "faka_dead_letters_written_total",
    "Records a consumer wrote to a dead-letter topic (committed)",
    ["consumer"],
)

U = TypeVar("U", bound=UnitOfWork)
Handler = Callable[[Any, U], Awaitable[None]]
BatchHandler = Callable[[list[Any], U], Awaitable[None]]
GiveUpHook = Callable[[Any, Exception, U], Awaitable[None]]

current_envelope: ContextVar[Envelope] = ContextVar("current_envelope")
"""The envelope of the message being handled (event id, occurred_at, producer), for handlers that need it."""


@dataclass(frozen=True)
class Delivery:
    """One Kafka record as the consumer received it (for a parked record: where it first came from); its
    topic is named without the installation's namespace."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.decode(errors="replace") if value is not None else None


@dataclass(frozen=True)
class RetryPolicy:
    """In-place retries for failures, then a dead letter; delays on the retry topic for `RetryLater`, and
    for `Unavailable` (a service or server the handler needs is down) once the in-place retries are spent."""

    attempts: int = 3
    first_backoff: float = 0.1
    multiplier: float = 4.0
    first_delay: float = 0.5
    max_delay: float = 30.0
    give_up_after: float = 24 * 3600.0

    def backoff(self, attempt: int) -> float:
        return float(self.first_backoff * self.multiplier ** (attempt - 1))

    def delay(self, attempt: int) -> float:
        """How long a message parked for the `attempt`-th time waits before it is handled again."""
        return float(min(self.first_delay * 2 ** (attempt - 1), self.max_delay))


@dataclass(frozen=True)
class _Ready:
    """A record of a batch that parsed, opened and has a handler: it can join a shared transaction."""

    index: int
    record: Delivery
    envelope: Envelope
    message: Message
    handler: Handler[Any]


def _waits_in_place(error: BaseException) -> bool:
    """A server the consumer itself needs (Postgres, Redis, Kafka) is down: the batch waits where it is and
    comes again, since nothing (not even a parked copy) can be written meanwhile. A service it calls that is
    down answers `Unavailable`, which is parked on the retry topic instead, so the partition goes on."""
    return dependency_down(error) and not isinstance(error, Unavailable)


class EventConsumer(Generic[U]):
    """Dispatches each record to the handler of its message type, exactly once per (consumer, event_id)."""

    def __init__(
        self,
        name: str,
        uow_factory: Callable[[], U],
        handlers: Mapping[type[Message], Handler[U]],
        retry: RetryPolicy | None = None,
        on_give_up: GiveUpHook[U] | None = None,
        batch_size: int = 1,
        batch_handlers: Mapping[type[Message], BatchHandler[U]] | None = None,
        concurrency: int = 1,
        before_run: BatchHandler[U] | None = None,
        wants: Mapping[type[Message], Callable[[Any], bool]] | None = None,
        gather: float = 0.0,
        together: Collection[type[Message]] = (),
        linger: Mapping[str, float] | None = None,
    ) -> None:
        """`on_give_up(message, error, uow)` runs in the dead letter's transaction after the last failed
        attempt, so a service can record the failure together with the dead letter. `batch_size` > 1 asks
        `subscribe` for batches of up to that many records, handled by `consume_batch`: only for handlers
        whose whole effect is in the unit of work (a run that fails is redone one record at a time, so an
        external call made by a handler could happen twice). `batch_handlers` optionally take consecutive
        messages of one type in a run at once; each must have the same effect as its single handler
        applied to the messages in order (the single handler still serves records handled alone).
        `concurrency` > 1 is for handlers with effects outside the database (an email, say): a batch is
        handled by `consume_concurrently`, each record in a transaction of its own, the records of one key
        in order, up to `concurrency` keys at once. `before_run(messages, uow)` runs first in a run's shared
        transaction: e.g. it locks every row the run's handlers will lock, in one order, so that two runs
        sharing rows (two topics' batches side by side) wait for each other instead of deadlocking.
        `wants[type](message)` False says its handler would do nothing with the message: it is counted
        ignored once parsed, before any transaction (no inbox row, nothing to redo). `gather` > 0: the
        broker may hold a fetch that long to gather records (see `subscribe`), for a consumer off the
        buyer's path, whose records can wait that long. `together` (with `concurrency` > 1): types whose
        handlers' effects are all in the unit of work, or idempotent (a message stored by one statement
        of its own, say); the records of a batch that are of these types and come before any other record
        of their key (records of a type without a handler aside) are handled first, as `consume_batch`
        handles a batch (one transaction, a type's records reaching its batch handler together), and the
        rest as before. `linger[topic]` > 0: a batch of that topic waits that long after its lane could
        start it, unless it is full, so that more of the topic's records share its transaction; for a
        topic whose records nobody waits on, beside topics that must not wait (what `gather` does for a
        whole consumer)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if gather < 0:
            raise ValueError(f"gather must not be negative, not {gather}")
        if any(seconds < 0 for seconds in (linger or {}).values()):
            raise ValueError(f"a linger must not be negative: {linger}")
        self.name = name
        self.gather = gather
        self.linger: Mapping[str, float] = dict(linger or {})
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._uow_factory = uow_factory
        self._handlers = {cls.type_name: handler for cls, handler in handlers.items()}
        self._batch_handlers = {cls.type_name: handler for cls, handler in (batch_handlers or {}).items()}
        self._retry = retry or RetryPolicy()
        self._on_give_up = on_give_up
        self._before_run = before_run
        self._wants = {cls.type_name: wanted for cls, wanted in (wants or {}).items()}
        self._together = frozenset(cls.type_name for cls in together)

    @property
    def handled_types(self) -> list[str]:
        return sorted(self._handlers)

    @property
    def retry_topic(self) -> str:
        return retry(self.name)

    def _ignores(self, record: Delivery) -> bool:
        """A record whose `type` header names a message without a handler is skipped unparsed."""
        type_ = record.header("type")
        if type_ is None or type_ in self._handlers:
            return False
        HANDLED.labels(self.name, type_, "ignored").inc()
        return True

    def _unwanted(self, envelope: Envelope, message: Message) -> bool:
        """A message its handler would do nothing with (`wants`) is skipped before any transaction."""
        wanted = self._wants.get(envelope.type)
        if wanted is None or wanted(message):
            return False
        HANDLED.labels(self.name, envelope.type, "ignored").inc()
        return True

    async def consume(self, record: Delivery) -> str:
        """Handle one record and say how: handled, duplicate, ignored, deferred (parked on the retry
        topic) or dead_lettered. Raises when a server the handler needs is down (`dependency_down`: no
        attempt is counted, nothing is dead-lettered) or when even the dead letter or the parked copy
        cannot be written, so the record is redelivered instead of lost."""
        with producer_trace(record):
            return await self._consume(record)

    async def _consume(self, record: Delivery) -> str:
        if self._ignores(record):
            return "ignored"
        try:
            envelope = Envelope.from_bytes(record.value)
        except ValidationError as error:
            return await self._dead_letter(record, None, f"unparseable envelope: {_first_error(error)}")
        handler = self._handlers.get(envelope.type)
        if handler is None:
            HANDLED.labels(self.name, envelope.type, "ignored").inc()
            return "ignored"
        try:
            message = envelope.open()
        except (ContractError, ValidationError) as error:
            return await self._dead_letter(
                record, envelope, f"invalid {envelope.type}: {_first_error(error)}"
            )
        if self._unwanted(envelope, message):
            return "ignored"
        return await self._handle_with_retries(record, envelope, message, handler)

    async def _handle_with_retries(
        self, record: Delivery, envelope: Envelope, message: Message, handler: Handler[U]
    ) -> str:
        """A parsed record's handler in a transaction of its own, with `consume`'s retries, parking and
        dead letter."""
        for attempt in range(1, self._retry.attempts + 1):
            try:
                started = time.monotonic()
                outcome = await self._handle_once(envelope, message, handler)
                HANDLER_SECONDS.labels(self.name).observe(time.monotonic() - started)
                HANDLED.labels(self.name, envelope.type, outcome).inc()
                return outcome
            except RetryLater as error:
                return await self._defer(record, envelope, message, error)
            except Exception as error:
                if _waits_in_place(error):
                    raise  # not the record's fault: it waits, uncounted, and comes again (the lanes)
                if attempt == self._retry.attempts and isinstance(error, Unavailable):
                    # a service or server it needs is down: that passes, so wait on the retry topic
                    return await self._defer(record, envelope, message, error)
                if attempt == self._retry.attempts:
                    log.exception(
                        "%s failed on %s %s; dead-lettering", self.name, envelope.type, envelope.event_id
                    )
                    return await self._dead_letter(
                        record, envelope, f"{type(error).__name__}: {error}", (message, error)
                    )
                log.warning("%s failed on %s (attempt %d): %s", self.name, envelope.type, attempt, error)
                RETRIES.labels(self.name).inc()
                await asyncio.sleep(self._retry.backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or dead-letters")

    async def consume_batch(self, records: Sequence[Delivery]) -> list[str]:
        """Handle `records` in order and say how each went, as `consume` would. Consecutive records that
        parse, open and have a handler share one transaction (inbox claim + handler each, one commit).
        A record that does not parse or open is dead-lettered by `consume` at its place in the order,
        after the run before it; one without a handler is counted ignored where it stands (it touches
        nothing). If any handler of a run raises, the run's transaction is rolled back and its records
        go one at a time through `consume` (retries, dead letter), so a poison message stays alone."""
        outcomes: list[str] = [""] * len(records)
        run: list[_Ready] = []
        for index, record in enumerate(records):
            if self._ignores(record):
                outcomes[index] = "ignored"
                continue
            try:
                envelope = Envelope.from_bytes(record.value)
            except ValidationError:
                await self._run(run, outcomes)
                outcomes[index] = await self.consume(record)
                continue
            handler = self._handlers.get(envelope.type)
            if handler is None:
                HANDLED.labels(self.name, envelope.type, "ignored").inc()
                outcomes[index] = "ignored"
                continue
            try:
                message = envelope.open()
            except (ContractError, ValidationError):
                await self._run(run, outcomes)
                outcomes[index] = await self.consume(record)
                continue
            if self._unwanted(envelope, message):
                outcomes[index] = "ignored"
                continue
            run.append(_Ready(index, record, envelope, message, handler))
        await self._run(run, outcomes)
        return outcomes

    async def consume_concurrently(self, records: Sequence[Delivery]) -> list[str]:
        """Handle `records` as `consume` would, one transaction each: the records of one key in their
        order, different keys side by side (at most `concurrency` at once). Each key's first records of a
        `together` type (by their `type` header; records of a type without a handler are skipped and do
        not end them) go before the rest of the batch, in one transaction (`consume_batch`), grouped by
        type so that a batch handler takes each type's at once: every key's first such record, then every
        key's second, each rank by type, which keeps each key's order. Returns when every record is
        handled, so the batch's offsets are committed after all of them."""
        outcomes: list[str] = [""] * len(records)
        first: list[tuple[int, str, int]] = []  # (its rank among its key's leading records, type, index)
        leading: dict[tuple[str, int, bytes | None], int] = {}
        by_key: dict[tuple[str, int, bytes | None], list[int]] = {}
        for index, record in enumerate(records):
            if self._ignores(record):
                outcomes[index] = "ignored"
                continue
            # no key: no order to keep but the partition's
            key = (record.topic, record.partition if record.key is None else -1, record.key)
            type_ = record.header("type")
            if type_ is not None and type_ in self._together and key not in by_key:
                rank = leading[key] = leading.get(key, -1) + 1
                first.append((rank, type_, index))
            else:
                by_key.setdefault(key, []).append(index)
        if first:
            first.sort()
            together = await self.consume_batch([records[index] for _, _, index in first])
            for (_, _, index), outcome in zip(first, together, strict=True):
                outcomes[index] = outcome
        gate = asyncio.Semaphore(self.concurrency)

        async def in_order(indexes: list[int]) -> None:
            async with gate:
                for index in indexes:
                    outcomes[index] = await self.consume(records[index])

        async with asyncio.TaskGroup() as group:  # one that raises cancels the rest: the batch comes again
            for indexes in by_key.values():
                group.create_task(in_order(indexes))
        return outcomes

    async def _run(self, run: list[_Ready], outcomes: list[str]) -> None:
        """Handle a run of ready records in one transaction (empties `run`), else each on its own."""
        ready, run[:] = list(run), []
        if not ready:
            return
        if len(ready) > 1:
            started = time.monotonic()
            try:
                together = await self._handle_run(ready)
            except RetryLater:
                pass  # each record of the run is handled (or parked) alone below
            except Exception as error:
                if _waits_in_place(error):
                    raise
                log.warning(
                    "%s: a batch of %d failed (%s: %s); handling its records one at a time",
                    self.name,
                    len(ready),
                    type(error).__name__,
                    error,
                )
            else:
                took = time.monotonic() - started
                for item, outcome in zip(ready, together, strict=True):
                    HANDLER_SECONDS.labels(self.name).observe(took)
                    HANDLED.labels(self.name, item.envelope.type, outcome).inc()
                    outcomes[item.index] = outcome
                return
        for item in ready:  # parsed and opened already: straight to its own transaction
            with producer_trace(item.record):
                outcomes[item.index] = await self._handle_with_retries(
                    item.record, item.envelope, item.message, item.handler
                )

    async def _handle_run(self, ready: list[_Ready]) -> list[str]:
        """One transaction for the run: the inbox claims of all its records in one statement, then each
        claimed record's handler; nothing of it is kept unless every handler returns. A handler may not
        commit (the claims of the records after it would be kept with it): its commit raises, so the run
        is redone one record at a time, where it may."""
        outcomes: list[str] = []
        async with self._uow_factory() as uow:
            if self._before_run is not None:
                await self._before_run([item.message for item in ready], uow)
            claimed = await uow.claim_inboxes(self.name, [item.envelope for item in ready])
            gathered: list[Message] = []  # consecutive claimed messages of a type with a batch handler
            uow.commit_held = f"{self.name} handles a batch in one transaction"
            try:
                for item in ready:
                    if item.envelope.event_id not in claimed:
                        outcomes.append("duplicate")
                        continue
                    claimed.discard(item.envelope.event_id)  # the same event again later in the run
                    many = self._batch_handlers.get(item.envelope.type)
                    if gathered and (many is None or gathered[0].type_name != item.envelope.type):
                        await self._batch_handlers[gathered[0].type_name](gathered, uow)
                        gathered = []
                    if many is not None:
                        gathered.append(item.message)
                    else:
                        token = current_envelope.set(item.envelope)
                        try:
                            with producer_trace(item.record):
                                await item.handler(item.message, uow)
                        finally:
                            current_envelope.reset(token)
                    outcomes.append("handled")
                if gathered:
                    await self._batch_handlers[gathered[0].type_name](gathered, uow)
            finally:
                uow.commit_held = None
            await uow.commit()
        return outcomes

    async def _handle_once(self, envelope: Envelope, message: Message, handler: Handler[U]) -> str:
        token = current_envelope.set(envelope)
        try:
            return await self._handle_in_transaction(envelope, message, handler)
        finally:
            current_envelope.reset(token)

    async def _handle_in_transaction(self, envelope: Envelope, message: Message, handler: Handler[U]) -> str:
        async with self._uow_factory() as uow:
            if not await uow.claim_inbox(self.name, envelope):
                return "duplicate"
            await handler(message, uow)
            await uow.commit()
            return "handled"

    def parked_wait(self, record: Delivery) -> float:
        """Seconds a record from the retry topic still waits before it is handled (at most `max_delay`)."""
        not_before = float(record.header("retry-not-before") or 0)
        return min(max(0.0, not_before - time.time()), self._retry.max_delay)

    async def consume_parked(self, record: Delivery) -> str:
        """Handle a record from the retry topic once its delay is over, as `consume` would handle it on
        the topic it first came from (its dead letter goes to that topic's DLQ)."""
        wait = self.parked_wait(record)
        if wait > 0:
            await asyncio.sleep(wait)
        origin = Delivery(
            record.header("retry-topic") or record.topic,
            int(record.header("retry-partition") or record.partition),
            int(record.header("retry-offset") or record.offset),
            record.key,
            record.value,
            record.headers,
        )
        return await self.consume(origin)

    async def _defer(
        self, record: Delivery, envelope: Envelope, message: Message, error: RetryLater | Unavailable
    ) -> str:
        """Park the record on the retry topic with its next delay; past `give_up_after`, dead-letter it."""
        now = time.time()
        attempt = int(record.header("retry-attempt") or 0) + 1
        first_at = float(record.header("retry-first-at") or now)
        if now - first_at > self._retry.give_up_after:
            log.error("%s gave up waiting on %s %s", self.name, envelope.type, envelope.event_id)
            return await self._dead_letter(
                record,
                envelope,
                f"still waiting after {attempt - 1} retries over {now - first_at:.0f} s: {error}",
                (message, error),
            )
        delay = self._retry.delay(attempt)
        log.info(
            "%s parks %s %s for %.1f s (retry %d): %s",
            self.name,
            envelope.type,
            envelope.event_id,
            delay,
            attempt,
            error,
        )
        headers = {
            name: value.decode(errors="replace")
            for name, value in record.headers.items()
            if not name.startswith("retry-")
        }
        headers |= {
            "retry-topic": record.topic,
            "retry-partition": str(record.partition),
            "retry-offset": str(record.offset),
            "retry-attempt": str(attempt),
            "retry-first-at": f"{first_at:.3f}",
            "retry-not-before": f"{now + delay:.3f}",
            "retry-reason": str(error)[:1000],
        }
        async with self._uow_factory() as uow:
            await uow.add_raw(
                topic=self.retry_topic,
                key=_key_text(record.key),
                event_id=uuid7(),
                type_=envelope.type,
                value=record.value,
                headers=headers,
            )
            await uow.commit()
        HANDLED.labels(self.name, envelope.type, "deferred").inc()
        return "deferred"

    async def _dead_letter(
        self,
        record: Delivery,
        envelope: Envelope | None,
        reason: str,
        failure: tuple[Message, Exception] | None = None,
    ) -> str:
        headers = {
            "dlq-reason": reason[:1000],
            "dlq-consumer": self.name,
            "dlq-topic": record.topic,
            "dlq-partition": str(record.partition),
            "dlq-offset": str(record.offset),
        }
        async with self._uow_factory() as uow:
            if failure is not None and self._on_give_up is not None:
                await self._on_give_up(failure[0], failure[1], uow)
            await uow.add_raw(
                topic=dead_letter(record.topic),
                key=_key_text(record.key),
                event_id=uuid7(),
                type_=envelope.type if envelope else "unparseable",
                value=record.value,
                headers=headers,
            )
            await uow.commit()
        # said once it is written: a dead letter that could not be written is not one (the record comes again)
        HANDLED.labels(self.name, envelope.type if envelope else "unparseable", "dead_lettered").inc()
        DEAD_LETTERS.labels(self.name).inc()
        log.error(
            "dead letter from %s at %s/%d@%d: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        return "dead_lettered"


_tracer = trace.get_tracer("faka_common.messaging")


@contextmanager
def producer_trace(record: Delivery) -> Iterator[None]:
    """A consumer span for handling the record, the child of the context it was written in (its
    `traceparent` header), current while it is handled: the handler's log lines carry the trace id of the
    request that caused the message, what it publishes carries it on, whichever batch or lane the record
    came in, and a trace shows each hop. (Without an OTLP endpoint nothing is recorded: `carried` only
    carries the ids.)"""
    if not telemetry.recording():
        with telemetry.carried(record.header("traceparent")):
            yield
        return
    carrier = {name: value.decode(errors="replace") for name, value in record.headers.items()}
    with _tracer.start_as_current_span(
        f"{record.topic} process",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "faka.message.type": record.header("type") or "",
        },
        record_exception=False,
        set_status_on_exception=False,
    ):
        yield


def _key_text(key: bytes | None) -> str:
    """A record's key as the outbox's text column can hold it: bytes that are not UTF-8 replaced, and NUL
    (valid UTF-8, refused by Postgres) too, so a dead letter or a parked copy is always written."""
    return (key or b"").decode(errors="replace").replace("\x00", "\ufffd")


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(error)
