"""One Kafka consumer per service process, on real Kafka and Postgres: a service's topics and its retry
topic come through a single group member, a topic whose handler hangs holds up no other, and a consumer
killed after its effects but before its offsets are committed does not repeat them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faka_common.contracts.envelope import Envelope
from faka_common.contracts.topics import retry
from faka_common.db.uow import UnitOfWork
from faka_common.messaging.broker import create_broker, subscribe
from faka_common.messaging.consumer import EventConsumer
from faka_common.testing import eventually
from sqlalchemy.ext.asyncio import AsyncEngine

from .crash_runs import crash_after_commit_then_restart
from .messaging_fixtures import Pinged, count_effects, notes_in_order, record_effect, uow_factory

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, notes: list[str], order_id: uuid.UUID) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for note in notes:
            envelope = Envelope.wrap(Pinged(order_id=order_id, note=note), "test")
            await producer.send_and_wait(topic, envelope.to_bytes(), key=str(order_id).encode())
    finally:
        await producer.stop()


async def test_a_services_topics_and_its_retry_topic_come_through_one_kafka_consumer(
    engine: AsyncEngine, kafka_bootstrap: str, run_id: str
) -> None:
    name = f"single{run_id}"
    consumer = EventConsumer(name, uow_factory(engine, name), {Pinged: record_effect}, batch_size=10)
    broker = create_broker(kafka_bootstrap, "test")
    topics = [f"test.a.{run_id}", f"test.b.{run_id}", f"test.c.{run_id}"]
    subscribe(broker, consumer, topics)
    await broker.start()
    try:
        [subscriber] = broker.subscribers  # one group member, one fetch loop, one heartbeat
        assert subscriber.consumer is not None

        async def assigned() -> set[str]:
            return {tp.topic for tp in subscriber.consumer.assignment()}  # type: ignore[union-attr]

        assert await eventually(assigned, timeout=30) == {*topics, retry(name)}
        order_id = uuid.uuid4()
        for topic in topics:
            await produce(kafka_bootstrap, topic, [f"{topic}-{run_id}"], order_id)
        await eventually(lambda: _effects_are(engine, 3), timeout=30)
    finally:
        await broker.stop()


async def _effects_are(engine: AsyncEngine, expected: int) -> bool:
    return await count_effects(engine) == expected


async def test_on_kafka_a_topic_whose_handler_hangs_holds_up_no_other_topic_of_the_consumer(
    engine: AsyncEngine, kafka_bootstrap: str, run_id: str
) -> None:
    """The livelock of issue 11, with one consumer: while every record of one topic waits on something
    that does not come, the other topic's records all take effect; once it comes, the first topic's do."""
    gate = asyncio.Event()

    async def hanging_on_slow(event: Pinged, uow: UnitOfWork) -> None:
        if event.note.startswith("slow"):
            await gate.wait()
        await record_effect(event, uow)

    name = f"hang{run_id}"
    consumer = EventConsumer(name, uow_factory(engine, name), {Pinged: hanging_on_slow}, batch_size=10)
    broker = create_broker(kafka_bootstrap, "test")
    slow_topic, fast_topic = f"test.slow.{run_id}", f"test.fast.{run_id}"
    subscribe(broker, consumer, [slow_topic, fast_topic])
    slow = [f"slow-{i}" for i in range(5)]
    fast = [f"fast-{i}" for i in range(20)]
    await produce(kafka_bootstrap, slow_topic, slow, uuid.uuid4())
    await produce(kafka_bootstrap, fast_topic, fast, uuid.uuid4())
    await broker.start()
    try:

        async def fast_all_handled() -> bool:
            return set(await notes_in_order(engine)) == set(fast)

        await eventually(fast_all_handled, timeout=30)
        gate.set()

        async def all_handled() -> bool:
            return len(await notes_in_order(engine)) == len(slow) + len(fast)

        await eventually(all_handled, timeout=30)
    finally:
        gate.set()
        await broker.stop()
    notes = await notes_in_order(engine)
    assert [n for n in notes if n.startswith("slow")] == slow
    assert [n for n in notes if n.startswith("fast")] == fast


async def test_a_service_consumer_killed_after_its_effects_but_before_its_offsets_does_not_repeat_them(
    engine: AsyncEngine, fresh_database: str, kafka_bootstrap: str, run_id: str
) -> None:
    topic = f"test.lanecrash.{run_id}"
    note = f"lane-crash-{run_id}"
    await produce(kafka_bootstrap, topic, [note], uuid.uuid4())
    await crash_after_commit_then_restart(
        Path(__file__).with_name("lanes_crash_consumer.py"),
        fresh_database,
        kafka_bootstrap,
        f"lanecrash{run_id}",
        topic,
    )
    assert await count_effects(engine, note) == 1


async def test_a_gathering_consumer_is_woken_by_a_few_fetches_where_another_is_woken_by_each_record(
    engine: AsyncEngine, kafka_bootstrap: str, run_id: str
) -> None:
    """A consumer that gathers (notification's, whose notices can wait a tenth of a second) has Kafka hold
    its fetches for that long and takes what came meanwhile in one fetch; a consumer that does not is
    answered at each record. Both handle every record."""
    topic = f"test.gather.{run_id}"
    fed: dict[str, list[int]] = {"gathers": [], "answered at once": []}
    broker = create_broker(kafka_bootstrap, "test")
    for kind, gather in (("gathers", 0.5), ("answered at once", 0.0)):
        name = f"{'gather' if gather else 'eager'}{run_id}"
        consumer = EventConsumer(name, uow_factory(engine, name), {Pinged: record_effect}, gather=gather)
        lanes = subscribe(broker, consumer, [topic])
        feed = lanes.feed

        def counted(kafka: Any, records: Any, feed: Any = feed, kind: str = kind) -> None:
            records = list(records)
            fed[kind].append(len(records))
            feed(kafka, records)

        lanes.feed = counted  # type: ignore[method-assign]
    await broker.start()
    try:

        async def assigned() -> bool:
            return all(
                s.consumer is not None and {tp.topic for tp in s.consumer.assignment()} >= {topic}
                for s in broker.subscribers
            )

        await eventually(assigned, timeout=30)
        order_id = uuid.uuid4()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for index in range(30):
                envelope = Envelope.wrap(Pinged(order_id=order_id, note=f"gather-{run_id}-{index}"), "test")
                await producer.send_and_wait(topic, envelope.to_bytes(), key=str(order_id).encode())
                await asyncio.sleep(0.03)
        finally:
            await producer.stop()

        async def both_handled_all() -> bool:
            notes = await notes_in_order(engine)
            return len([note for note in notes if note.startswith(f"gather-{run_id}-")]) == 60

        await eventually(both_handled_all, timeout=30)
    finally:
        await broker.stop()
    assert sum(fed["gathers"]) == sum(fed["answered at once"]) == 30
    assert len(fed["gathers"]) <= 4, fed  # about a second of records, a fetch every half second
    assert len(fed["answered at once"]) >= 10, fed
