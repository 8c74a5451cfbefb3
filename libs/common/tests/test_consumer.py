"""EventConsumer dispatch rules, with a hand-written fake unit of work (no I/O)."""

import logging
import uuid
from typing import Any

import pytest
from faka_common.contracts import OrderPlaced, RiskDecided
from faka_common.contracts.envelope import Envelope
from faka_common.messaging.consumer import Delivery, EventConsumer, RetryPolicy
from opentelemetry import trace
from prometheus_client import REGISTRY
from sqlalchemy.exc import DBAPIError


class FakeUow:
    seen: set[tuple[str, uuid.UUID]] = set()

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    async def __aenter__(self) -> "FakeUow":
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    async def claim_inbox(self, consumer: str, envelope: Envelope) -> bool:
        key = (consumer, envelope.event_id)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    async def claim_inboxes(self, consumer: str, envelopes: list[Envelope]) -> set[uuid.UUID]:
        return {envelope.event_id for envelope in envelopes if await self.claim_inbox(consumer, envelope)}

    async def add_raw(self, **row: Any) -> None:
        self.log.append(("dead_letter", row))

    async def commit(self) -> None:
        self.log.append(("commit",))


def consumer_with(log: list[Any], handler: Any) -> EventConsumer:  # type: ignore[type-arg]
    return EventConsumer("t", lambda: FakeUow(log), {RiskDecided: handler}, RetryPolicy(3, 0.0))  # type: ignore[arg-type,return-value]


async def never_called(event: Any, uow: Any) -> None:
    raise AssertionError("handler must not run")


def record(value: bytes) -> Delivery:
    return Delivery("risk.events", 0, 5, b"k", value)


async def test_message_types_without_a_handler_are_ignored() -> None:
    log: list[Any] = []
    placed = OrderPlaced(
        order_id=uuid.uuid4(),
        order_no="F",
        product_id=uuid.uuid4(),
        product_title="t",
        quantity=1,
        amount=1,
        currency="CNY",
        buyer_email="a@b.c",
    )
    outcome = await consumer_with(log, None).consume(record(Envelope.wrap(placed, "order").to_bytes()))
    assert outcome == "ignored" and log == []


async def test_handler_runs_once_and_a_redelivery_is_a_duplicate() -> None:
    log: list[Any] = []
    calls: list[Any] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        calls.append(event.verdict)

    raw = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk").to_bytes()
    consumer = consumer_with(log, handler)
    assert await consumer.consume(record(raw)) == "handled"
    assert await consumer.consume(record(raw)) == "duplicate"
    assert calls == ["approve"]


async def test_an_unwanted_message_is_ignored_before_any_transaction_alone_or_in_a_batch() -> None:
    log: list[Any] = []
    calls: list[Any] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        calls.append(event.verdict)

    consumer = EventConsumer(
        "t",
        lambda: FakeUow(log),  # type: ignore[arg-type,return-value]
        {RiskDecided: handler},
        RetryPolicy(3, 0.0),
        batch_size=3,
        wants={RiskDecided: lambda event: event.verdict == "review"},
    )
    approved, held, approved_too = (
        Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict=verdict), "risk").to_bytes()
        for verdict in ("approve", "review", "approve")
    )
    before = (
        REGISTRY.get_sample_value(
            "faka_consumer_messages_total", {"consumer": "t", "type": "RiskDecided", "outcome": "ignored"}
        )
        or 0.0
    )
    assert await consumer.consume(record(approved)) == "ignored"
    assert log == [] and calls == []
    outcomes = await consumer.consume_batch([record(approved_too), record(held), record(approved)])
    assert outcomes == ["ignored", "handled", "ignored"]
    assert calls == ["review"] and log == [("commit",)]
    after = REGISTRY.get_sample_value(
        "faka_consumer_messages_total", {"consumer": "t", "type": "RiskDecided", "outcome": "ignored"}
    )
    assert after == before + 3


