"""The messaging backbone against real Kafka and Postgres: outbox, relay, inbox, dead letters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import anyio.to_thread
import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faka_common.contracts.envelope import Envelope
from faka_common.contracts.topics import dead_letter
from faka_common.db.engine import asyncpg_dsn, session_factory
from faka_common.db.tables import outbox
from faka_common.db.uow import UnitOfWork, kicker
from faka_common.messaging.broker import create_broker, subscribe
from faka_common.messaging.consumer import Delivery, EventConsumer, RetryPolicy
from faka_common.messaging.dlq_cli import read_dead_letters
from faka_common.messaging.relay import MARK_AND_FETCH, OutboxRelay, create_producer
from faka_common.testing import eventually
from faststream._internal.endpoint.subscriber.usecase import SubscriberUsecase
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .crash_runs import crash_after_commit_then_restart
from .messaging_fixtures import (
    TOPIC,
    Pinged,
    count_effects,
    notes_in_order,
    record_effect,
    uow_factory,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def relay(fresh_database: str, kafka_bootstrap: str, engine: AsyncEngine, run_id: str):  # type: ignore[no-untyped-def]
    relay = OutboxRelay(f"svc{run_id}", fresh_database, kafka_bootstrap, poll_interval=0.2)
    task = asyncio.create_task(relay.run())
    yield relay
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def read_topic(
    bootstrap: str, topic: str, keys: set[str], expected: int, timeout: float = 20
) -> list[Envelope]:
    """Envelopes on `topic` whose key is in `keys`, read from the start until `expected` arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[Envelope] = []
    try:

        async def check() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(
                    Envelope.from_bytes(r.value) for r in records if r.key and r.key.decode() in keys
                )
            return len(found) >= expected

        await eventually(check, timeout)
        # one more read proves nothing else for these keys follows
        extra = await consumer.getmany(timeout_ms=500)
        for records in extra.values():
            found.extend(Envelope.from_bytes(r.value) for r in records if r.key and r.key.decode() in keys)
    finally:
        await consumer.stop()
    return found


async def test_outbox_row_of_a_rolled_back_transaction_is_never_published(
    engine: AsyncEngine, relay: OutboxRelay, kafka_bootstrap: str
) -> None:
    make_uow = uow_factory(engine, relay.service)
    order_id = uuid.uuid4()
    async with make_uow() as uow:
        uow.publish(Pinged(order_id=order_id, note="rolled back"))
        await uow.rollback()
    async with make_uow() as uow:
        uow.publish(Pinged(order_id=order_id, note="failed before commit"))
        # leaving the block without commit discards the transaction
    async with make_uow() as uow:
        uow.publish(Pinged(order_id=order_id, note="committed"))
        await uow.commit()

    received = await read_topic(kafka_bootstrap, TOPIC, {str(order_id)}, expected=1)
    assert [e.payload["note"] for e in received] == ["committed"]
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(outbox))).scalar_one() == 1


async def test_relay_publishes_one_aggregates_messages_in_commit_order(
    engine: AsyncEngine, relay: OutboxRelay, kafka_bootstrap: str
) -> None:
    make_uow = uow_factory(engine, relay.service)
    order_id = uuid.uuid4()
    for i in range(30):
        async with make_uow() as uow:
            uow.publish(Pinged(order_id=order_id, note=str(i)))
            await uow.commit()
    received = await read_topic(kafka_bootstrap, TOPIC, {str(order_id)}, expected=30)
    assert [int(e.payload["note"]) for e in received] == list(range(30))

    async def all_marked() -> bool:
        async with engine.connect() as connection:
            unpublished = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            return (await connection.execute(unpublished)).scalar_one() == 0

    await eventually(all_marked)


