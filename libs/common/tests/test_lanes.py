"""One Kafka consumer per service: its topics handled side by side in lanes, with hand-written fakes of the
consumer and of Kafka's positions (no I/O). A slow, failing or waiting lane never holds up another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka import ConsumerRecord, TopicPartition
from faka_common.messaging.consumer import IN_PROCESS, Delivery
from faka_common.messaging.lanes import Lanes

RETRY = "svc.retry"


class FakeKafka:
    """The positions the lanes pause, resume and commit."""

    def __init__(self) -> None:
        self.paused: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.assigned: set[TopicPartition] = set()

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def committed(self, topic: str, partition: int = 0) -> int | None:
        tp = TopicPartition(topic, partition)
        found = [offsets[tp] for offsets in self.commits if tp in offsets]
        return found[-1] if found else None


class FakeConsumer:
    """Records each batch it is given; a topic can be held (the batch waits) or made to fail."""

    def __init__(self, batch_size: int = 10) -> None:
        self.name = "svc"
        self.batch_size = batch_size
        self.concurrency = 1
        self.linger: dict[str, float] = {}
        self.batches: list[list[tuple[str, int, int]]] = []
        self.parked: list[int] = []
        self.held: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()
        self.in_flight: dict[str, int] = {}
        self.most_in_flight = 0

    async def consume_batch(self, records: Sequence[Delivery]) -> list[str]:
        topics = {record.topic for record in records}
        assert len(topics) == 1, "a batch holds one topic"
        (topic,) = topics
        self.in_flight[topic] = self.in_flight.get(topic, 0) + 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight[topic])
        try:
            await asyncio.sleep(0.001)
            if topic in self.held:
                await self.held[topic].wait()
            if topic in self.failing:
                raise RuntimeError("the dead letter could not be written")
        finally:
            self.in_flight[topic] -= 1
        self.batches.append([(r.topic, r.partition, r.offset) for r in records])
        return ["handled"] * len(records)

    async def consume_concurrently(self, records: Sequence[Delivery]) -> list[str]:
        raise AssertionError("concurrency is 1")

    async def consume_parked(self, record: Delivery) -> str:
        self.parked.append(record.offset)
        return "handled"

    def parked_wait(self, record: Delivery) -> float:
        not_before = float(record.header("retry-not-before") or 0)
        return max(0.0, not_before - time.time())

    def handled(self, topic: str) -> list[tuple[int, int]]:
        return [(p, o) for batch in self.batches for t, p, o in batch if t == topic]


def records(topic: str, offsets: range, partition: int = 0, **headers: str) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    return [
        ConsumerRecord(
            topic,
            partition,
            offset,
            0,
            0,
            b"k",
            b"v",
            None,
            1,
            1,
            [(k, v.encode()) for k, v in headers.items()],
        )
        for offset in offsets
    ]


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Let the lanes run until `condition` holds (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def lanes_of(consumer: FakeConsumer, limit: int | None = None) -> Lanes:
    """Lanes committing every 0.05 s: these tests read what is handled from the commits (the interval
    itself has tests of its own below)."""
    return Lanes(consumer, RETRY, limit=limit, failure_pause=0.05, commit_interval=0.05)


async def test_a_topic_whose_batch_is_stuck_holds_up_no_other_topic() -> None:
    consumer, kafka = FakeConsumer(), FakeKafka()
    consumer.held["slow.events"] = asyncio.Event()
    lanes = lanes_of(consumer)
    lanes.feed(kafka, records("slow.events", range(3)) + records("fast.events", range(5)))
    lanes.feed(kafka, records("fast.events", range(5, 8)))

    await until(lambda: kafka.committed("fast.events") == 8)
    assert consumer.handled("fast.events") == [(0, o) for o in range(8)]
    assert kafka.committed("slow.events") is None  # nothing of it is committed while it is handled

    consumer.held["slow.events"].set()
    await until(lambda: kafka.committed("slow.events") == 3)
    assert consumer.handled("slow.events") == [(0, 0), (0, 1), (0, 2)]


async def test_the_records_in_process_gauge_counts_the_batches_being_handled_and_returns_to_zero() -> None:
    """What the dashboards' "In process" panel shows (FastStream's own gauge is gone with its middleware)."""
    consumer, kafka = FakeConsumer(), FakeKafka()
    consumer.name = "gauged"
    gauge = IN_PROCESS.labels("gauged")
    consumer.held["slow.events"] = asyncio.Event()
    consumer.failing.add("bad.events")
    lanes = lanes_of(consumer)
    lanes.feed(kafka, records("slow.events", range(3)) + records("bad.events", range(2)))

    await until(lambda: consumer.in_flight.get("slow.events") == 1)
    assert gauge._value.get() in (3, 5)  # the held batch, and the failing one while it is tried
    consumer.failing.clear()
    await until(lambda: kafka.committed("bad.events") == 2)
    assert gauge._value.get() == 3

    consumer.held["slow.events"].set()
    await until(lambda: kafka.committed("slow.events") == 3)
    assert gauge._value.get() == 0


async def test_a_lingering_topics_records_that_come_within_its_linger_share_one_batch() -> None:
    """A topic nobody waits on (quality counts, say) takes what comes within its linger in one batch, one
    transaction, while another topic's records are handled at once."""
    consumer, kafka = FakeConsumer(), FakeKafka()
    consumer.linger = {"quality.events": 1.0}
    lanes = lanes_of(consumer)
    lanes.feed(kafka, records("quality.events", range(1)))
    await asyncio.sleep(0)  # its lane has started: without a linger it takes the one record now
    lanes.feed(kafka, records("order.events", range(2)))
    await until(lambda: kafka.committed("order.events") == 2)
    lanes.feed(kafka, records("quality.events", range(1, 3)))

    await until(lambda: kafka.committed("quality.events") == 3, timeout=5)
    assert [batch for batch in consumer.batches if batch[0][0] == "quality.events"] == [
        [("quality.events", 0, 0), ("quality.events", 0, 1), ("quality.events", 0, 2)]
    ]


