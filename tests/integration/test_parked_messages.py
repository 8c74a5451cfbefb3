"""Messages that come before what they depend on wait on the consumer's retry topic without holding up
anything else, and never reach the dead-letter topic while time can still fix them; consumers with outside
effects handle keys side by side."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import ClassVar

import pytest
from aiokafka import AIOKafkaProducer
from faka_common.contracts.envelope import Envelope, Message
from faka_common.contracts.topics import dead_letter, retry
from faka_common.db.tables import outbox
from faka_common.db.uow import UnitOfWork
from faka_common.errors import RetryLater, Unavailable
from faka_common.messaging.broker import create_broker, subscribe
from faka_common.messaging.consumer import Delivery, EventConsumer, RetryPolicy
from faka_common.messaging.dlq_cli import read_dead_letters, replay_dead_letters
from faka_common.messaging.relay import OutboxRelay
from faka_common.testing import eventually
from sqlalchemy import insert, select, text

from .messaging_fixtures import effects, notes_in_order, uow_factory

pytestmark = pytest.mark.integration


class Opened(Message):
    """What a later message depends on (an OrderPlaced, say), on a topic of its own."""

    type_name: ClassVar[str] = "TestOpened"
    topic: ClassVar[str] = "test.opened"
    order_id: uuid.UUID
    note: str


class Closed(Message):
    """A message that can only be handled once its Opened has been (a DeliverySucceeded, say)."""

    type_name: ClassVar[str] = "TestClosed"
    topic: ClassVar[str] = "test.closed"
    order_id: uuid.UUID
    note: str


async def record_opened(event: Opened, uow: UnitOfWork) -> None:
    await uow.session.execute(insert(effects).values(order_id=str(event.order_id), note=event.note))


async def record_closed(event: Closed, uow: UnitOfWork) -> None:
    opened = await uow.session.scalar(select(effects.c.id).where(effects.c.order_id == str(event.order_id)))
    if opened is None:
        raise RetryLater(f"order {event.order_id} not opened yet")
    await uow.session.execute(insert(effects).values(order_id=str(event.order_id), note=event.note))


def record(
    message: Message, topic: str, offset: int = 0, headers: dict[str, bytes] | None = None
) -> Delivery:
    envelope = Envelope.wrap(message, "test")
    return Delivery(topic, 0, offset, message.key.encode(), envelope.to_bytes(), headers or {})


def opener_and_closer(engine, name: str, policy: RetryPolicy | None = None) -> EventConsumer:  # type: ignore[no-untyped-def]
    return EventConsumer(
        name,
        uow_factory(engine, name),
        {Opened: record_opened, Closed: record_closed},
        policy or RetryPolicy(),
    )


async def test_a_message_before_its_dependency_is_parked_not_retried_in_place_nor_dead_lettered(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    consumer = opener_and_closer(engine, "parker")
    order_id = uuid.uuid4()
    early = record(Closed(order_id=order_id, note="closed"), "test.closed", offset=41)

    started = time.monotonic()
    assert await consumer.consume(early) == "deferred"
    assert time.monotonic() - started < 0.5  # no in-place backoff

    async with engine.connect() as connection:
        [parked] = (await connection.execute(select(outbox))).all()
    assert parked.topic == retry("parker") and parked.value == early.value
    assert parked.headers["retry-topic"] == "test.closed"
    assert parked.headers["retry-offset"] == "41"
    assert parked.headers["retry-attempt"] == "1"
    assert "not opened yet" in parked.headers["retry-reason"]

    # the dependency arrives; the parked copy (as the retry topic gives it back) now takes effect once
    assert (
        await consumer.consume(record(Opened(order_id=order_id, note="opened"), "test.opened")) == "handled"
    )
    back = Delivery(
        retry("parker"), 0, 0, early.key, early.value, {k: str(v).encode() for k, v in parked.headers.items()}
    )
    assert await consumer.consume_parked(back) == "handled"
    assert await consumer.consume_parked(back) == "duplicate"
    assert await notes_in_order(engine) == ["opened", "closed"]


async def test_a_parked_message_waits_out_its_delay_and_is_parked_again_with_a_longer_one(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    policy = RetryPolicy(first_delay=0.3, max_delay=10)
    consumer = opener_and_closer(engine, "patient", policy)
    early = record(Closed(order_id=uuid.uuid4(), note="never opened"), "test.closed")
    not_before = time.time() + 0.3
    parked = Delivery(
        retry("patient"),
        0,
        0,
        early.key,
        early.value,
        {
            "retry-topic": b"test.closed",
            "retry-partition": b"0",
            "retry-offset": b"5",
            "retry-attempt": b"1",
            "retry-first-at": f"{time.time():.3f}".encode(),
            "retry-not-before": f"{not_before:.3f}".encode(),
        },
    )
    assert await consumer.consume_parked(parked) == "deferred"
    returned = time.time()
    assert returned >= not_before
    async with engine.connect() as connection:
        [again] = (await connection.execute(select(outbox))).all()
    assert again.topic == retry("patient")
    assert (again.headers["retry-attempt"], again.headers["retry-offset"]) == ("2", "5")
    # parked again after its first delay was over, for twice as long
    assert not_before + 0.6 - 0.001 <= float(again.headers["retry-not-before"]) <= returned + 0.6 + 0.001


async def test_a_message_still_waiting_after_the_give_up_time_is_dead_lettered_on_its_own_topic(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    consumer = opener_and_closer(engine, "giver", RetryPolicy(give_up_after=60))
    early = record(Closed(order_id=uuid.uuid4(), note="orphan"), "test.closed")
    long_ago = Delivery(
        retry("giver"),
        0,
        0,
        early.key,
        early.value,
        {
            "retry-topic": b"test.closed",
            "retry-partition": b"0",
            "retry-offset": b"9",
            "retry-attempt": b"30",
            "retry-first-at": f"{time.time() - 61:.3f}".encode(),
            "retry-not-before": b"0",
        },
    )
    assert await consumer.consume_parked(long_ago) == "dead_lettered"
    async with engine.connect() as connection:
        [letter] = (await connection.execute(select(outbox))).all()
    assert letter.topic == dead_letter("test.closed")
    assert letter.headers["dlq-offset"] == "9"
    assert letter.headers["dlq-reason"].startswith("still waiting after 30 retries")


async def test_a_message_whose_dependency_is_down_is_parked_after_its_retries_and_handled_once_it_is_back(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    """A service the handler calls is down (inventory restarting while notification fetches an order's
    keys): once the in-place retries are spent the record waits on the retry topic instead of being
    dead-lettered, and takes effect when it comes back after the service did."""
    up = False
    calls = 0

    async def call_a_service(event: Opened, uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        if not up:
            raise Unavailable("http://127.0.0.1:1 unreachable: ConnectError")
        await record_opened(event, uow)

    consumer = EventConsumer(
        "outage", uow_factory(engine, "outage"), {Opened: call_a_service}, RetryPolicy(first_backoff=0.01)
    )
    first = record(Opened(order_id=uuid.uuid4(), note="after the outage"), "test.opened", offset=3)
    assert await consumer.consume(first) == "deferred"
    assert calls == 3  # the in-place retries first: a blip is ridden out without parking
    async with engine.connect() as connection:
        [parked] = (await connection.execute(select(outbox))).all()
    assert parked.topic == retry("outage")
    assert (parked.headers["retry-topic"], parked.headers["retry-offset"]) == ("test.opened", "3")
    assert "unreachable" in parked.headers["retry-reason"]

    up = True
    back = Delivery(
        retry("outage"), 0, 0, first.key, first.value, {k: str(v).encode() for k, v in parked.headers.items()}
    )
    assert await consumer.consume_parked(back) == "handled"
    assert await notes_in_order(engine) == ["after the outage"]


@pytest.fixture
async def namespaced_relay(fresh_database: str, kafka_bootstrap: str, engine, run_id: str):  # type: ignore[no-untyped-def]
    """A relay publishing under its own namespace (as a service's does), so the parked copies it
    publishes reach the consumer of the same namespace."""
    relay = OutboxRelay(
        f"svc{run_id}", fresh_database, kafka_bootstrap, poll_interval=0.2, namespace=f"ns{run_id}."
    )
    task = asyncio.create_task(relay.run())
    yield relay
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_on_kafka_messages_that_come_before_their_dependency_all_take_effect_with_no_dead_letter(
    engine,  # type: ignore[no-untyped-def]
    namespaced_relay: OutboxRelay,
    kafka_bootstrap: str,
    run_id: str,
) -> None:
    """Every Closed is produced before its Opened (the notification service's DeliverySucceeded before
    OrderPlaced): all of them are handled once, after their Opened, and nothing is dead-lettered. The
    opened topic keeps moving while the closed ones wait."""
    namespace, relay = f"ns{run_id}.", namespaced_relay
    consumer = EventConsumer(
        relay.service,
        uow_factory(engine, relay.service),
        {Opened: record_opened, Closed: record_closed},
        RetryPolicy(first_delay=0.2, max_delay=1),
    )
    broker = create_broker(kafka_bootstrap, "test")
    subscribe(broker, consumer, ["test.opened", "test.closed"], namespace)
    orders = [uuid.uuid4() for _ in range(20)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await broker.start()
    await producer.start()
    try:
        for order_id in orders:
            closed = Envelope.wrap(Closed(order_id=order_id, note=f"closed-{order_id}"), "test")
            await producer.send_and_wait(namespace + "test.closed", closed.to_bytes(), key=order_id.bytes)
        for order_id in orders:
            opened = Envelope.wrap(Opened(order_id=order_id, note=f"opened-{order_id}"), "test")
            await producer.send_and_wait(namespace + "test.opened", opened.to_bytes(), key=order_id.bytes)

        async def all_closed() -> bool:
            notes = await notes_in_order(engine)
            return sum(note.startswith("closed-") for note in notes) == len(orders)

        await eventually(all_closed, timeout=60)
    finally:
        await producer.stop()
        await broker.stop()

    notes = await notes_in_order(engine)
    assert len(notes) == len(set(notes)) == 2 * len(orders)
    for order_id in orders:
        assert notes.index(f"opened-{order_id}") < notes.index(f"closed-{order_id}")
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.topic, outbox.c.headers))).all()
    assert {row.topic for row in rows} == {retry(relay.service)}  # parked copies only: no dead letter
    # they remember where they came from as the relay names it, without the namespace
    assert {row.headers["retry-topic"] for row in rows} == {"test.closed"}


async def test_on_kafka_a_namespaced_consumers_dead_letter_lands_on_its_namespaced_dlq_and_replays_there(
    engine,  # type: ignore[no-untyped-def]
    namespaced_relay: OutboxRelay,
    kafka_bootstrap: str,
    run_id: str,
) -> None:
    """The relay prefixes the namespace to every topic it publishes to, so the consumer names dead
    letters without it (it once wrote `<ns><ns>test.closed.dlq`, a topic nobody reads). `faka-dlq`
    with the namespace lists the letter and replays it to the topic it came from."""
    namespace, relay = f"ns{run_id}.", namespaced_relay
    consumer = EventConsumer(relay.service, uow_factory(engine, relay.service), {Opened: record_opened})
    broker = create_broker(kafka_bootstrap, "test")
    subscribe(broker, consumer, ["test.opened"], namespace)
    key = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await broker.start()
    try:
        await producer.send_and_wait(namespace + "test.opened", b"{not json", key=key)

        async def dead_lettered() -> list:  # type: ignore[type-arg]
            return await read_dead_letters(kafka_bootstrap, namespace + dead_letter("test.opened"))

        [letter] = await eventually(dead_lettered, timeout=30)
        assert letter.origin == "test.opened" and letter.value == b"{not json"
        assert await replay_dead_letters(kafka_bootstrap, [letter], namespace) == 1

        async def dead_lettered_again() -> bool:
            return len(await dead_lettered()) == 2  # replayed to its own topic, and refused again there

        await eventually(dead_lettered_again, timeout=30)
    finally:
        await broker.stop()
        await producer.stop()


async def test_concurrent_consumption_keeps_each_keys_order_and_takes_each_effect_once(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    """For handlers with outside effects (emails): a batch is handled a transaction per record, keys side
    by side, each key's records in order; a redelivered batch changes nothing."""
    in_flight, most = 0, 0

    async def slow_effect(event: Opened, uow: UnitOfWork) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await record_opened(event, uow)

    consumer = EventConsumer(
        "concurrent", uow_factory(engine, "concurrent"), {Opened: slow_effect}, batch_size=64, concurrency=4
    )
    keys = [uuid.uuid4() for _ in range(8)]
    batch = [
        record(Opened(order_id=key, note=f"{key.hex[:6]}-{i}"), "test.opened", offset)
        for offset, (i, key) in enumerate((i, key) for i in range(5) for key in keys)
    ]
    assert await consumer.consume_concurrently(batch) == ["handled"] * 40
    assert await consumer.consume_concurrently(batch) == ["duplicate"] * 40
    assert most == 4  # four keys at a time, never more
    notes = await notes_in_order(engine)
    assert len(notes) == 40
    for key in keys:
        assert [n for n in notes if n.startswith(key.hex[:6])] == [f"{key.hex[:6]}-{i}" for i in range(5)]


async def test_records_whose_effects_stay_in_the_database_go_first_in_one_transaction_each_key_in_order(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    """`together` types (effects all in the unit of work): each key's leading records of them share one
    transaction before the rest of the batch; a record after another type's keeps its key's order and its
    own transaction; a redelivered batch changes nothing."""

    async def noted_in(event: Opened | Closed, uow: UnitOfWork) -> None:
        txid = await uow.session.scalar(text("SELECT txid_current()"))
        await uow.session.execute(
            insert(effects).values(order_id=str(event.order_id), note=f"{event.note}@{txid}")
        )

    consumer = EventConsumer(
        "together",
        uow_factory(engine, "together"),
        {Opened: noted_in, Closed: noted_in},
        batch_size=64,
        concurrency=4,
        together=[Opened],
    )
    a, b = uuid.uuid4(), uuid.uuid4()
    sent = [
        (Opened(order_id=a, note="a1"), "test.opened"),
        (Closed(order_id=a, note="a2"), "test.opened"),
        (Opened(order_id=b, note="b1"), "test.opened"),
        (Opened(order_id=a, note="a3"), "test.opened"),
        (Opened(order_id=b, note="b2"), "test.opened"),
    ]
    batch = [
        record(message, topic, offset, {"type": message.type_name.encode()})
        for offset, (message, topic) in enumerate(sent)
    ]
    assert await consumer.consume_concurrently(batch) == ["handled"] * 5
    assert await consumer.consume_concurrently(batch) == ["duplicate"] * 5
    noted = [note.split("@") for note in await notes_in_order(engine)]
    txid = {note: int(tx) for note, tx in noted}
    assert len(noted) == 5
    assert txid["a1"] == txid["b1"] == txid["b2"]  # the leading ones: one transaction
    assert len({txid["a1"], txid["a2"], txid["a3"]}) == 3  # after a Closed, a3 waits for it, alone
    order = [note for note, _ in noted]
    assert order.index("a1") < order.index("a2") < order.index("a3")
    assert order.index("b1") < order.index("b2")


class Paid(Message):
    """A second type whose effects stay in the database (an OrderPaid whose notice is stored, say)."""

    type_name: ClassVar[str] = "TestPaid"
    topic: ClassVar[str] = "test.opened"
    order_id: uuid.UUID
    note: str


async def test_leading_records_skip_records_nobody_handles_and_reach_batch_handlers_grouped_by_type(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    """A record of a type the consumer has no handler for (an OrderApproved notification skips) does not
    end its key's leading records; the leading records reach each type's batch handler together, every
    key's first before any key's second, so each key keeps its order."""
    calls: list[tuple[str, list[str]]] = []

    def many(kind: str):  # type: ignore[no-untyped-def]
        async def handle(events: list[Opened | Paid], uow: UnitOfWork) -> None:
            calls.append((kind, [event.note for event in events]))
            txid = await uow.session.scalar(text("SELECT txid_current()"))
            await uow.session.execute(
                insert(effects),
                [{"order_id": str(event.order_id), "note": f"{event.note}@{txid}"} for event in events],
            )

        return handle

    async def alone(event: Opened | Paid, uow: UnitOfWork) -> None:
        raise AssertionError(f"{event.note} was handled alone")

    consumer = EventConsumer(
        "grouped",
        uow_factory(engine, "grouped"),
        {Opened: alone, Paid: alone},
        batch_size=64,
        batch_handlers={Opened: many("opened"), Paid: many("paid")},
        concurrency=4,
        together=[Opened, Paid],
    )
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    nobodys = {"type": b"TestNobodyHandlesThis"}
    sent: list[tuple[Message, dict[str, bytes] | None]] = [
        (Opened(order_id=a, note="a1"), None),
        (Closed(order_id=a, note="skipped"), nobodys),
        (Paid(order_id=a, note="a2"), None),
        (Paid(order_id=b, note="b1"), None),
        (Opened(order_id=c, note="c1"), None),
        (Paid(order_id=c, note="c2"), None),
    ]
    batch = [
        record(message, "test.opened", offset, headers or {"type": message.type_name.encode()})
        for offset, (message, headers) in enumerate(sent)
    ]
    assert await consumer.consume_concurrently(batch) == ["handled", "ignored"] + ["handled"] * 4
    assert calls == [("opened", ["a1", "c1"]), ("paid", ["b1", "a2", "c2"])]
    assert await consumer.consume_concurrently(batch) == ["duplicate", "ignored"] + ["duplicate"] * 4
    noted = [note.split("@") for note in await notes_in_order(engine)]
    assert len({tx for _, tx in noted}) == 1  # all in one transaction
    order = [note for note, _ in noted]
    assert order.index("a1") < order.index("a2") and order.index("c1") < order.index("c2")


async def test_a_record_whose_key_holds_a_nul_byte_is_still_dead_lettered_and_parked(
    engine,  # type: ignore[no-untyped-def]
) -> None:
    """Keys are bytes on Kafka but text in the outbox, and Postgres refuses NUL in text: a binary key must
    not make the dead letter (or the parked copy) unwritable, which would hold up the partition."""
    consumer = opener_and_closer(engine, "nulkey")
    binary_key = b"\x00\x01order\xff"
    garbage = Delivery("test.closed", 0, 1, binary_key, b"{not json")
    assert await consumer.consume(garbage) == "dead_lettered"
    early = record(Closed(order_id=uuid.uuid4(), note="early"), "test.closed")
    parked = Delivery(early.topic, 0, 2, binary_key, early.value)
    assert await consumer.consume(parked) == "deferred"
    async with engine.connect() as connection:
        keys = list((await connection.execute(select(outbox.c.key).order_by(outbox.c.id))).scalars())
    assert keys == ["\ufffd\x01order\ufffd"] * 2
