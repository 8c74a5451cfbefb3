from datetime import UTC, datetime
from typing import cast
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import DeliverySucceeded, Message, NotificationSent, OrderPlaced
from notification.adapters.templates import TemplateRenderer
from notification.domain.model import (
    BuyerContact,
    BuyerContactMissing,
    Notification,
    OrderKeys,
    RenderedEmail,
)
from notification.service_layer.handlers import record_buyer_contact, send_order_delivered
from notification.service_layer.unit_of_work import NotificationUnitOfWork

KEY = "PLAIN-KEY-0001"


class FakeContacts:
    def __init__(self) -> None:
        self.rows: dict[UUID, BuyerContact] = {}

    async def add(self, contact: BuyerContact) -> bool:
        if contact.order_id in self.rows:
            return False
        self.rows[contact.order_id] = contact
        return True

    async def get(self, order_id: UUID) -> BuyerContact | None:
        return self.rows.get(order_id)


class FakeNotifications:
    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, str, str], Notification] = {}

    async def claim(self, order_id: UUID, template: str, channel: str, recipient: str) -> Notification:
        key = (order_id, template, channel)
        if key not in self.rows:
            self.rows[key] = Notification(
                uuid4(), order_id, template, channel, recipient, "pending", 0, None, datetime.now(UTC), None
            )
        return self.rows[key]

    async def mark_sent(self, notification_id: UUID, attempts: int, sent_at: datetime) -> None:
        for key, row in self.rows.items():
            if row.id == notification_id:
                self.rows[key] = Notification(
                    row.id,
                    row.order_id,
                    row.template,
                    row.channel,
                    row.recipient,
                    "sent",
                    attempts,
                    None,
                    row.created_at,
                    sent_at,
                )


class FakeUow:
    def __init__(self) -> None:
        self.contacts = FakeContacts()
        self.notifications = FakeNotifications()
        self.published: list[Message] = []

    def publish(self, message: Message) -> None:
        self.published.append(message)


class FakeKeys:
    async def order_keys(self, order_id: UUID) -> OrderKeys:
        return OrderKeys(order_id, [KEY], "")


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, RenderedEmail, str]] = []

    async def send(self, recipient: str, email: RenderedEmail, message_id: str) -> None:
        self.sent.append((recipient, email, message_id))


def _placed(order_id: UUID, locale: str) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        order_no="F20260101000000AAAA",
        product_id=uuid4(),
        product_title="Licence",
        quantity=1,
        amount=100,
        currency="CNY",
        buyer_email="b@example.com",
        locale=locale,
    )


async def _send(uow: FakeUow, mailer: FakeMailer, order_id: UUID) -> None:
    event = DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)
    await send_order_delivered(
        event,
        cast(NotificationUnitOfWork, uow),
        keys=FakeKeys(),
        mailer=mailer,
        renderer=TemplateRenderer(),
        support_contact="help@example.com",
    )


async def test_delivered_order_is_emailed_once_in_the_buyers_language() -> None:
    uow, mailer, order_id = FakeUow(), FakeMailer(), uuid4()
    await record_buyer_contact(_placed(order_id, "en"), cast(NotificationUnitOfWork, uow))
    await _send(uow, mailer, order_id)
    await _send(uow, mailer, order_id)
    [(recipient, email, _)] = mailer.sent
    assert recipient == "b@example.com"
    assert KEY in email.text and "Order number" in email.text and "help@example.com" in email.text
    [event] = uow.published
    assert isinstance(event, NotificationSent) and KEY not in event.model_dump_json()
    [row] = uow.notifications.rows.values()
    assert row.status == "sent" and row.attempts == 1


async def test_second_order_placed_keeps_the_first_contact() -> None:
    uow, order_id = FakeUow(), uuid4()
    await record_buyer_contact(_placed(order_id, "en"), cast(NotificationUnitOfWork, uow))
    await record_buyer_contact(_placed(order_id, "zh-CN"), cast(NotificationUnitOfWork, uow))
    assert uow.contacts.rows[order_id].locale == "en"


async def test_delivery_before_the_contact_is_known_raises_for_a_retry() -> None:
    uow, mailer = FakeUow(), FakeMailer()
    with pytest.raises(BuyerContactMissing):
        await _send(uow, mailer, uuid4())
    assert mailer.sent == [] and uow.published == []