async def test_published_rows_are_marked_with_the_next_fetch_or_alone_soon_after(
    fresh_database: str, kafka_bootstrap: str, engine: AsyncEngine, run_id: str
) -> None:
    """The relay marks what it published in the round trip that fetches the next rows, never publishing
    them twice; when no commit wakes it soon (MARK_WITHIN), it marks them alone."""
    relay = OutboxRelay(f"marks{run_id}", fresh_database, kafka_bootstrap, poll_interval=0.05)
    make_uow = uow_factory(engine, relay.service)
    order_id = uuid.uuid4()

    async def commit(*notes: str) -> None:
        async with make_uow() as uow:
            for note in notes:
                uow.publish(Pinged(order_id=order_id, note=note))
            await uow.commit()

    async def unpublished() -> int:
        async with engine.connect() as connection:
            query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            return int((await connection.execute(query)).scalar_one())

    connection = await asyncpg.connect(asyncpg_dsn(fresh_database))
    producer = create_producer(kafka_bootstrap, f"marks{run_id}")
    await producer.start()
    try:
        await commit("1", "2")
        assert await relay.publish_batch(connection, producer) == 2
        assert await unpublished() == 2  # published, marked with the next fetch
        await commit("3")
        assert await relay.publish_batch(connection, producer) == 1  # 1 and 2 not again
        assert await unpublished() == 1
        await relay._idle(connection)  # nothing wakes it: 3 is marked alone
        assert await unpublished() == 0
        assert await relay.publish_batch(connection, producer) == 0
    finally:
        await producer.stop()
        await connection.close()
    received = await read_topic(kafka_bootstrap, TOPIC, {str(order_id)}, expected=3)
    assert [e.payload["note"] for e in received] == ["1", "2", "3"]


async def test_the_relays_session_plans_its_fetch_once_not_on_every_call(
    fresh_database: str, kafka_bootstrap: str, engine: AsyncEngine, run_id: str
) -> None:
    """Postgres planned the relay's mark-and-fetch afresh on every call (a custom plan for each id array,
    0.13 ms of its CPU each time); on the relay's own session it is planned once and the plan reused."""
    relay = OutboxRelay(f"plans{run_id}", fresh_database, kafka_bootstrap)
    make_uow = uow_factory(engine, relay.service)
    connection = await relay.connect()
    producer = create_producer(kafka_bootstrap, f"plans{run_id}")
    await producer.start()
    try:
        for note in map(str, range(12)):
            async with make_uow() as uow:
                uow.publish(Pinged(order_id=uuid.uuid4(), note=note))
                await uow.commit()
            assert await relay.publish_batch(connection, producer) == 1
        plans = await connection.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            MARK_AND_FETCH,
        )
    finally:
        await producer.stop()
        await connection.close()
    assert plans is not None, "the relay's mark-and-fetch was not run as a prepared statement"
    assert plans["custom_plans"] == 0
    assert plans["generic_plans"] >= 10


async def test_the_relays_marks_do_not_wait_for_the_wal_flush_while_producers_commits_do(
    fresh_database: str, kafka_bootstrap: str, engine: AsyncEngine, run_id: str
) -> None:
    """A mark lost to a crash of Postgres only publishes its rows again (consumers take them as
    duplicates), so the relay's session commits without waiting for the WAL flush; the outbox rows are
    written by the producers' units of work, whose commits still wait for it."""
    relay = OutboxRelay(f"async{run_id}", fresh_database, kafka_bootstrap)
    connection = await relay.connect()
    try:
        assert await connection.fetchval("SELECT current_setting('synchronous_commit')") == "off"
    finally:
        await connection.close()
    async with uow_factory(engine, relay.service)() as uow:
        setting = await uow.session.scalar(select(func.current_setting("synchronous_commit")))
    assert setting == "on"


