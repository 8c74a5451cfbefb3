"""Notification handlers."""

import logging
from datetime import UTC, datetime

from faka_common.contracts import DeliverySucceeded, NotificationSent, OrderPlaced

from notification.adapters.inventory import KeySource
from notification.adapters.mailer import Mailer
from notification.adapters.templates import TemplateRenderer
from notification.domain.model import (
    EMAIL,
    ORDER_DELIVERED,
    BuyerContact,
    BuyerContactMissing,
    NotificationError,
    message_id,
)
from notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)


async def record_buyer_contact(event: OrderPlaced, uow: NotificationUnitOfWork) -> None:
    """Keep whom to write to about the order (the read model the later notifications need)."""
    contact = BuyerContact(
        event.order_id, event.order_no, event.buyer_email, event.locale, event.product_title
    )
    if not await uow.contacts.add(contact):
        log.info("order %s contact already recorded; ignoring OrderPlaced", event.order_id)


async def send_order_delivered(
    event: DeliverySucceeded,
    uow: NotificationUnitOfWork,
    keys: KeySource,
    mailer: Mailer,
    renderer: TemplateRenderer,
    support_contact: str,
) -> None:
    """Email the buyer their keys, at most once per order: the notifications row is claimed first (and
    locked), an already sent one is skipped, the row turns 'sent' in the same transaction as the inbox
    row and NotificationSent. Faults raise so the consumer retries, then dead-letters; the plaintext keys
    are only held in memory, never stored, logged or published."""
    contact = await uow.contacts.get(event.order_id)
    if contact is None:
        raise BuyerContactMissing(
            f"no buyer contact for order {event.order_id} yet (OrderPlaced not processed)"
        )
    notification = await uow.notifications.claim(event.order_id, ORDER_DELIVERED, EMAIL, contact.email)
    if notification.already_sent:
        log.info("order %s: %s %s already sent; ignoring", event.order_id, ORDER_DELIVERED, EMAIL)
        return
    order_keys = await keys.order_keys(event.order_id)
    if not order_keys.keys:
        raise NotificationError(f"inventory returned no keys for delivered order {event.order_id}")
    email = renderer.render(
        ORDER_DELIVERED,
        contact.locale,
        {
            "order_no": contact.order_no,
            "product_title": contact.product_title,
            "keys": order_keys.keys,
            "usage_instructions": order_keys.usage_instructions,
            "support_contact": support_contact,
        },
    )
    await mailer.send(contact.email, email, message_id(event.order_id, ORDER_DELIVERED))
    await uow.notifications.mark_sent(notification.id, notification.attempts + 1, datetime.now(UTC))
    uow.publish(NotificationSent(order_id=event.order_id, channel=EMAIL, template=ORDER_DELIVERED))
    log.info("order %s: %s %s sent (%d key(s))", event.order_id, ORDER_DELIVERED, EMAIL, len(order_keys.keys))