async def test_payload_that_breaks_its_contract_is_dead_lettered_with_the_field_named() -> None:
    log: list[Any] = []
    envelope = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk")
    broken = envelope.model_copy(update={"payload": {**envelope.payload, "verdict": "maybe"}})
    outcome = await consumer_with(log, never_called).consume(record(broken.to_bytes()))
    assert outcome == "dead_lettered"
    dead = log[0][1]
    assert dead["topic"] == "risk.events.dlq"
    assert dead["headers"]["dlq-reason"].startswith("invalid RiskDecided: verdict")
    assert dead["value"] == broken.to_bytes()


async def test_a_handler_failing_every_attempt_is_tried_three_times_then_dead_lettered() -> None:
    log: list[Any] = []
    attempts: list[int] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        attempts.append(1)
        raise ValueError("downstream broke")

    # each attempt is a new unit of work, so the inbox claim of a failed attempt is not kept
    FakeUow.seen = set()
    consumer = EventConsumer("t", lambda: ForgetfulUow(log), {RiskDecided: handler}, RetryPolicy(3, 0.0))  # type: ignore[arg-type,return-value]
    raw = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="reject"), "risk").to_bytes()
    assert await consumer.consume(record(raw)) == "dead_lettered"
    assert len(attempts) == 3
    assert log[-2][1]["headers"]["dlq-reason"] == "ValueError: downstream broke"


class ForgetfulUow(FakeUow):
    async def claim_inbox(self, consumer: str, envelope: Envelope) -> bool:
        return True


async def test_handlers_see_the_envelope_of_the_message_they_handle() -> None:
    from faka_common.messaging.consumer import current_envelope

    seen: list[Envelope] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        seen.append(current_envelope.get())

    envelope = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk")
    await consumer_with([], handler).consume(record(envelope.to_bytes()))
    assert seen == [envelope]


async def test_give_up_hook_runs_in_the_dead_letter_transaction_with_the_error() -> None:
    log: list[Any] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        raise ValueError("smtp down")

    async def give_up(event: RiskDecided, error: Exception, uow: Any) -> None:
        uow.log.append(("gave_up", event.verdict, str(error)))

    consumer = EventConsumer(
        "t", lambda: ForgetfulUow(log), {RiskDecided: handler}, RetryPolicy(2, 0.0), give_up
    )  # type: ignore[arg-type,return-value]
    raw = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="review"), "risk").to_bytes()
    assert await consumer.consume(record(raw)) == "dead_lettered"
    assert [entry[0] for entry in log] == ["gave_up", "dead_letter", "commit"]
    assert log[0] == ("gave_up", "review", "smtp down")


async def test_a_handler_runs_in_the_trace_its_message_was_written_in_alone_or_in_a_batch() -> None:
    """So a consumer's log lines and the messages it publishes carry the trace id of the request that
    caused them, not that of whatever batch or lane the record came in with."""
    seen: list[str] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))

    consumer = EventConsumer(
        "traced", lambda: FakeUow([]), {RiskDecided: handler}, RetryPolicy(3, 0.0), batch_size=10
    )
    traces = [uuid.uuid4().hex for _ in range(3)]
    records = [
        Delivery(
            "risk.events",
            0,
            n,
            b"k",
            Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk").to_bytes(),
            {"traceparent": f"00-{trace_id}-{'1' * 16}-01".encode()},
        )
        for n, trace_id in enumerate(traces)
    ]
    assert await consumer.consume(records[0]) == "handled"
    assert await consumer.consume_batch(records[1:]) == ["handled", "handled"]
    assert seen == traces
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left behind


class DatabaseDownUow(ForgetfulUow):
    """Postgres gone: every commit fails as asyncpg's connect does while the server is down."""

    async def commit(self) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 15432)")