@pytest.mark.parametrize("wake", ["same process", "another process (NOTIFY)"])
async def test_a_commit_wakes_a_slow_polling_relay_at_once(
    fresh_database: str, kafka_bootstrap: str, engine: AsyncEngine, run_id: str, wake: str
) -> None:
    """Commits wake the relay: directly when it runs in this process, else with a coalesced NOTIFY sent
    after the commit (never inside it, which would serialise every commit on Postgres' notify lock)."""
    slow = OutboxRelay(f"wake{run_id}", fresh_database, kafka_bootstrap, poll_interval=120)
    task = asyncio.create_task(slow.run())
    try:

        async def leading() -> bool:
            return slow.is_leader

        await eventually(leading)
        if wake != "same process":
            database = fresh_database.rsplit("/", 1)[1]
            kicker.unregister(database, slow.service, slow._wake)
        make_uow = uow_factory(engine, slow.service)
        order_id = uuid.uuid4()
        async with make_uow() as uow:
            uow.publish(Pinged(order_id=order_id, note=wake))
            await uow.commit()
        received = await read_topic(kafka_bootstrap, TOPIC, {str(order_id)}, expected=1, timeout=15)
        assert [e.payload["note"] for e in received] == [wake]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_only_one_relay_leads_per_service(
    fresh_database: str, engine: AsyncEngine, kafka_bootstrap: str, run_id: str
) -> None:
    relays = [
        OutboxRelay(f"lead{run_id}", fresh_database, kafka_bootstrap, poll_interval=0.2) for _ in range(2)
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await eventually(lambda: _async(any(r.is_leader for r in relays)))
        make_uow = uow_factory(engine, relays[0].service)
        order_id = uuid.uuid4()
        for i in range(10):
            async with make_uow() as uow:
                uow.publish(Pinged(order_id=order_id, note=str(i)))
                await uow.commit()
        received = await read_topic(kafka_bootstrap, TOPIC, {str(order_id)}, expected=10)
        assert sum(r.is_leader for r in relays) == 1
        assert len(received) == 10
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _async(value: bool) -> bool:
    return value


def delivery_of(message: Pinged, offset: int = 0) -> Delivery:
    envelope = Envelope.wrap(message, "test")
    return Delivery(TOPIC, 0, offset, message.key.encode(), envelope.to_bytes())


async def test_same_message_delivered_five_times_concurrently_takes_effect_once(engine: AsyncEngine) -> None:
    consumer = EventConsumer("dedupe", uow_factory(engine, "dedupe"), {Pinged: record_effect})
    record = delivery_of(Pinged(order_id=uuid.uuid4(), note="once"))
    outcomes = await asyncio.gather(*(consumer.consume(record) for _ in range(5)))
    assert sorted(outcomes) == ["duplicate"] * 4 + ["handled"]
    assert await count_effects(engine, "once") == 1


async def test_failing_handler_is_retried_then_dead_lettered_with_its_reason(engine: AsyncEngine) -> None:
    consumer = EventConsumer(
        "failing",
        uow_factory(engine, "failing"),
        {Pinged: record_effect},
        RetryPolicy(attempts=3, first_backoff=0.01),
    )
    outcome = await consumer.consume(delivery_of(Pinged(order_id=uuid.uuid4(), note="boom"), offset=7))
    assert outcome == "dead_lettered"
    async with engine.connect() as connection:
        row = (await connection.execute(select(outbox))).one()
    assert row.topic == dead_letter(TOPIC)
    assert row.headers["dlq-reason"] == "RuntimeError: handler refuses boom"
    assert row.headers["dlq-offset"] == "7"
    assert await count_effects(engine, "boom") == 0


async def dead_letters_of(kafka_bootstrap: str, order_id: uuid.UUID) -> list:  # type: ignore[type-arg]
    """The records of the order dead-lettered from the test topic so far."""
    letters = await read_dead_letters(kafka_bootstrap, dead_letter(TOPIC))
    return [x for x in letters if x.key == str(order_id).encode()]


async def test_unparseable_record_goes_to_dlq_and_does_not_block_its_partition(
    engine: AsyncEngine, relay: OutboxRelay, kafka_bootstrap: str, run_id: str
) -> None:
    consumer = EventConsumer(f"parse{run_id}", uow_factory(engine, relay.service), {Pinged: record_effect})
    broker = create_broker(kafka_bootstrap, "test")
    subscribe(broker, consumer, [TOPIC])
    order_id = uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"{not json", key=str(order_id).encode())
        good = Envelope.wrap(Pinged(order_id=order_id, note=f"after-garbage-{run_id}"), "test")
        await producer.send_and_wait(TOPIC, good.to_bytes(), key=str(order_id).encode())
    finally:
        await producer.stop()
    await broker.start()
    try:
        await eventually(lambda: _count_is(engine, f"after-garbage-{run_id}", 1))

        letters = await eventually(lambda: dead_letters_of(kafka_bootstrap, order_id))
    finally:
        await broker.stop()
    assert letters[0].value == b"{not json"
    assert letters[0].headers["dlq-reason"].startswith("unparseable envelope")
    assert letters[0].headers["dlq-consumer"] == consumer.name


