import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from faka_common.contracts import OrderPaid, OrderPlaced, registry
from faka_common.contracts.envelope import ContractError, Envelope, Message, Registry
from faka_common.contracts.order_watch import Announced, announcement, read_announcement


def placed() -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid.uuid4(),
        order_no="F1",
        product_id=uuid.uuid4(),
        product_title="Card",
        quantity=2,
        amount=200,
        currency="CNY",
        buyer_email="b@example.com",
    )


def test_envelope_round_trips_through_bytes_to_the_same_typed_message() -> None:
    message = placed()
    envelope = Envelope.wrap(message, "order")
    again = Envelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert again.open() == message
    assert again.event_id.version == 7
    assert envelope.type == "OrderPlaced" and envelope.producer == "order"


def test_kafka_key_is_the_order_id() -> None:
    message = placed()
    assert message.key == str(message.order_id)


def test_consumers_ignore_unknown_payload_fields() -> None:
    message = placed()
    envelope = Envelope.wrap(message, "order")
    payload = {**envelope.payload, "field_added_later": 1}
    assert registry.load("OrderPlaced", 1, payload) == message


def test_messages_are_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        placed().quantity = 3  # type: ignore[misc]


def test_upcasters_bring_old_versions_to_the_current_contract() -> None:
    local = Registry()

    class Renamed(Message):
        type_name: ClassVar[str] = "RenamedForTest"
        version: ClassVar[int] = 3
        topic: ClassVar[str] = "test"
        order_id: uuid.UUID
        total: int

    local.register(Renamed)

    @local.upcaster("RenamedForTest", 1)
    def v1_to_v2(p: dict) -> dict:  # type: ignore[type-arg]
        return {**p, "amount": p.pop("price")}

    @local.upcaster("RenamedForTest", 2)
    def v2_to_v3(p: dict) -> dict:  # type: ignore[type-arg]
        return {**p, "total": p.pop("amount")}

    order_id = uuid.uuid4()
    loaded = local.load("RenamedForTest", 1, {"order_id": str(order_id), "price": 5})
    assert loaded == Renamed(order_id=order_id, total=5)
    with pytest.raises(ContractError, match="newer"):
        local.load("RenamedForTest", 4, {})


def test_unknown_type_and_double_definition_are_contract_errors() -> None:
    with pytest.raises(ContractError, match="unknown"):
        registry.load("NoSuchEvent", 1, {})
    with pytest.raises(ContractError, match="defined twice"):

        class OrderPaidAgain(Message):
            type_name: ClassVar[str] = "OrderPaid"
            topic: ClassVar[str] = "x"


def test_every_registered_message_names_its_topic() -> None:
    assert OrderPaid.topic == "order.events"
    paid = OrderPaid(
        order_id=uuid.uuid4(),
        order_no="F1",
        product_id=uuid.uuid4(),
        quantity=1,
        amount=1,
        currency="CNY",
        provider="sandbox",
        trade_no="T1",
        paid_at=datetime.now(UTC),
    )
    assert Envelope.wrap(paid, "order").payload["trade_no"] == "T1"


def test_an_order_watch_announcement_tells_a_payments_time_and_a_deliverys_time_and_secret_version() -> None:
    at = datetime(2026, 12, 3, 6, 0, 0, 123456, tzinfo=UTC)
    iso = "2026-12-03T06:00:00.123456+00:00"
    assert read_announcement(announcement("paid", at)) == Announced("paid", iso)
    assert read_announcement(announcement("delivered", at, 3)) == Announced("delivered", iso, 3)
    assert read_announcement(announcement("awaiting_payment", at)) == Announced("awaiting_payment", iso)
    assert announcement("delivered", at) == "delivered"  # no version known: the page reads the order
    assert announcement("fulfilling", at, 3) == "fulfilling"  # nothing else is told
    assert read_announcement("fulfilling") == Announced("fulfilling", None, None)
    assert read_announcement(announcement("paid")) == Announced("paid", None)  # unknown time: the page reads
