"""Shop lifecycle as events: notification keeps a shops read model from merchant's ShopChanged (each event
once, through the inbox, as every consumed event), and a buyer's messages about a shop's order speak for
that shop: its name in the subject and the signature, its contact as the support contact (the platform's
when the shop names none); a shop not known yet is spoken for by the platform, as before shops.

Postgres, Kafka and SMTP (aiosmtpd) are real; inventory's key lookup is an in-memory fake.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from faka_common.breakers import close_breakers
from faka_common.contracts import DeliverySucceeded, Envelope, Message, OrderPlaced, ShopChanged
from faka_common.contracts.shops import ShopStatus
from faka_common.testing import eventually
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.domain.model import OrderKeys

from .test_channels import Mailbox, _record, _rows, database, smtp
from .test_email import FakeKeys

pytestmark = pytest.mark.integration
__all__ = ["database", "smtp"]  # the fixtures, shared with the channel tests

PLATFORM_SUPPORT = "help@platform.test"
PLATFORM_NAME = "Cards Platform"


def settings(database: str, smtp_port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database,
        "smtp_port": smtp_port,
        "smtp_timeout": 2,
        "channel_retry_backoff": 0,
        "support_contact": PLATFORM_SUPPORT,
        "platform_name": PLATFORM_NAME,
        # its own namespace: the channel breakers (shared through Redis) are this test's alone
        "kafka_namespace": f"t{uuid4().hex}.",
    }
    return Settings(**(values | overrides))


@pytest.fixture
async def service(database: str, smtp: tuple[Mailbox, int]) -> AsyncIterator[tuple[Service, FakeKeys]]:
    keys = FakeKeys()
    made = bootstrap(settings(database, smtp[1]), keys=keys)
    try:
        yield made, keys
    finally:
        await close_breakers(made.breakers)
        await made.runtime.engine.dispose()


def changed(shop_id: UUID, status: ShopStatus = "active", **values: Any) -> Envelope:
    event = ShopChanged(
        shop_id=shop_id,
        slug=values.pop("slug", f"s-{shop_id.hex[:8]}"),
        name=values.pop("name", "Game Cards"),
        status=status,
        **values,
    )
    return Envelope.wrap(event, "merchant")


async def tell(service: Service, *envelopes: Envelope) -> list[str]:
    """Hand the events to the service's own consumer, one record each, as the broker would."""
    return [await service.consumer().consume(_record(e.open(), e)) for e in envelopes]


async def shop_row(database: str, shop_id: UUID) -> list[tuple[str, str, str, str]]:
    rows = await _rows(database, "SELECT slug, name, status, contact FROM shops WHERE id = $1", shop_id)
    return [(r["slug"], r["name"], r["status"], r["contact"]) for r in rows]


async def test_a_shop_changed_adds_the_shop_once_and_a_later_one_replaces_it(
    service: tuple[Service, FakeKeys], database: str
) -> None:
    made, _ = service
    shop = uuid4()
    opened = changed(shop, slug="game-cards", contact="help@cards.test")
    renamed = changed(shop, "suspended", slug="game-cards", name="Cards & Co", contact="")

    assert await tell(made, opened, opened) == ["handled", "duplicate"]
    assert await shop_row(database, shop) == [("game-cards", "Game Cards", "active", "help@cards.test")]
    assert await tell(made, renamed, opened) == ["handled", "duplicate"]
    assert await shop_row(database, shop) == [("game-cards", "Cards & Co", "suspended", "")]
    outbox = await _rows(database, "SELECT 1 FROM outbox WHERE key = $1", str(shop))
    assert outbox == []  # keeping the read model announces nothing


SOLD_KEY = "KEY-SHOP-VOICE"


