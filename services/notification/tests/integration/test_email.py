"""The order_delivered email end to end against a real Postgres and a real SMTP server (aiosmtpd).

Needs DATABASE_URL (a Postgres server URL; a fresh database is created and dropped). Inventory is another
service, so its key lookup is an in-memory fake passed through bootstrap."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, cast
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from faka_common.breakers import close_breakers
from faka_common.contracts import DeliverySucceeded, Envelope, OrderPaid, OrderPlaced
from faka_common.errors import NotFound
from faka_common.messaging.consumer import Delivery, EventConsumer
from faka_common.testing import eventually, migrated_database, statements_run
from notification.adapters.in_site_messages import SqlMessageStore
from notification.bootstrap import Service, bootstrap
from notification.config import MIGRATIONS, Settings
from notification.domain.model import BuyerContactMissing, NotificationError, OrderKeys

pytestmark = pytest.mark.integration

KEY = "KEY-7F3A-99QX-ZZ01"


class Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(cast(EmailMessage, message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


class FakeKeys:
    """Inventory's key lookup, in memory."""

    def __init__(self) -> None:
        self.orders: dict[UUID, OrderKeys] = {}
        self.calls = 0

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        self.calls += 1
        if order_id not in self.orders:
            raise NotFound(f"order {order_id} owns no keys")
        return self.orders[order_id]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with migrated_database("faka_notification_test", MIGRATIONS) as url:
        yield url


@pytest.fixture
async def service(database: str, smtp: tuple[Collector, int]) -> AsyncIterator[tuple[Service, FakeKeys]]:
    keys = FakeKeys()
    # its own namespace: the channel breakers (shared through Redis) are this test's alone
    settings = Settings(database_url=database, smtp_port=smtp[1], kafka_namespace=f"t{uuid4().hex}.")
    svc = bootstrap(settings, keys=keys)
    try:
        yield svc, keys
    finally:
        await close_breakers(svc.breakers)
        await svc.runtime.engine.dispose()


async def _handle(svc: Service, message: OrderPlaced | DeliverySucceeded) -> None:
    async with svc.uow() as uow:
        await svc.handlers()[type(message)](message, uow)
        await uow.commit()


def _placed(order_id: UUID, locale: str = "en") -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        order_no=f"F{order_id.hex[:12].upper()}",
        product_id=uuid4(),
        product_title="Test Licence",
        quantity=1,
        amount=990,
        currency="CNY",
        buyer_email="buyer@example.com",
        locale=locale,
    )


def _delivered(order_id: UUID) -> DeliverySucceeded:
    return DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)


