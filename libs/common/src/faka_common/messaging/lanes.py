"""One Kafka consumer per service process, its topics handled side by side.

Each topic is a lane: at most one batch of it in flight (records of several of its partitions, each
partition's in order), and the lanes run side by side, so a slow or failing topic holds up only itself
while the consumer goes on fetching and handling the others. The retry topic's partitions are lanes of
their own, one record at a time, since a parked record waits out its delay there. A partition whose
records pile up behind its lane is paused at `limit` records and resumed once its lane has taken them,
so what a slow lane has not reached stays on Kafka, not in memory.

Offsets are committed for exactly the partitions and records handled, once the handler has returned: not
after every batch, but at most every `commit_interval` (1 s) for all the batches handled meanwhile, in one
request. A commit after every batch cost each consumer a round trip to the group coordinator, which the lane
waited out before its next batch, and Kafka an offsets write, for every batch (at a few records a batch,
most of a sale's Kafka requests); every 0.1 s it was still one commit a record at a few records a second
(records no handler wants among them). A crash loses at most the interval's commits: those records come
again, and the inbox makes them duplicates. Lag is measured from the consumer's position, not its commits.
A batch whose handler raises (the dead letter or the parked copy could not be written) goes back in front
of its partitions' records and is tried again after `failure_pause`, its lane waiting meanwhile.
On a rebalance and on stop the lanes finish what is in flight (a record still waiting out its delay gives
up the wait), commit what they handled, and drop what they had not started: it comes again from the
committed offsets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from faka_common.messaging.consumer import IN_PROCESS, Delivery, dependency_down

log = logging.getLogger(__name__)

Handle = Callable[[Sequence[Delivery]], Awaitable[object]]

#: How long handled records wait at most for their offsets to be committed (with every other batch's since).
#: Records no handler wants, at 10 a second to four consumers: 0.1 s against 1 s, alternated twice, the
#: four consumers' and Kafka's CPU per record 26.6 -> 24.4 and 27.4 -> 21.2 ms (Kafka's 10.1 -> 9.2 and
#: 10.2 -> 8.4).
COMMIT_INTERVAL = 1.0


class Consumer(Protocol):
    """What the lanes use of an `EventConsumer`."""

    name: str
    batch_size: int
    concurrency: int
    #: seconds a batch of a topic (as the services name it, without the namespace) waits to fill up
    linger: Mapping[str, float]

    async def consume_batch(self, records: Sequence[Delivery]) -> list[str]: ...

    async def consume_concurrently(self, records: Sequence[Delivery]) -> list[str]: ...

    async def consume_parked(self, record: Delivery) -> str: ...

    def parked_wait(self, record: Delivery) -> float: ...


class Positions(Protocol):
    """What the lanes use of an `AIOKafkaConsumer`."""

    def pause(self, *partitions: TopicPartition) -> None: ...

    def resume(self, *partitions: TopicPartition) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


@dataclass(eq=False)
class _Lane:
    name: str
    parked: bool
    linger: float = 0.0
    pending: dict[TopicPartition, deque[Delivery]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class Lanes:
    """Feeds the records one Kafka consumer fetched to an `EventConsumer`, a lane per topic."""

    def __init__(
        self,
        consumer: Consumer,
        retry_topic: str,
        namespace: str = "",
        limit: int | None = None,
        failure_pause: float = 1.0,
        commit_interval: float = COMMIT_INTERVAL,
    ) -> None:
        """`retry_topic` as Kafka names it (with the namespace); `limit`: records of one partition kept
        waiting before it is paused (by default twice a batch, at least 100); `commit_interval`: how long
        handled offsets wait at most to be committed together (0: each batch's at once)."""
        self._consumer = consumer
        self._in_process = IN_PROCESS.labels(consumer.name)
        self._handle: Handle = (
            consumer.consume_concurrently if consumer.concurrency > 1 else consumer.consume_batch
        )
        self._retry_topic = retry_topic
        self._namespace = namespace
        self.limit = limit or max(2 * consumer.batch_size, 100)
        self._failure_pause = failure_pause
        self._commit_interval = commit_interval
        #: the next offset of each partition handled and not yet committed
        self._handled: dict[TopicPartition, int] = {}
        self._committer: asyncio.Task[None] | None = None
        self._lanes: dict[str | TopicPartition, _Lane] = {}
        self._paused: set[TopicPartition] = set()
        self._kafka: Positions | None = None
        self._leaving = asyncio.Event()
        self._closed = False

    def feed(self, kafka: Positions, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """Queue fetched records on their lanes and start the lanes that are idle. Records fed while the
        lanes are leaving are dropped: they were not committed, so they come again."""
        if self._closed or self._leaving.is_set():
            return
        self._kafka = kafka
        touched: dict[str | TopicPartition, _Lane] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            lane = self._lane(tp)
            lane.pending.setdefault(tp, deque()).append(delivery(record, self._namespace))
            touched[lane.name if not lane.parked else tp] = lane
        for lane in touched.values():
            full = [tp for tp, queue in lane.pending.items() if len(queue) >= self.limit]
            for tp in full:
                if tp not in self._paused:
                    kafka.pause(tp)
                    self._paused.add(tp)
            self._start(lane)

    @property
    def consumer(self) -> Consumer:
        """What the lanes feed."""
        return self._consumer

    @property
    def in_flight(self) -> int:
        return sum(1 for lane in self._lanes.values() if lane.task is not None)

    async def leave(self) -> None:
        """Finish the batches in flight and drop the rest (partitions revoked, or the consumer stopping)."""
        self._leaving.set()
        try:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._committer is not None:
                await asyncio.gather(self._committer, return_exceptions=True)
            await self._flush()  # before the partitions go: their next owner starts where these ended
        finally:
            self._lanes.clear()
            self._paused.clear()
            self._leaving.clear()

    async def close(self) -> None:
        """Leave for good: records fed after this are dropped."""
        self._closed = True
        await self.leave()

    def _lane(self, tp: TopicPartition) -> _Lane:
        parked = tp.topic == self._retry_topic
        key: str | TopicPartition = tp if parked else tp.topic
        lane = self._lanes.get(key)
        if lane is None:
            name = f"{self._consumer.name}@{tp.topic}" + (f"[{tp.partition}]" if parked else "")
            linger = 0.0 if parked else self._consumer.linger.get(tp.topic.removeprefix(self._namespace), 0.0)
            lane = self._lanes[key] = _Lane(name, parked, linger)
        return lane

    def _start(self, lane: _Lane) -> None:
        if lane.task is None and lane.pending and not self._leaving.is_set():
            lane.task = asyncio.create_task(self._run(lane), name=lane.name)

    async def _run(self, lane: _Lane) -> None:
        try:
            if lane.parked:
                await self._run_parked(lane)
            else:
                await self._run_batch(lane)
        finally:
            lane.task = None
            self._resume_drained(lane)
            self._start(lane)

    async def _run_batch(self, lane: _Lane) -> None:
        if lane.linger > 0 and sum(map(len, lane.pending.values())) < self._consumer.batch_size:
            await self._wait(lane.linger)  # records fed meanwhile join the batch; leaving cuts it short
        taken = _take(lane, self._consumer.batch_size)
        records = [record for _, part in taken for record in part]
        self._in_process.inc(len(records))
        try:
            await self._handle(records)
        except Exception as error:
            self._log_failure(lane, f"a batch of {len(records)}", error)
            await self._wait(self._failure_pause)
            _put_back(lane, taken)
            return
        finally:
            self._in_process.dec(len(records))
        await self._commit({tp: part[-1].offset + 1 for tp, part in taken})

    async def _run_parked(self, lane: _Lane) -> None:
        [(tp, part)] = _take(lane, self.limit)
        handled: Delivery | None = None
        rest: list[Delivery] = []
        for index, record in enumerate(part):
            if not await self._wait(self._consumer.parked_wait(record)):
                rest = part[index:]  # leaving: its wait is given up, not its record
                break
            try:
                await self._consumer.consume_parked(record)
            except Exception as error:
                self._log_failure(lane, "a parked record", error)
                await self._wait(self._failure_pause)
                rest = part[index:]
                break
            handled = record
        if rest:
            _put_back(lane, [(tp, rest)])
        if handled is not None:
            await self._commit({tp: handled.offset + 1})

    def _log_failure(self, lane: _Lane, what: str, error: Exception) -> None:
        """A server being down is said in one line (it is expected, and says nothing about the records);
        anything else with its traceback."""
        if dependency_down(error):
            log.warning(
                "%s: %s waits for a server that is down (%s: %s); it comes again in %.1f s",
                lane.name,
                what,
                type(error).__name__,
                str(error)[:200],
                self._failure_pause,
            )
        else:
            log.exception("%s: %s failed; it comes again in %.1f s", lane.name, what, self._failure_pause)

    async def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the lanes started leaving meanwhile."""
        if seconds <= 0:
            return not self._leaving.is_set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._leaving.wait()
            return False
        return True

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Mark `offsets` handled: committed with the others within `commit_interval`."""
        for tp, offset in offsets.items():
            if offset > self._handled.get(tp, -1):
                self._handled[tp] = offset
        if self._commit_interval <= 0:
            await self._flush()
        elif self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_soon(), name=f"{self._consumer.name}.commit")

    async def _commit_soon(self) -> None:
        """Commit what is handled every `commit_interval` while there is any (at once when leaving)."""
        while self._handled:
            await self._wait(self._commit_interval)
            await self._flush()

    async def _flush(self) -> None:
        if not self._handled or self._kafka is None:
            return
        offsets, self._handled = self._handled, {}
        try:
            await self._kafka.commit(offsets)
        except KafkaError as error:
            # handled, not committed: they come again, and the inbox makes them duplicates
            log.warning("%s could not commit %s: %s", self._consumer.name, offsets, error)

    def _resume_drained(self, lane: _Lane) -> None:
        if self._kafka is None:
            return
        drained = [
            tp
            for tp in self._paused
            if self._lanes.get(tp if lane.parked else tp.topic) is lane
            and len(lane.pending.get(tp, ())) < self.limit
        ]
        assigned = self._kafka.assignment()
        for tp in drained:
            self._paused.discard(tp)
            if tp in assigned:
                self._kafka.resume(tp)


def _take(lane: _Lane, most: int) -> list[tuple[TopicPartition, list[Delivery]]]:
    """Up to `most` waiting records of a lane, partition by partition, each partition's in order; a
    partition served goes to the back of the line, so the next batch starts with the others."""
    taken: list[tuple[TopicPartition, list[Delivery]]] = []
    count = 0
    for tp in list(lane.pending):
        if count >= most:
            break
        queue = lane.pending.pop(tp)
        part = [queue.popleft() for _ in range(min(len(queue), most - count))]
        taken.append((tp, part))
        count += len(part)
        if queue:
            lane.pending[tp] = queue
    return taken


def _put_back(lane: _Lane, taken: list[tuple[TopicPartition, list[Delivery]]]) -> None:
    for tp, part in taken:
        queue = lane.pending.pop(tp, deque())
        queue.extendleft(reversed(part))
        lane.pending[tp] = queue


def delivery(record: ConsumerRecord[bytes, bytes], namespace: str) -> Delivery:
    """The record under its topic's name without the namespace (the name the relay prefixes again, so a
    dead letter or a parked copy goes to `<namespace><topic>.dlq`, not `<namespace><namespace>...`)."""
    return Delivery(
        record.topic.removeprefix(namespace),
        record.partition,
        record.offset,
        record.key,
        record.value or b"",
        {name: value for name, value in record.headers},
    )