async def test_a_database_outage_in_a_handler_is_no_attempt_and_no_dead_letter() -> None:
    """The record is not at fault: it comes again (consume raises to the lanes) with no attempt counted
    and nothing written to a dead-letter topic, however often it meets the outage."""
    log: list[Any] = []
    attempts: list[int] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        attempts.append(1)

    consumer = EventConsumer("t", lambda: DatabaseDownUow(log), {RiskDecided: handler}, RetryPolicy(3, 0.0))  # type: ignore[arg-type,return-value]
    raw = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk").to_bytes()
    for _ in range(5):
        with pytest.raises(ConnectionRefusedError):
            await consumer.consume(record(raw))
    assert len(attempts) == 5  # one try per delivery: no in-place retries burnt on an outage
    assert not [entry for entry in log if entry[0] == "dead_letter"]


async def test_a_batch_meeting_an_outage_comes_again_whole_instead_of_record_by_record() -> None:
    log: list[Any] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        raise DBAPIError("SELECT 1", None, ConnectionResetError("reset"), connection_invalidated=True)

    consumer = EventConsumer(
        "t", lambda: ForgetfulUow(log), {RiskDecided: handler}, RetryPolicy(3, 0.0), batch_size=10
    )  # type: ignore[arg-type,return-value]
    records = [
        record(Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk").to_bytes())
        for _ in range(3)
    ]
    with pytest.raises(DBAPIError):
        await consumer.consume_batch(records)
    assert log == []


async def test_a_dead_letter_that_could_not_be_written_is_neither_logged_nor_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a log says happened, happened: the poison record's dead letter fails to commit (the database
    went down), so it comes again, and no 'dead letter' line or counter says otherwise."""
    log: list[Any] = []

    async def handler(event: RiskDecided, uow: Any) -> None:
        raise ValueError("a real bug")

    consumer = EventConsumer(
        "dl-down", lambda: DatabaseDownUow(log), {RiskDecided: handler}, RetryPolicy(2, 0.0)
    )  # type: ignore[arg-type,return-value]
    raw = Envelope.wrap(RiskDecided(order_id=uuid.uuid4(), verdict="approve"), "risk").to_bytes()
    written = REGISTRY.get_sample_value("faka_dead_letters_written_total", {"consumer": "dl-down"}) or 0
    with caplog.at_level(logging.INFO), pytest.raises(ConnectionRefusedError):
        await consumer.consume(record(raw))
    assert not [r for r in caplog.records if r.getMessage().startswith("dead letter")]
    assert (
        REGISTRY.get_sample_value("faka_dead_letters_written_total", {"consumer": "dl-down"}) or 0
    ) == written
    seen = REGISTRY.get_sample_value(
        "faka_consumer_messages_total",
        {"consumer": "dl-down", "type": "RiskDecided", "outcome": "dead_lettered"},
    )
    assert not seen


def test_only_servers_being_down_count_as_an_outage() -> None:
    from faka_common.messaging.consumer import dependency_down

    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("while connecting") from inner
    except RuntimeError as wrapped:
        assert dependency_down(wrapped)
    assert dependency_down(DBAPIError("x", None, Exception("gone"), connection_invalidated=True))
    assert not dependency_down(DBAPIError("x", None, Exception("unique violation")))
    assert not dependency_down(ValueError("a bug"))


async def test_the_relay_says_in_one_line_that_it_waits_for_a_server_that_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Postgres restarting is expected: a warning naming the error, not a traceback every second."""
    import asyncio
    import socket

    from faka_common.messaging.relay import OutboxRelay

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    relay = OutboxRelay(
        "down", f"postgresql://postgres@127.0.0.1:{port}/x", "127.0.0.1:1", poll_interval=0.05
    )
    with caplog.at_level(logging.INFO, logger="faka_common.messaging.relay"):
        running = asyncio.create_task(relay.run())
        while not caplog.records:
            await asyncio.sleep(0.01)
        running.cancel()
    said = caplog.records[0]
    assert said.levelno == logging.WARNING and said.exc_info is None
    assert "waits for a server that is down (ConnectionRefusedError" in said.getMessage()