async def test_a_full_batch_of_a_lingering_topic_does_not_wait_nor_does_one_when_the_lanes_leave() -> None:
    consumer, kafka = FakeConsumer(batch_size=3), FakeKafka()
    consumer.linger = {"quality.events": 60.0}
    lanes = lanes_of(consumer)
    lanes.feed(kafka, records("quality.events", range(3)))
    await until(lambda: kafka.committed("quality.events") == 3)

    lanes.feed(kafka, records("quality.events", range(3, 4)))
    await asyncio.sleep(0)  # lingering now
    await asyncio.wait_for(lanes.leave(), timeout=3)  # cut short: handled and committed, not dropped
    assert consumer.handled("quality.events") == [(0, o) for o in range(4)]
    assert kafka.committed("quality.events") == 4


async def test_a_parked_record_waiting_out_its_delay_holds_up_no_topic() -> None:
    consumer, kafka = FakeConsumer(), FakeKafka()
    lanes = lanes_of(consumer)
    due = time.time() + 0.5
    lanes.feed(kafka, records(RETRY, range(2), **{"retry-not-before": f"{due:.3f}"}))
    lanes.feed(kafka, records("order.events", range(4)))

    await until(lambda: kafka.committed("order.events") == 4)
    assert consumer.parked == [] and kafka.committed(RETRY) is None
    await until(lambda: kafka.committed(RETRY) == 2, timeout=5)
    assert consumer.parked == [0, 1] and time.time() >= due


async def test_each_topic_has_one_batch_in_flight_each_partition_in_order() -> None:
    consumer, kafka = FakeConsumer(batch_size=4), FakeKafka()
    lanes = lanes_of(consumer)
    for offset in range(6):
        lanes.feed(kafka, records("order.events", range(offset, offset + 1), partition=0))
        lanes.feed(kafka, records("order.events", range(offset, offset + 1), partition=1))
    await until(lambda: len(consumer.handled("order.events")) == 12)
    assert max(len(batch) for batch in consumer.batches) <= 4
    assert consumer.most_in_flight == 1  # its partitions share batches, one at a time
    for partition in (0, 1):
        assert [o for p, o in consumer.handled("order.events") if p == partition] == list(range(6))
    await until(lambda: kafka.committed("order.events", 0) == kafka.committed("order.events", 1) == 6)