async def _rows(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _to(collector: Collector, order_no: str) -> list[EmailMessage]:
    return [m for m in collector.messages if order_no in str(m["Subject"])]


async def test_delivered_order_gets_exactly_one_email_with_its_key(
    service: tuple[Service, FakeKeys], smtp: tuple[Collector, int], database: str
) -> None:
    svc, keys = service
    collector = smtp[0]
    order_id = uuid4()
    placed = _placed(order_id, locale="en")
    keys.orders[order_id] = OrderKeys(order_id, [KEY], "Redeem it in the app.")

    await _handle(svc, placed)
    await _handle(svc, _delivered(order_id))

    sent = _to(collector, placed.order_no)
    assert len(sent) == 1
    email = sent[0]
    assert email["To"] == "buyer@example.com"
    assert email.get_content_type() == "multipart/alternative"
    text, html = email.get_body(("plain",)), email.get_body(("html",))
    assert text is not None and html is not None
    assert KEY in text.get_content() and KEY in html.get_content()
    assert placed.order_no in text.get_content()

    rows = await _rows(database, "SELECT * FROM notifications WHERE order_id = $1", order_id)
    assert sorted(r["channel"] for r in rows) == ["email", "in_site"]
    [row] = [r for r in rows if r["channel"] == "email"]
    assert (row["status"], row["attempts"], row["template"], row["channel"]) == (
        "sent",
        1,
        "order_delivered",
        "email",
    )
    assert row["sent_at"] is not None
    outbox = await _rows(database, "SELECT type, value FROM outbox WHERE key = $1", str(order_id))
    assert [r["type"] for r in outbox] == ["NotificationSent", "NotificationSent"]
    assert all(KEY.encode() not in r["value"] for r in outbox)
    [page] = await _rows(database, "SELECT subject, body FROM in_site_messages WHERE order_id = $1", order_id)
    assert placed.order_no in page["subject"] and KEY not in page["body"]

    # the same order again (another DeliverySucceeded, another event id): still one email, no key lookup
    await _handle(svc, _delivered(order_id))
    assert len(_to(collector, placed.order_no)) == 1
    assert keys.calls == 1
    assert len(await _rows(database, "SELECT 1 FROM outbox WHERE key = $1", str(order_id))) == 2


async def test_through_the_consumer_redelivery_and_a_second_event_send_once(
    service: tuple[Service, FakeKeys], smtp: tuple[Collector, int], database: str
) -> None:
    svc, keys = service
    collector = smtp[0]
    order_id = uuid4()
    placed = _placed(order_id, locale="zh-CN")
    keys.orders[order_id] = OrderKeys(order_id, [KEY, KEY + "-2"])
    consumer = EventConsumer("notification", svc.uow, svc.handlers())

    def record(message: OrderPlaced | DeliverySucceeded, envelope: Envelope | None = None) -> Delivery:
        envelope = envelope or Envelope.wrap(message, "test")
        return Delivery(message.topic, 0, 0, message.key.encode(), envelope.to_bytes())

    assert await consumer.consume(record(placed)) == "handled"
    first = Envelope.wrap(_delivered(order_id), "delivery")
    assert await consumer.consume(record(_delivered(order_id), first)) == "handled"
    assert await consumer.consume(record(_delivered(order_id), first)) == "duplicate"
    assert await consumer.consume(record(_delivered(order_id))) == "handled"

    sent = _to(collector, placed.order_no)
    assert len(sent) == 1
    assert "订单" in str(sent[0]["Subject"])
    body = sent[0].get_body(("plain",))
    assert body is not None and KEY in body.get_content() and KEY + "-2" in body.get_content()


async def test_delivery_before_order_placed_raises_and_leaves_nothing(
    service: tuple[Service, FakeKeys], smtp: tuple[Collector, int], database: str
) -> None:
    svc, _ = service
    order_id = uuid4()
    with pytest.raises(BuyerContactMissing):
        await _handle(svc, _delivered(order_id))
    assert await _rows(database, "SELECT 1 FROM notifications WHERE order_id = $1", order_id) == []


async def test_smtp_failure_raises_and_rolls_back(database: str) -> None:
    keys = FakeKeys()
    settings = Settings(
        database_url=database, smtp_port=_free_port(), smtp_timeout=2, kafka_namespace=f"t{uuid4().hex}."
    )
    svc = bootstrap(settings, keys=keys)
    try:
        order_id = uuid4()
        keys.orders[order_id] = OrderKeys(order_id, [KEY])
        await _handle(svc, _placed(order_id))
        with pytest.raises(NotificationError) as failure:
            await _handle(svc, _delivered(order_id))
        assert KEY not in str(failure.value)
        assert await _rows(database, "SELECT 1 FROM notifications WHERE order_id = $1", order_id) == []
        assert await _rows(database, "SELECT 1 FROM outbox WHERE key = $1", str(order_id)) == []
    finally:
        await close_breakers(svc.breakers)
        await svc.runtime.engine.dispose()


async def test_deliveries_that_arrive_before_their_orders_are_emailed_once_each_with_no_dead_letter(
    database: str, smtp: tuple[Collector, int]
) -> None:
    """Under load a DeliverySucceeded can reach notification before its order's OrderPlaced (two topics,
    no order between them): it waits on the retry topic, and every buyer still gets one email."""
    collector, port = smtp
    keys = FakeKeys()
    namespace = f"t{uuid4().hex}."
    settings = Settings(database_url=database, smtp_port=port, kafka_namespace=namespace)
    svc = bootstrap(settings, keys=keys)
    orders = [uuid4() for _ in range(8)]
    for order_id in orders:
        keys.orders[order_id] = OrderKeys(order_id, [f"{KEY}-{order_id.hex[:6]}"])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await svc.runtime.start()
    await producer.start()
    try:
        for message in [_delivered(o) for o in orders] + [_placed(o) for o in orders]:
            envelope = Envelope.wrap(message, "test")
            await producer.send_and_wait(
                namespace + message.topic, envelope.to_bytes(), key=message.key.encode()
            )

        async def everyone_emailed() -> bool:
            return all(_to(collector, _placed(o).order_no) for o in orders)

        await eventually(everyone_emailed, timeout=60)
    finally:
        await producer.stop()
        await svc.runtime.stop()
        await close_breakers(svc.breakers)
    for order_id in orders:
        [email] = _to(collector, _placed(order_id).order_no)
        body = email.get_body(("plain",))
        assert body is not None and f"{KEY}-{order_id.hex[:6]}" in body.get_content()
    topics = {row["topic"] for row in await _rows(database, "SELECT DISTINCT topic FROM outbox")}
    assert not {t for t in topics if t.endswith(".dlq")}
    assert "notification.retry" in topics  # some did wait


async def test_an_in_site_message_is_stored_once_per_order_and_template_and_never_under_another_shop(
    database: str, service: tuple[Service, FakeKeys]
) -> None:
    store = SqlMessageStore(service[0].runtime.readers)
    shop, other_shop, order_id = uuid4(), uuid4(), uuid4()
    first = await store.put(shop, order_id, "order_paid", "en", "Paid", "Your payment arrived")
    again = await store.put(shop, order_id, "order_paid", "en", "Paid again", "A retry")
    assert again == first
    with pytest.raises(LookupError, match="another shop's"):
        await store.put(other_shop, order_id, "order_paid", "en", "Paid", "Not yours")
    stored = await _rows(
        database, "SELECT id, shop_id, body FROM in_site_messages WHERE order_id = $1", order_id
    )
    assert [(r["id"], r["shop_id"], r["body"]) for r in stored] == [(first, shop, "Your payment arrived")]


def _paid(placed: OrderPlaced) -> OrderPaid:
    return OrderPaid(
        order_id=placed.order_id,
        order_no=placed.order_no,
        product_id=placed.product_id,
        quantity=1,
        amount=placed.amount,
        currency=placed.currency,
        provider="sandbox",
        trade_no=f"T{placed.order_id.hex}",
        paid_at=datetime.now(UTC),
    )


def _typed(message: OrderPlaced | OrderPaid | DeliverySucceeded) -> Delivery:
    """The record as the relay publishes it: keyed by the order, its type in a header."""
    return Delivery(
        message.topic, 0, 0, message.key.encode(), Envelope.wrap(message, "order").to_bytes(),
        {"type": message.type_name.encode()},
    )  # fmt: skip


async def _paid_in_a_batch(
    svc: Service, database: str, smtp: tuple[Collector, int], email: bool = False
) -> tuple[list[str], set[datetime], list[asyncpg.Record]]:
    """Three orders placed and paid, handed to the consumer as one batch, then the same batch again: the
    outcomes, the transaction start times of their inbox rows, and the paid notices' order-page messages
    (`email`: each buyer has one e-mail of it, else none)."""
    placed = [_placed(uuid4()) for _ in range(3)]
    batch = [_typed(message) for p in placed for message in (p, _paid(p))]
    consumer = svc.consumer()
    outcomes = await consumer.consume_concurrently(batch)
    assert await consumer.consume_concurrently(batch) == ["duplicate"] * 6
    events = [Envelope.from_bytes(record.value).event_id for record in batch]
    started = await _rows(database, "SELECT processed_at FROM inbox WHERE event_id = ANY($1)", events)
    orders = [p.order_id for p in placed]
    stored = await _rows(
        database,
        "SELECT order_id, template FROM in_site_messages WHERE order_id = ANY($1) ORDER BY order_id",
        orders,
    )
    emailed = [p for p in placed if _to(smtp[0], p.order_no)]
    assert not emailed or email, "the paid notice e-mailed by its default route"
    assert all(len(_to(smtp[0], p.order_no)) == 1 for p in emailed), "a paid notice e-mailed twice"
    assert len(emailed) == (len(placed) if email else 0)
    return outcomes, {row["processed_at"] for row in started}, stored


async def test_placements_and_order_page_paid_notices_of_a_batch_take_one_transaction_and_store_each_once(
    database: str, service: tuple[Service, FakeKeys], smtp: tuple[Collector, int]
) -> None:
    """The paid notice goes to the order page alone (its default route): a batch's contacts and paid
    notices are kept in one transaction (its inbox rows share the transaction's start), once each, by
    one statement for all the contacts, one for all the messages and one for all the tries; each try
    names its message, and each notice is announced."""
    async with statements_run(service[0].runtime.engine) as sent:
        outcomes, started, stored = await _paid_in_a_batch(service[0], database, smtp)
    assert outcomes == ["handled"] * 6
    assert len(started) == 1
    assert [row["template"] for row in stored] == ["order_paid"] * 3
    assert len({row["order_id"] for row in stored}) == 3
    for table in ("buyer_contacts", "in_site_messages", "notifications"):
        writes = [q for q in sent if f"INSERT INTO {table}" in q]
        assert len(writes) == 1, f"{table}: {len(writes)} statements for a batch of three"
    assert len([q for q in sent if "pg_advisory_xact_lock" in q]) == 1
    orders = [row["order_id"] for row in stored]
    tries = await _rows(
        database,
        "SELECT n.order_id, n.channel, n.status, n.attempts, n.provider_message_id, m.id AS message "
        "FROM notifications n JOIN in_site_messages m USING (order_id, template) "
        "WHERE n.template = 'order_paid' AND n.order_id = ANY($1)",
        orders,
    )
    assert {row["order_id"] for row in tries} == {row["order_id"] for row in stored}
    assert all((row["channel"], row["status"], row["attempts"]) == ("in_site", "sent", 1) for row in tries)
    assert all(row["provider_message_id"] == str(row["message"]) for row in tries)
    announced = await _rows(
        database,
        "SELECT key FROM outbox WHERE type = 'NotificationSent' AND key = ANY($1)",
        [str(order) for order in orders],
    )
    assert sorted(row["key"] for row in announced) == sorted(str(order) for order in orders)


async def test_in_a_batch_a_paid_notice_sent_before_is_skipped_and_one_without_a_contact_waits_alone(
    database: str, service: tuple[Service, FakeKeys], smtp: tuple[Collector, int]
) -> None:
    """A second payment event of an order whose paid notice is on its page already stores nothing more;
    a payment whose order's contact has not arrived sends the batch's records one at a time, where that
    one is parked (no contact yet) and the others take effect."""
    svc = service[0]
    consumer = svc.consumer()
    sent_before, later, last, unknown = (_placed(uuid4()) for _ in range(4))
    first = [_typed(sent_before), _typed(_paid(sent_before)), _typed(later), _typed(last)]
    assert await consumer.consume_concurrently(first) == ["handled"] * 4
    async with statements_run(svc.runtime.engine) as sent:
        again = [_typed(_paid(sent_before)), _typed(_paid(later))]
        assert await consumer.consume_concurrently(again) == ["handled"] * 2
    assert len([q for q in sent if "INSERT INTO notifications" in q]) == 1  # the batch's, for `later` alone
    waiting = [_typed(_paid(unknown)), _typed(_paid(last))]
    assert await consumer.consume_concurrently(waiting) == ["deferred", "handled"]
    orders = [sent_before.order_id, later.order_id, last.order_id, unknown.order_id]
    tries = await _rows(
        database,
        "SELECT order_id, attempts FROM notifications WHERE template = 'order_paid' AND order_id = ANY($1)",
        orders,
    )
    assert {row["order_id"]: row["attempts"] for row in tries} == {
        sent_before.order_id: 1,
        later.order_id: 1,
        last.order_id: 1,
    }
    announced = await _rows(
        database,
        "SELECT key FROM outbox WHERE type = 'NotificationSent' AND key = ANY($1)",
        [str(order) for order in orders],
    )
    assert sorted(row["key"] for row in announced) == sorted(str(order) for order in orders[:3])


async def test_paid_notices_routed_beyond_the_order_page_share_the_batch_and_each_is_emailed_once(
    database: str, smtp: tuple[Collector, int]
) -> None:
    """Routed to the buyer's e-mail too, a batch's paid notices are still kept in its one transaction with
    the placements, and each buyer gets one e-mail of it (the batch again sends nothing more)."""
    settings = Settings(
        database_url=database,
        smtp_port=smtp[1],
        kafka_namespace=f"t{uuid4().hex}.",
        notification_routes={"order_paid": [["in_site"], ["email"]]},
    )
    svc = bootstrap(settings, keys=FakeKeys())
    try:
        outcomes, started, stored = await _paid_in_a_batch(svc, database, smtp, email=True)
    finally:
        await close_breakers(svc.breakers)
        await svc.runtime.engine.dispose()
    assert outcomes == ["handled"] * 6
    assert len(started) == 1
    assert [row["template"] for row in stored] == ["order_paid"] * 3


def _delivered_record(order_id: UUID) -> Delivery:
    return _typed(_delivered(order_id))


async def _placed_orders(
    svc: Service, keys: FakeKeys, count: int, email: str = "buyer@example.com"
) -> list[OrderPlaced]:
    """`count` orders placed (their contacts kept), each with a key of its own in inventory."""
    placed = []
    for index in range(count):
        order = _placed(uuid4())
        order = order.model_copy(update={"buyer_email": email.replace("@", f"+{index}@")})
        keys.orders[order.order_id] = OrderKeys(order.order_id, [f"{KEY}-{order.order_id.hex[:8]}"])
        await _handle(svc, order)
        placed.append(order)
    return placed


async def _delivered_notices(database: str, orders: list[UUID]) -> tuple[list[Any], list[str]]:
    """The orders' delivered notices as stored: (order, channel, status, attempts) of each row, sorted,
    and the order of each NotificationSent in the outbox, sorted."""
    tries = await _rows(
        database,
        "SELECT order_id, channel, status, attempts FROM notifications "
        "WHERE template = 'order_delivered' AND order_id = ANY($1)",
        orders,
    )
    announced = await _rows(
        database,
        "SELECT key FROM outbox WHERE type = 'NotificationSent' AND key = ANY($1)",
        [str(o) for o in orders],
    )
    return (
        sorted((row["order_id"], row["channel"], row["status"], row["attempts"]) for row in tries),
        sorted(row["key"] for row in announced),
    )


def _emailed_once_with_its_key(collector: Collector, order: OrderPlaced) -> None:
    sent = _to(collector, order.order_no)
    assert len(sent) == 1, f"{order.order_no}: {len(sent)} e-mails"
    assert sent[0]["To"] == order.buyer_email
    body = sent[0].get_body(("plain",))
    assert body is not None and f"{KEY}-{order.order_id.hex[:8]}" in body.get_content()


async def test_a_batchs_delivered_notices_take_one_transaction_and_each_buyer_gets_one_email_with_its_keys(
    database: str, service: tuple[Service, FakeKeys], smtp: tuple[Collector, int]
) -> None:
    """A batch's deliveries are notified in one transaction (one statement for their locks, one for their
    in-site messages, one for their tries): each buyer gets one e-mail with its own key and one order-page
    message, each announced. The batch again is duplicates, and new events about the same deliveries
    send nothing and read no key."""
    svc, keys = service
    placed = await _placed_orders(svc, keys, 3)
    batch = [_delivered_record(order.order_id) for order in placed]
    consumer = svc.consumer()
    async with statements_run(svc.runtime.engine) as sent:
        assert await consumer.consume_concurrently(batch) == ["handled"] * 3
    for order in placed:
        _emailed_once_with_its_key(smtp[0], order)
    for table in ("in_site_messages", "notifications"):
        writes = [q for q in sent if f"INSERT INTO {table}" in q]
        assert len(writes) == 1, f"{table}: {len(writes)} statements for a batch of three"
    assert len([q for q in sent if "pg_advisory_xact_lock" in q]) == 1
    events = [Envelope.from_bytes(record.value).event_id for record in batch]
    started = await _rows(database, "SELECT processed_at FROM inbox WHERE event_id = ANY($1)", events)
    assert len({row["processed_at"] for row in started}) == 1
    orders = [order.order_id for order in placed]
    tries, announced = await _delivered_notices(database, orders)
    assert tries == sorted(
        (order, channel, "sent", 1) for order in orders for channel in ("email", "in_site")
    )
    assert announced == sorted(str(o) for o in orders for _ in range(2))

    assert await consumer.consume_concurrently(batch) == ["duplicate"] * 3
    reads = keys.calls
    again = [_delivered_record(order.order_id) for order in placed]
    assert await consumer.consume_concurrently(again) == ["handled"] * 3
    assert keys.calls == reads
    for order in placed:
        _emailed_once_with_its_key(smtp[0], order)


class Refusing(Collector):
    """An SMTP server that refuses the next e-mail to an address for a while (451: try again later)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, int] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse.get(address, 0) > 0:
            self.refuse[address] -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_an_email_refused_in_a_batch_is_retried_alone_and_the_batchs_others_are_not_sent_twice(
    database: str,
) -> None:
    """One buyer's mail server refuses for now: the batch's other e-mails have gone, so what it tried is
    kept and the batch's records are handled one at a time, where the sent ones find themselves sent and
    the refused one is sent on its retry. Every buyer gets exactly one e-mail, each notice is announced
    once a channel, and the refused e-mail's row counts its two tries."""
    collector = Refusing()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    keys = FakeKeys()
    settings = Settings(
        database_url=database,
        smtp_port=port,
        kafka_namespace=f"t{uuid4().hex}.",
        channel_retry_attempts=1,
        channel_breaker_threshold=100,
    )
    svc = bootstrap(settings, keys=keys)
    try:
        placed = await _placed_orders(svc, keys, 4, email="refused@example.com")
        refused = placed[2]
        collector.refuse[refused.buyer_email] = 1
        batch = [_delivered_record(order.order_id) for order in placed]
        assert await svc.consumer().consume_concurrently(batch) == ["handled"] * 4
    finally:
        controller.stop()
        await close_breakers(svc.breakers)
        await svc.runtime.engine.dispose()
    assert collector.refuse[refused.buyer_email] == 0
    for order in placed:
        _emailed_once_with_its_key(collector, order)
    orders = [order.order_id for order in placed]
    tries, announced = await _delivered_notices(database, orders)
    assert tries == sorted(
        (order, channel, "sent", 2 if (order, channel) == (refused.order_id, "email") else 1)
        for order in orders
        for channel in ("email", "in_site")
    )
    assert announced == sorted(str(o) for o in orders for _ in range(2))
    stored = await _rows(database, "SELECT order_id FROM in_site_messages WHERE order_id = ANY($1)", orders)
    assert sorted(row["order_id"] for row in stored) == sorted(orders)