async def sell(made: Service, keys: FakeKeys, shop: UUID) -> str:
    """Place and deliver an order of the shop (its key SOLD_KEY) through the consumer; its number."""
    order_id = uuid4()
    order_no = f"F{order_id.hex[:14].upper()}"
    keys.orders[order_id] = OrderKeys(order_id, [SOLD_KEY])
    events: list[Message] = [
        OrderPlaced(
            order_id=order_id,
            shop_id=shop,
            order_no=order_no,
            product_id=uuid4(),
            product_title="Voice Licence",
            quantity=1,
            amount=990,
            currency="CNY",
            buyer_email="buyer@example.com",
            locale="en",
        ),
        DeliverySucceeded(
            order_id=order_id, shop_id=shop, delivery_id=uuid4(), mode="card_key", item_count=1
        ),
    ]
    for event in events:
        assert await made.consumer().consume(_record(event)) == "handled"
    return order_no


async def delivered_email(made: Service, keys: FakeKeys, smtp: Mailbox, shop: UUID) -> EmailMessage:
    """Place and deliver an order of the shop through the consumer; the buyer's one e-mail about it."""
    [mail] = smtp.about(await sell(made, keys, shop))
    return mail


def said(mail: EmailMessage) -> tuple[str, str, str]:
    """The e-mail's subject (unfolded: a long one is folded onto the header's next line), plain text and
    HTML."""
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    return str(mail["Subject"]).strip(), text.get_content(), html.get_content()


#: What the shop's ShopChanged said (None: none came yet) -> the subject's prefix, the support contact and
#: the signature of its buyer's e-mail.
VOICES: dict[str, tuple[dict[str, str] | None, str, str, str]] = {
    "a shop with a contact": (
        {"name": "Game Cards", "contact": "cards@example.com"},
        "[Game Cards] ",
        "cards@example.com",
        "Game Cards",
    ),
    "a shop without a contact": (
        {"name": "Quiet Shop", "contact": "  "},
        "[Quiet Shop] ",
        PLATFORM_SUPPORT,
        "Quiet Shop",
    ),
    "a shop not known yet": (None, "", PLATFORM_SUPPORT, PLATFORM_NAME),
}


@pytest.mark.parametrize("case", list(VOICES))
async def test_a_buyer_email_names_its_shop_and_contact_else_the_platforms(
    service: tuple[Service, FakeKeys], smtp: tuple[Mailbox, int], case: str
) -> None:
    told, prefix, support, signature = VOICES[case]
    made, keys = service
    shop = uuid4()
    if told is not None:
        await tell(made, changed(shop, **told))
    subject, text, html = said(await delivered_email(made, keys, smtp[0], shop))
    assert subject.startswith(prefix + "Your order ")
    assert f"Contact support: {support}" in text and f"Contact support: {support}" in html
    assert text.rstrip().endswith(f"-- {signature}") and f"<p>-- {signature}</p>" in html
    if signature != PLATFORM_NAME:
        assert PLATFORM_NAME not in text + html
    assert "KEY-SHOP-VOICE" in text


async def test_the_running_service_learns_shops_from_merchant_events_on_kafka(
    database: str, smtp: tuple[Mailbox, int]
) -> None:
    namespace, shop = f"t{uuid4().hex}.", uuid4()
    made = bootstrap(settings(database, smtp[1], kafka_namespace=namespace), keys=FakeKeys())
    producer = AIOKafkaProducer(bootstrap_servers=made.settings.kafka_bootstrap_servers)
    await made.runtime.start()
    await producer.start()
    try:
        told = (changed(shop, contact="a@cards.test"), changed(shop, "closed", contact="b@cards.test"))
        for envelope in told:
            event = envelope.open()
            await producer.send_and_wait(namespace + event.topic, envelope.to_bytes(), key=event.key.encode())

        async def closed() -> bool:
            return [row[2:] for row in await shop_row(database, shop)] == [("closed", "b@cards.test")]

        await eventually(closed, timeout=60)
    finally:
        await producer.stop()
        await made.runtime.stop()
        await close_breakers(made.breakers)