async def test_fetched_records_reach_the_lanes_as_they_are_without_a_worker_thread(
    engine: AsyncEngine,
    relay: OutboxRelay,
    kafka_bootstrap: str,
    run_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The subscriber hands the lanes the records aiokafka fetched: a body its content type calls JSON is not
    parsed on the way (a broken one is the lanes' to dead-letter, alone), and no batch hops to a worker
    thread (FastStream resolving a message parameter did, once a batch)."""
    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    consumer = EventConsumer(f"raw{run_id}", uow_factory(engine, relay.service), {Pinged: record_effect})
    broker = create_broker(kafka_bootstrap, "test")
    subscribe(broker, consumer, [TOPIC])
    order_id = uuid.uuid4()
    json_header = [("content-type", b"application/json")]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"{not json", key=str(order_id).encode(), headers=json_header)
        for n in range(3):
            good = Envelope.wrap(Pinged(order_id=order_id, note=f"raw-{n}-{run_id}"), "test")
            await producer.send_and_wait(
                TOPIC, good.to_bytes(), key=str(order_id).encode(), headers=json_header
            )
    finally:
        await producer.stop()
    await broker.start()
    try:
        for n in range(3):
            await eventually(lambda n=n: _count_is(engine, f"raw-{n}-{run_id}", 1))

        letters = await eventually(lambda: dead_letters_of(kafka_bootstrap, order_id))
    finally:
        await broker.stop()
    assert [letter.value for letter in letters] == [b"{not json"]
    assert hops == []


async def test_fetched_batches_go_to_the_lanes_without_faststreams_per_batch_path(
    engine: AsyncEngine,
    relay: OutboxRelay,
    kafka_bootstrap: str,
    run_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fetched batch goes from the subscriber's fetch loop to the lanes directly: FastStream's per-batch
    path (context, middlewares, a message wrapper, the handler's arguments validated) is never entered, and
    every record is still handled, once."""
    entered: list[object] = []
    original = SubscriberUsecase.process_message

    async def counted(self: Any, msg: Any) -> Any:
        entered.append(msg)
        return await original(self, msg)

    monkeypatch.setattr(SubscriberUsecase, "process_message", counted)
    consumer = EventConsumer(f"direct{run_id}", uow_factory(engine, relay.service), {Pinged: record_effect})
    broker = create_broker(kafka_bootstrap, "test")
    subscribe(broker, consumer, [TOPIC])
    order_id = uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(5):
            ping = Envelope.wrap(Pinged(order_id=order_id, note=f"direct-{n}-{run_id}"), "test")
            await producer.send_and_wait(TOPIC, ping.to_bytes(), key=str(order_id).encode())
    finally:
        await producer.stop()
    await broker.start()
    try:
        for n in range(5):
            await eventually(lambda n=n: _count_is(engine, f"direct-{n}-{run_id}", 1))
    finally:
        await broker.stop()
    assert entered == []


async def _count_is(engine: AsyncEngine, note: str, expected: int) -> bool:
    return await count_effects(engine, note) == expected


async def test_consumer_killed_after_its_effects_but_before_its_ack_does_not_repeat_them(
    engine: AsyncEngine, fresh_database: str, kafka_bootstrap: str, run_id: str
) -> None:
    order_id = uuid.uuid4()
    topic = f"test.crash.{run_id}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        envelope = Envelope.wrap(Pinged(order_id=order_id, note=f"crash-{run_id}"), "test")
        await producer.send_and_wait(topic, envelope.to_bytes(), key=str(order_id).encode())
    finally:
        await producer.stop()

    await crash_after_commit_then_restart(
        Path(__file__).with_name("crash_consumer.py"),
        fresh_database,
        kafka_bootstrap,
        f"crashy{run_id}",
        topic,
    )
    assert await count_effects(engine, f"crash-{run_id}") == 1


async def test_trace_context_of_the_writer_rides_to_kafka_headers(
    engine: AsyncEngine, relay: OutboxRelay, kafka_bootstrap: str
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    make_uow = uow_factory(engine, relay.service)
    order_id = uuid.uuid4()
    with tracer.start_as_current_span("place order") as span:
        async with make_uow() as uow:
            uow.publish(Pinged(order_id=order_id, note="traced"))
            await uow.commit()
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace.get_current_span().get_span_context().trace_id != int(trace_id, 16)

    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:

        async def traced_record() -> dict[str, bytes] | None:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    if r.key == str(order_id).encode():
                        return dict(r.headers)
            return None

        headers = await eventually(traced_record)
    finally:
        await consumer.stop()
    assert headers["traceparent"].decode().split("-")[1] == trace_id


# --- batched consumption -----------------------------------------------------------------------------


def deliveries(messages: list[Pinged]) -> list[Delivery]:
    return [delivery_of(message, offset) for offset, message in enumerate(messages)]


async def record_and_echo(event: Pinged, uow: UnitOfWork) -> None:
    """Records the effect and stages an outgoing message, so a rolled-back run would leave an echo."""
    await record_effect(event, uow)
    uow.publish(Pinged(order_id=event.order_id, note=f"echo-{event.note}"))


async def test_batch_with_a_duplicate_inside_and_a_redelivered_batch_takes_each_effect_once(
    engine: AsyncEngine,
) -> None:
    consumer = EventConsumer("batch", uow_factory(engine, "batch"), {Pinged: record_effect}, batch_size=10)
    order_id = uuid.uuid4()
    batch = deliveries([Pinged(order_id=order_id, note=f"n{i}") for i in range(5)])
    batch.append(batch[2])  # the same event again, inside the same batch (same transaction)

    assert await consumer.consume_batch(batch) == ["handled"] * 5 + ["duplicate"]
    assert await consumer.consume_batch(batch) == ["duplicate"] * 6  # the whole batch redelivered
    # and again as single records, as a consumer without batches would see them
    assert [await consumer.consume(record) for record in batch] == ["duplicate"] * 6
    assert await notes_in_order(engine) == [f"n{i}" for i in range(5)]


class ClaimCounting(UnitOfWork):
    """Counts the inbox statements: one per `claim_inbox`, one per `claim_inboxes`."""

    statements: ClassVar[list[str]] = []

    async def claim_inbox(self, consumer: str, envelope: Envelope) -> bool:
        self.statements.append("one")
        return await super().claim_inbox(consumer, envelope)

    async def claim_inboxes(self, consumer: str, envelopes: Sequence[Envelope]) -> set[uuid.UUID]:
        self.statements.append(f"{len(envelopes)} at once")
        return await super().claim_inboxes(consumer, envelopes)


async def test_a_batch_claims_its_inbox_in_one_statement_and_skips_what_was_handled_alone(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    consumer = EventConsumer(
        "claims", lambda: ClaimCounting(sessions, "claims"), {Pinged: record_effect}, batch_size=10
    )
    order_id = uuid.uuid4()
    batch = deliveries([Pinged(order_id=order_id, note=f"n{i}") for i in range(6)])
    assert await consumer.consume(batch[1]) == "handled"  # before the batch, on its own
    assert await consumer.consume_batch([*batch, batch[3]]) == [
        "handled", "duplicate", "handled", "handled", "handled", "handled", "duplicate",
    ]  # fmt: skip
    assert ClaimCounting.statements == ["one", "7 at once"]
    assert await notes_in_order(engine) == ["n1", "n0", "n2", "n3", "n4", "n5"]


async def test_the_first_statement_on_the_driver_begins_the_units_transaction_without_sqlalchemy(
    engine: AsyncEngine,
) -> None:
    """A unit of work's first statement run on the driver (an inbox claim) begins the transaction on the
    asyncpg connection the way SQLAlchemy's adapter would, so the adapter's rollback undoes it and its commit
    keeps it, and no statement goes through SQLAlchemy's cursor."""
    through_sqlalchemy: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: through_sqlalchemy.append(a[2]))
    make = uow_factory(engine, "first")
    rolled_back = Envelope.wrap(Pinged(order_id=uuid.uuid4(), note="a"), "t")
    kept = Envelope.wrap(Pinged(order_id=uuid.uuid4(), note="b"), "t")
    async with make() as uow:
        assert await uow.claim_inbox("first", rolled_back)
    async with make() as uow:
        assert await uow.claim_inbox("first", kept)
        await uow.commit()
    assert through_sqlalchemy == []
    async with make() as uow:
        assert await uow.claim_inbox("first", rolled_back)  # the rolled-back claim left nothing
        assert not await uow.claim_inbox("first", kept)  # the committed one is there


async def committing_effect(event: Pinged, uow: UnitOfWork) -> None:
    await record_effect(event, uow)
    if event.note.startswith("commit"):
        await uow.commit()


async def test_a_handler_that_commits_inside_a_batch_has_the_batch_redone_one_record_at_a_time(
    engine: AsyncEngine,
) -> None:
    """The batch's claims are taken before its handlers run: a handler's own commit would keep the claims
    of the records after it, handled or not. It is refused, and each record is handled once on its own."""
    consumer = EventConsumer(
        "committing", uow_factory(engine, "committing"), {Pinged: committing_effect}, batch_size=10
    )
    order_id = uuid.uuid4()
    batch = deliveries([Pinged(order_id=order_id, note=n) for n in ["a", "commit-b", "c", "boom", "d"]])
    outcomes = await consumer.consume_batch(batch)
    assert outcomes == ["handled", "handled", "handled", "dead_lettered", "handled"]
    assert await notes_in_order(engine) == ["a", "commit-b", "c", "d"]


async def test_two_batches_sharing_events_at_once_take_each_effect_once(engine: AsyncEngine) -> None:
    """A batch redelivered to another replica while the first still handles it: the claims of each are
    taken in event order, so one waits for the other instead of deadlocking, and finds the shared ones
    taken."""
    consumers = [
        EventConsumer("shared", uow_factory(engine, "shared"), {Pinged: record_effect}, batch_size=50)
        for _ in range(2)
    ]
    order_id = uuid.uuid4()
    batch = deliveries([Pinged(order_id=order_id, note=f"n{i}") for i in range(40)])
    first, second = await asyncio.gather(
        consumers[0].consume_batch(batch[:30]), consumers[1].consume_batch(list(reversed(batch[10:])))
    )
    assert first.count("handled") + second.count("handled") == 40
    assert sorted(await notes_in_order(engine)) == sorted(f"n{i}" for i in range(40))


async def test_a_poison_message_in_a_batch_is_dead_lettered_alone_and_the_rest_take_effect_once_in_order(
    engine: AsyncEngine,
) -> None:
    consumer = EventConsumer(
        "poison",
        uow_factory(engine, "poison"),
        {Pinged: record_and_echo},
        RetryPolicy(attempts=2, first_backoff=0.01),
        batch_size=20,
    )
    order_id = uuid.uuid4()
    notes = ["a", "b", "garbage", "c", "boom", "d", "ignored", "e", "invalid", "f"]
    batch = deliveries([Pinged(order_id=order_id, note=note) for note in notes])
    garbage, ignored, invalid = notes.index("garbage"), notes.index("ignored"), notes.index("invalid")
    batch[garbage] = Delivery(TOPIC, 0, garbage, order_id.bytes, b"{not json")
    other_type = Envelope.from_bytes(batch[ignored].value).model_copy(update={"type": "TestSomethingElse"})
    batch[ignored] = Delivery(TOPIC, 0, ignored, None, other_type.to_bytes())
    broken = Envelope.from_bytes(batch[invalid].value).model_copy(update={"payload": {"note": "x"}})
    batch[invalid] = Delivery(TOPIC, 0, invalid, None, broken.to_bytes())

    outcomes = await consumer.consume_batch(batch)

    assert outcomes == [
        "handled", "handled", "dead_lettered", "handled", "dead_lettered", "handled", "ignored", "handled",
        "dead_lettered", "handled",
    ]  # fmt: skip
    assert await notes_in_order(engine) == ["a", "b", "c", "d", "e", "f"]
    # the run [c, boom, d, e] was rolled back with its staged echoes, then redone one record at a time:
    # each echo is in the outbox once, in order, and the dead letters stand at their places
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.topic, outbox.c.value).order_by(outbox.c.id))).all()
    assert [r.topic == dead_letter(TOPIC) for r in rows].count(True) == 3
    echoes = [Envelope.from_bytes(r.value).payload["note"] for r in rows if r.topic == TOPIC]
    assert echoes == ["echo-a", "echo-b", "echo-c", "echo-d", "echo-e", "echo-f"]
    assert await consumer.consume_batch(batch) == [
        "duplicate", "duplicate", "dead_lettered", "duplicate", "dead_lettered", "duplicate", "ignored",
        "duplicate", "dead_lettered", "duplicate",
    ]  # fmt: skip
    assert await notes_in_order(engine) == ["a", "b", "c", "d", "e", "f"]


