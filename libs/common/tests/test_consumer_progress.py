"""Consumer lag and the stall verdict readiness reports, from positions against high watermarks."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from faka_common.messaging.progress import (
    DEAD_LETTER_RECORDS,
    DEAD_LETTER_SAMPLE_SECONDS,
    LAG,
    ConsumerProgress,
    ConsumerStalled,
)


class FakeConsumer:
    """What ConsumerProgress reads of an aiokafka consumer: assignment, high watermark, position."""

    def __init__(
        self,
        highwater: dict[TopicPartition, int],
        position: dict[TopicPartition, int],
        offsets: dict[TopicPartition, tuple[int, int]] | None = None,
    ) -> None:
        self.highwaters = highwater
        self.positions = position
        self.offsets = offsets or {}  # (start, end) of any partition the broker has; (0, 0) otherwise
        self.offset_requests = 0

    def subscription(self) -> set[str]:
        return {tp.topic for tp in self.positions}

    async def beginning_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.offset_requests += 1
        return {tp: self.offsets.get(tp, (0, 0))[0] for tp in parts}

    async def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.offsets.get(tp, (0, 0))[1] for tp in parts}

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A0, A1, B0 = TopicPartition("a.events", 0), TopicPartition("a.events", 1), TopicPartition("b.events", 0)


def watch(consumer: FakeConsumer, clock: Clock) -> ConsumerProgress:
    return ConsumerProgress(lambda: [("grp", consumer)], stall_after=60, clock=clock)  # type: ignore[list-item]


async def test_lag_is_summed_over_a_topics_partitions_and_exported() -> None:
    consumer = FakeConsumer({A0: 10, A1: 7, B0: 3}, {A0: 4, A1: 7, B0: 3})
    lag = await watch(consumer, Clock()).sample()
    assert lag == {("grp", "a.events"): 6, ("grp", "b.events"): 0}
    assert LAG.labels("grp", "a.events")._value.get() == 6


async def test_a_consumer_that_does_not_move_with_records_waiting_fails_readiness() -> None:
    clock = Clock()
    consumer = FakeConsumer({A0: 10, B0: 5}, {A0: 4, B0: 5})
    progress = watch(consumer, clock)
    await progress.sample()
    clock.now += 61
    await progress.sample()
    with pytest.raises(ConsumerStalled, match=r"grp@a\.events"):
        await progress.check()
    consumer.positions[A0] = 5  # it moved: ready again
    clock.now += 1
    await progress.sample()
    await progress.check()


async def test_a_caught_up_or_moving_consumer_is_never_stalled() -> None:
    clock = Clock()
    consumer = FakeConsumer({A0: 10}, {A0: 10})
    progress = watch(consumer, clock)
    for step in range(5):
        clock.now += 100
        consumer.highwaters[A0] += 1 if step % 2 else 0  # new records come, and are taken
        consumer.positions[A0] = consumer.highwaters[A0] - (step % 2)
        await progress.sample()
        await progress.check()


async def test_a_consumer_not_started_or_without_fetched_watermarks_counts_nothing() -> None:
    progress = ConsumerProgress(lambda: [("grp", None)], stall_after=60)
    assert await progress.sample() == {}
    fresh = FakeConsumer({}, {A0: 0})
    assert await watch(fresh, Clock()).sample() == {}


async def test_dead_letter_depth_counts_what_waits_on_each_consumed_topics_dlq_and_exports_it() -> None:
    """Records still on the topic (end minus start: what retention has not dropped), summed over its
    partitions; the retry topic has no dead-letter topic of its own."""
    retry = TopicPartition("grp.retry", 0)
    consumer = FakeConsumer(
        {A0: 1, B0: 1, retry: 0},
        {A0: 1, B0: 1, retry: 0},
        {TopicPartition("a.events.dlq", 0): (2, 5), TopicPartition("a.events.dlq", 2): (0, 1)},
    )
    depth = await watch(consumer, Clock()).sample_dead_letters()
    assert depth == {"a.events.dlq": 4, "b.events.dlq": 0}
    assert DEAD_LETTER_RECORDS.labels("a.events.dlq")._value.get() == 4


async def test_dead_letter_depth_is_asked_of_the_broker_at_most_every_sample_interval() -> None:
    consumer = FakeConsumer({A0: 1}, {A0: 1})
    clock = Clock()
    progress = watch(consumer, clock)
    await progress.sample()
    clock.now += 5
    await progress.sample()
    assert consumer.offset_requests == 1
    clock.now += DEAD_LETTER_SAMPLE_SECONDS
    await progress.sample()
    assert consumer.offset_requests == 2