async def test_a_partition_piling_up_is_paused_at_the_limit_and_resumed_once_taken() -> None:
    consumer, kafka = FakeConsumer(batch_size=5), FakeKafka()
    tp = TopicPartition("slow.events", 0)
    kafka.assigned = {tp}
    consumer.held["slow.events"] = asyncio.Event()
    lanes = lanes_of(consumer, limit=10)
    lanes.feed(kafka, records("slow.events", range(5)))  # taken at once: the batch in flight
    await asyncio.sleep(0)
    lanes.feed(kafka, records("slow.events", range(5, 14)))
    assert tp not in kafka.paused
    lanes.feed(kafka, records("slow.events", range(14, 15)))  # ten waiting: no more fetched for it
    assert tp in kafka.paused

    consumer.held["slow.events"].set()
    await until(lambda: kafka.committed("slow.events") == 15)
    assert tp not in kafka.paused
    assert consumer.handled("slow.events") == [(0, o) for o in range(15)]


async def test_a_batch_that_raises_comes_again_uncommitted_while_the_other_topics_go_on() -> None:
    consumer, kafka = FakeConsumer(), FakeKafka()
    consumer.failing.add("bad.events")
    lanes = lanes_of(consumer)
    lanes.feed(kafka, records("bad.events", range(2)))
    lanes.feed(kafka, records("good.events", range(3)))
    await until(lambda: kafka.committed("good.events") == 3)
    await asyncio.sleep(0.2)  # several tries of the failing batch
    assert kafka.committed("bad.events") is None

    consumer.failing.clear()
    await until(lambda: kafka.committed("bad.events") == 2)
    assert consumer.handled("bad.events") == [(0, 0), (0, 1)]


async def test_leaving_finishes_the_batch_in_flight_gives_up_waits_and_drops_the_rest() -> None:
    consumer, kafka = FakeConsumer(batch_size=2), FakeKafka()
    consumer.held["order.events"] = asyncio.Event()
    lanes = lanes_of(consumer)
    lanes.feed(kafka, records("order.events", range(5)))
    lanes.feed(kafka, records(RETRY, range(1), **{"retry-not-before": f"{time.time() + 60:.3f}"}))
    await asyncio.sleep(0)

    leaving = asyncio.create_task(lanes.leave())
    await asyncio.sleep(0.05)
    assert not leaving.done()  # the batch in flight is finished first
    consumer.held["order.events"].set()
    await asyncio.wait_for(leaving, 1)  # the parked record gave up its minute's wait

    assert consumer.handled("order.events") == [(0, 0), (0, 1)]
    assert kafka.committed("order.events") == 2  # the rest comes again from here
    assert consumer.parked == [] and kafka.committed(RETRY) is None
    assert lanes.in_flight == 0

    await lanes.close()
    lanes.feed(kafka, records("order.events", range(2, 5)))
    await asyncio.sleep(0.05)
    assert consumer.handled("order.events") == [(0, 0), (0, 1)]  # closed: nothing more is taken


async def test_the_batches_handled_within_the_interval_are_committed_together_once() -> None:
    consumer, kafka = FakeConsumer(batch_size=2), FakeKafka()
    lanes = Lanes(consumer, RETRY, commit_interval=2.0)
    lanes.feed(kafka, records("order.events", range(6)) + records("risk.events", range(4)))
    await until(lambda: len(consumer.batches) == 5)  # 3 + 2 batches of 2
    assert kafka.commits == []  # handled; their offsets wait out the interval
    await until(lambda: kafka.commits != [])
    assert kafka.commits == [{TopicPartition("order.events", 0): 6, TopicPartition("risk.events", 0): 4}]


async def test_leaving_commits_at_once_what_was_handled_and_nothing_else() -> None:
    consumer, kafka = FakeConsumer(), FakeKafka()
    consumer.held["slow.events"] = asyncio.Event()
    lanes = Lanes(consumer, RETRY, commit_interval=60)
    lanes.feed(kafka, records("order.events", range(3)) + records("slow.events", range(2)))
    await until(lambda: len(consumer.batches) == 1)
    assert kafka.commits == []
    leaving = asyncio.create_task(lanes.leave())
    consumer.held["slow.events"].set()  # the batch in flight finishes, and is committed with the other
    await leaving
    assert kafka.commits == [{TopicPartition("order.events", 0): 3, TopicPartition("slow.events", 0): 2}]