class BatchProbe(EventConsumer[UnitOfWork]):
    """Records the size and outcomes of each batch; the first batch fails after its commit, as a crash
    before the offsets are committed would."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []

    async def consume_batch(self, records):  # type: ignore[no-untyped-def]
        outcomes = await super().consume_batch(records)
        self.batches.append(outcomes)
        if len(self.batches) == 1:
            raise RuntimeError("lost the connection before the offsets were committed")
        return outcomes


async def test_batch_consumer_on_kafka_takes_every_message_once_in_order_per_key(
    engine: AsyncEngine, kafka_bootstrap: str, run_id: str
) -> None:
    topic = f"test.batch.{run_id}"
    keys = [uuid.uuid4() for _ in range(3)]
    sent = {key: [f"{run_id}-{key.hex[:6]}-{i}" for i in range(20)] for key in keys}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(20):
            for key in keys:
                envelope = Envelope.wrap(Pinged(order_id=key, note=sent[key][i]), "test")
                await producer.send_and_wait(topic, envelope.to_bytes(), key=str(key).encode())
    finally:
        await producer.stop()

    consumer = BatchProbe(
        f"batched{run_id}", uow_factory(engine, "batched"), {Pinged: record_effect}, batch_size=16
    )
    broker = create_broker(kafka_bootstrap, "test")
    subscribe(broker, consumer, [topic])
    await broker.start()
    try:

        async def all_seen() -> bool:
            handled = sum(outcomes.count("handled") for outcomes in consumer.batches)
            return handled == 60 and len(await notes_in_order(engine)) == 60

        await eventually(all_seen, timeout=30)
    finally:
        await broker.stop()

    assert max(len(outcomes) for outcomes in consumer.batches) > 1
    assert len(consumer.batches[0]) <= 16
    # the failed first batch came again whole: its records were duplicates the second time
    assert sum(outcomes.count("duplicate") for outcomes in consumer.batches) == len(consumer.batches[0])
    notes = await notes_in_order(engine)
    assert len(notes) == len(set(notes)) == 60
    for key in keys:
        assert [note for note in notes if note in sent[key]] == sent[key]
