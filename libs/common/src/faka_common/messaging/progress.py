"""Consumer lag per group and topic, whether a consumer has stopped making progress, and the records
waiting on the dead-letter topics of what it consumes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge

from faka_common.contracts.topics import dead_letter, partitions

LAG = Gauge(
    "faka_consumer_lag",
    "Records on the broker that the consumer group has not handled yet (summed over its partitions)",
    ["consumer", "topic"],
)
STALLED = Gauge(
    "faka_consumer_stalled",
    "1 while a consumer has records waiting and has not moved for longer than the stall limit",
    ["consumer", "topic"],
)

DEAD_LETTER_RECORDS = Gauge(
    "faka_dead_letter_records",
    "Records on a dead-letter topic (end minus start offsets over its partitions): each waits for a person "
    "to read, fix and replay it (`make dlq`). Every service consuming the topic reports it: take the max",
    ["topic"],
)
#: Dead-letter depth changes only when a consumer gives up on a record or one expires: no need to ask the
#: broker at every lag sample.
DEAD_LETTER_SAMPLE_SECONDS = 30.0


class ConsumerStalled(Exception):
    """A consumer has records waiting and has not moved for too long."""


@dataclass
class _Seen:
    position: int
    behind: int
    since: float


class ConsumerProgress:
    """Samples every subscriber's position against the broker's high watermark. A partition with records
    waiting whose position has not moved for `stall_after` seconds makes `check` (a readiness check)
    fail, so a livelocked or starved consumer shows instead of answering "ok"."""

    def __init__(
        self,
        consumers: Callable[[], Iterable[tuple[str, AIOKafkaConsumer | None]]],
        stall_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`consumers()` gives (group, consumer) pairs; a consumer not started yet is None."""
        self._consumers = consumers
        self._stall_after = stall_after
        self._clock = clock
        self._seen: dict[tuple[str, TopicPartition], _Seen] = {}
        self.stalled: list[str] = []
        self._dead_letters_sampled: float | None = None

    async def sample(self) -> dict[tuple[str, str], int]:
        """Lag per (group, topic); updates the gauges and the stall verdict."""
        now = self._clock()
        lag: dict[tuple[str, str], int] = {}
        stalled: set[tuple[str, str]] = set()
        for group, consumer in self._consumers():
            if consumer is None:
                continue
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                position = await consumer.position(tp)
                behind = max(0, highwater - position)
                lag[group, tp.topic] = lag.get((group, tp.topic), 0) + behind
                seen = self._seen.get((group, tp))
                # the clock starts at the first sample that finds records waiting at this position
                if seen is None or seen.position != position or seen.behind == 0 or behind == 0:
                    self._seen[group, tp] = _Seen(position, behind, now)
                elif now - seen.since > self._stall_after:
                    stalled.add((group, tp.topic))
        for (group, topic), behind in lag.items():
            LAG.labels(group, topic).set(behind)
            STALLED.labels(group, topic).set(1 if (group, topic) in stalled else 0)
        self.stalled = sorted(f"{group}@{topic}" for group, topic in stalled)
        last = self._dead_letters_sampled
        due = last is None or now - last >= DEAD_LETTER_SAMPLE_SECONDS
        if due and await self.sample_dead_letters():  # none before the consumers start: ask again next time
            self._dead_letters_sampled = now
        return lag

    async def sample_dead_letters(self) -> dict[str, int]:
        """Records on the dead-letter topic of every topic a consumer subscribes to (a retry topic's
        records go to their first topic's), as the broker counts them; updates the gauge."""
        depth: dict[str, int] = {}
        for _, consumer in self._consumers():
            if consumer is None:
                continue
            for topic in sorted(consumer.subscription()):
                if topic.endswith(".retry") or dead_letter(topic) in depth:
                    continue
                dlq = dead_letter(topic)
                parts = [TopicPartition(dlq, p) for p in range(partitions(dlq))]
                starts = await consumer.beginning_offsets(parts)
                ends = await consumer.end_offsets(parts)
                depth[dlq] = sum(ends[tp] - starts[tp] for tp in parts)
        for topic, records in depth.items():
            DEAD_LETTER_RECORDS.labels(topic).set(records)
        return depth

    async def check(self) -> None:
        if self.stalled:
            raise ConsumerStalled(f"no progress for {self._stall_after:.0f} s: {', '.join(self.stalled)}")


def broker_consumers(broker: Any) -> Callable[[], Iterable[tuple[str, AIOKafkaConsumer | None]]]:
    """The (group, consumer) pairs of a FastStream Kafka broker's subscribers."""

    def pairs() -> Iterable[tuple[str, AIOKafkaConsumer | None]]:
        for subscriber in broker.subscribers:
            yield str(getattr(subscriber, "group_id", "") or ""), getattr(subscriber, "consumer", None)

    return pairs
