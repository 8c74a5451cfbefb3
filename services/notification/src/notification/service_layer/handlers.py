"""Notification handlers: each event becomes a buyer notice or a seller alert (or a logged no-op)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict
from uuid import UUID

from faka_common.contracts import (
    DeliveryFailed,
    DeliverySucceeded,
    Message,
    NotificationFailed,
    OrderPaid,
    OrderPlaced,
    RiskDecided,
)
from faka_common.contracts.accounts import AccountLinkRequested
from faka_common.contracts.aftersales import KeyReplaced
from faka_common.contracts.delivery import DeliveryDelayed, DeliveryNeedsAttention
from faka_common.contracts.inventory import LowStock
from faka_common.contracts.order import OrderLinkRequested, OrderNeedsAttention, OrderRefunded
from faka_common.contracts.quality import ProductPaused, SupplierPaused
from faka_common.contracts.shops import DEFAULT_SHOP_ID, KnownShop, ShopChanged
from faka_common.contracts.tickets import DeliveryEmailResendRequested, TicketEscalated, TicketOverdue
from faka_common.messaging.consumer import current_envelope
from uuid6 import uuid7

from notification.adapters.account_links import AccountLinkSource
from notification.adapters.inventory import KeySource
from notification.adapters.order_links import LinkSource
from notification.domain.model import (
    ACCOUNT_LOCALE,
    ALIYUN_SMS,
    DELIVERY_FAILED,
    EMAIL,
    KEY_REPLACED,
    LOW_STOCK,
    NOT_READ,
    NOTICE_OF_LINK,
    ORDER_DELAYED,
    ORDER_DELIVERED,
    ORDER_LINK,
    ORDER_NEEDS_ATTENTION,
    ORDER_PAID,
    ORDER_REFUNDED,
    PRODUCT_PAUSED,
    RISK_REVIEW,
    SUPPLIER_DOWN,
    SUPPLIER_PAUSED,
    TELEGRAM,
    TICKET_ESCALATED,
    TICKET_OVERDUE,
    TWILIO_SMS,
    Addressee,
    BuyerContact,
    BuyerContactMissing,
    NoticeUndelivered,
    NotificationError,
    Platform,
    Recipients,
    buyer_voice,
    format_money,
    format_time,
    pick_locale,
)
from notification.domain.shop_channels import ShopChannels, mail_sender
from notification.service_layer.notifier import Notice, Notifier, SecretLoader
from notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

#: Channels that send through the shop's own settings (its mail sender and server, its SMS accounts).
SHOP_SENT = frozenset({EMAIL, ALIYUN_SMS, TWILIO_SMS})

KEY_MODES = frozenset({"card_key", "loop_key"})
"""Delivery modes whose goods are keys held by inventory (the others: recharge, manual)."""
CONTENT_MODES = frozenset({"manual", "recharge"})
"""Delivery modes whose goods (what an operator or supplier handed over) are kept by delivery."""


@dataclass(frozen=True)
class Seller:
    """Where the shop's seller hears alerts (each None: not reachable that way)."""

    email: str | None = None
    phone: str | None = None
    telegram_chat: str | None = None
    webhook_url: str | None = None
    locale: str = "zh-CN"
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def recipients(self) -> Recipients:
        return Recipients(
            email=self.email,
            phone=self.phone,
            telegram_chat=self.telegram_chat,
            webhook_url=self.webhook_url,
            webhook_secret=self.webhook_secret,
        )


#: Why a shop's alert was not sent (the notification log says so).
NO_ALERT_RECIPIENTS = (
    "not sent: the shop names no alert recipients (alert e-mails, Telegram chat or webhook in its "
    "notification channels), and only the default shop's alerts may go to the platform's seller"
)


@dataclass(frozen=True)
class Sellers:
    """Where each shop's seller hears alerts: the alert e-mails, Telegram chat (through the platform's bot)
    and webhook the shop set (its channels). A shop that set none: the default shop's seller is the
    configured one (SELLER_* settings); any other shop's alerts (order numbers, products, amounts) must not
    reach another shop's seller, so they reach nobody (None)."""

    default: Seller

    async def of(self, shop_id: UUID, uow: NotificationUnitOfWork) -> Seller | None:
        channels = await uow.shop_channels.get(shop_id)
        if channels is not None and (
            channels.alert_emails or channels.webhook_url or channels.alert_telegram_chat
        ):
            return Seller(
                email=", ".join(channels.alert_emails) or None,
                telegram_chat=channels.alert_telegram_chat,
                webhook_url=channels.webhook_url,
                webhook_secret=channels.webhook_secret,
                locale=self.default.locale,
            )
        return self.default if shop_id == DEFAULT_SHOP_ID else None


def occurred_at() -> datetime:
    """When the event being handled happened (now, outside a consumer)."""
    envelope = current_envelope.get(None)
    return envelope.occurred_at if envelope is not None else datetime.now(UTC)


def event_id() -> UUID:
    """The id of the event being handled: the subject of an alert that is about no single order (a
    redelivery of the event alerts nobody twice; a new event is a new alert)."""
    envelope = current_envelope.get(None)
    return envelope.event_id if envelope is not None else uuid7()


async def record_buyer_contact(event: OrderPlaced, uow: NotificationUnitOfWork) -> None:
    """Keep whom to write to about the order (the read model the later notifications need)."""
    if not await uow.contacts.add(buyer_contact(event)):
        log.info("order %s contact already recorded; ignoring OrderPlaced", event.order_id)


async def record_buyer_contacts(events: Sequence[OrderPlaced], uow: NotificationUnitOfWork) -> None:
    """`record_buyer_contact` of a batch's placements, in one statement."""
    stored = await uow.contacts.add_many([buyer_contact(event) for event in events])
    for event in events:
        if event.order_id not in stored:
            log.info("order %s contact already recorded; ignoring OrderPlaced", event.order_id)


def buyer_contact(event: OrderPlaced) -> BuyerContact:
    return BuyerContact(
        event.order_id,
        event.order_no,
        event.buyer_email,
        event.locale,
        event.product_title,
        # OrderPlaced carries no phone yet; read it when the contract gains one.
        phone=getattr(event, "buyer_phone", None) or None,
        quantity=event.quantity,
        amount=event.amount,
        currency=event.currency,
        shop_id=event.shop_id,
    )


async def _addressee(
    uow: NotificationUnitOfWork, shop_id: UUID, order_id: UUID, channels: bool = False
) -> Addressee:
    """The order's contact with its shop and the buyer's Telegram chat, in one read (`channels`: and the
    shop's own sending settings, in the same read)."""
    addressee = await uow.contacts.addressee(shop_id, order_id, channels=channels)
    if addressee is None:
        raise BuyerContactMissing(
            f"no buyer contact for order {order_id} of shop {shop_id} yet (OrderPlaced not processed)"
        )
    return addressee


async def record_shop(event: ShopChanged, uow: NotificationUnitOfWork) -> None:
    """Keep what buyers' messages need of the shop (its name and contact). The topic is keyed by shop and
    each event is the whole shop, so the latest one wins."""
    await uow.shops.save(KnownShop.of(event))
    log.info("shop %s (%s) is %s", event.shop_id, event.slug, event.status)


def buyer_context(
    contact: BuyerContact, moment: datetime, shop: KnownShop | None, platform: Platform
) -> dict[str, Any]:
    """What every buyer notice may show: the order, and who speaks (the order's shop, else the platform)."""
    return {
        "order_no": contact.order_no,
        "product_title": contact.product_title,
        "quantity": contact.quantity,
        "amount_text": format_money(contact.amount, contact.currency),
        "time_text": format_time(moment, contact.locale),
        **buyer_voice(shop, platform),
        "keys": [],
        "usage_instructions": "",
    }


def buyer_recipients(contact: BuyerContact, telegram_chat: str | None = None) -> Recipients:
    return Recipients(
        email=contact.email, phone=contact.phone, telegram_chat=telegram_chat, order=str(contact.order_id)
    )


def buyer_payload(contact: BuyerContact, moment: datetime) -> dict[str, Any]:
    return {
        "order_no": contact.order_no,
        "product_title": contact.product_title,
        "quantity": contact.quantity,
        "amount": contact.amount,
        "currency": contact.currency,
        "occurred_at": moment.isoformat(),
    }


async def notify_buyer(
    template: str,
    shop_id: UUID,
    order_id: UUID,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    platform: Platform,
    extra: dict[str, Any] | None = None,
    secrets: Any = None,
    instance: str = "",
    headers: Mapping[str, str] | None = None,
    addressee: Addressee | None = None,
) -> None:
    """The buyer's notice of the order (`buyer_notice`), sent."""
    notice = await buyer_notice(
        template, shop_id, order_id, uow, notifier, platform, extra, secrets, instance, headers, addressee
    )
    await notifier.notify(notice, uow)


async def buyer_notice(
    template: str,
    shop_id: UUID,
    order_id: UUID,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    platform: Platform,
    extra: dict[str, Any] | None = None,
    secrets: Any = None,
    instance: str = "",
    headers: Mapping[str, str] | None = None,
    addressee: Addressee | None = None,
    moment: datetime | None = None,
) -> Notice:
    """The buyer's notice of the order (`addressee`: whom it goes to, when the caller read it already;
    `moment`: when what it tells happened, else when the event being handled did), for
    `Notifier.notify`."""
    routed = notifier.routed(template)
    # the shop's sending settings are read only when the notice's route has a channel that uses them (the
    # paid notice, on the order page alone, does not), and then with the addressee, in its one statement
    shop_sent = bool(routed & SHOP_SENT)
    addressee = addressee or await _addressee(uow, shop_id, order_id, channels=shop_sent)
    contact, shop = addressee.contact, addressee.shop
    moment = moment or occurred_at()
    channels = await _shop_channels(uow, shop_id, addressee) if shop_sent else None
    telegram_chat = addressee.telegram_chat if TELEGRAM in routed else None
    context = {**buyer_context(contact, moment, shop, platform), **(extra or {})}
    return Notice(
        template=template,
        shop_id=shop_id,
        order_id=order_id,
        locale=contact.locale,
        recipients=buyer_recipients(contact, telegram_chat),
        context=context,
        payload={**buyer_payload(contact, moment), **(extra or {})},
        secrets=secrets,
        instance=instance,
        sender=mail_sender(channels, shop.name if shop else None, platform.mail_from),
        sms=channels.sms if channels else None,
        headers=headers or {},
    )


async def _shop_channels(
    uow: NotificationUnitOfWork, shop_id: UUID, addressee: Addressee
) -> ShopChannels | None:
    """The shop's own sending settings (None: it set none): those its addressee was read with, else (a
    caller read the addressee without them) read now."""
    if addressee.channels is NOT_READ:
        return await uow.shop_channels.get(shop_id)
    return addressee.channels


def _sends_as_shop(notifier: Notifier, template: str) -> bool:
    """Whether the notice's route has a channel that sends through the shop's own settings: then a caller
    that reads the addressee itself reads them with it (`buyer_notice` would read them alone)."""
    return bool(notifier.routed(template) & SHOP_SENT)


async def notify_order_paid(
    event: OrderPaid, uow: NotificationUnitOfWork, notifier: Notifier, platform: Platform
) -> None:
    """Tell the buyer the payment arrived (by default on the order page only: the keys follow)."""
    shop_sent = _sends_as_shop(notifier, ORDER_PAID)
    addressee = await _addressee(uow, event.shop_id, event.order_id, channels=shop_sent)
    await notify_buyer(
        ORDER_PAID,
        event.shop_id,
        event.order_id,
        uow,
        notifier,
        platform,
        _paid(event, addressee),
        addressee=addressee,
    )


class Sending(TypedDict):
    """What a batch's notices are sent with (`notify_orders_paid`, `notify_orders_delivered`)."""

    notifier: Notifier
    platform: Platform
    aside: Callable[[], NotificationUnitOfWork]
    concurrency: int


async def notify_orders_paid(
    events: Sequence[OrderPaid],
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    platform: Platform,
    aside: Callable[[], NotificationUnitOfWork],
    concurrency: int = 8,
) -> None:
    """`notify_order_paid` of a batch's payments: their addressees in one read (`addressees`), their notices
    sent by `Notifier.notify_many`."""
    found = await addressees(uow, notifier, ORDER_PAID, events)
    notices = [
        await buyer_notice(
            ORDER_PAID, event.shop_id, event.order_id, uow, notifier, platform,
            _paid(event, found[event.order_id]), addressee=found[event.order_id],
        )
        for event in events
    ]  # fmt: skip
    await notifier.notify_many(notices, uow, aside, concurrency)


async def addressees(
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    template: str,
    events: Sequence[OrderPaid | DeliverySucceeded],
) -> dict[UUID, Addressee]:
    """The addressees of a batch's orders in one read (with the shops' sending settings when the notice's
    route has a channel that uses them); BuyerContactMissing when an order's contact is not known yet:
    the consumer then handles the batch's records one at a time, where that one waits."""
    orders = [(event.shop_id, event.order_id) for event in events]
    found = await uow.contacts.addressees(orders, channels=_sends_as_shop(notifier, template))
    for shop_id, order_id in orders:
        if order_id not in found:
            found[order_id] = await _addressee(uow, shop_id, order_id)  # raises BuyerContactMissing
    return found


def _paid(event: OrderPaid, addressee: Addressee) -> dict[str, Any]:
    return {
        "amount_text": format_money(event.amount, event.currency),
        "time_text": format_time(event.paid_at, addressee.contact.locale),
    }


async def notify_order_delivered(
    event: DeliverySucceeded,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    keys: KeySource,
    platform: Platform,
    content: KeySource | None = None,
) -> None:
    """Send the buyer the goods, at most once per order: email first, then SMS. The keys are read from
    inventory (an audited reveal) only when a channel that carries them is about to send, held in
    memory, and never stored, logged or published."""
    await notify_buyer(
        ORDER_DELIVERED, event.shop_id, event.order_id, uow, notifier, platform, _delivered(event),
        _goods(event, keys, content),
    )  # fmt: skip


async def notify_orders_delivered(
    events: Sequence[DeliverySucceeded],
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    keys: KeySource,
    platform: Platform,
    aside: Callable[[], NotificationUnitOfWork],
    content: KeySource | None = None,
    concurrency: int = 8,
) -> None:
    """`notify_order_delivered` of a batch's deliveries: their addressees in one read, their notices sent
    side by side by `Notifier.notify_many` (each e-mail's keys read when it is about to send, as there)."""
    found = await addressees(uow, notifier, ORDER_DELIVERED, events)
    notices = [
        await buyer_notice(
            ORDER_DELIVERED, event.shop_id, event.order_id, uow, notifier, platform,
            _delivered(event), _goods(event, keys, content), addressee=found[event.order_id],
            moment=event.delivered_at,
        )
        for event in events
    ]  # fmt: skip
    await notifier.notify_many(notices, uow, aside, concurrency)


def _delivered(event: DeliverySucceeded) -> dict[str, Any]:
    return {"mode": event.mode, "item_count": event.item_count}


def _goods(event: DeliverySucceeded, keys: KeySource, content: KeySource | None) -> SecretLoader | None:
    """What reads the delivered goods for a channel that carries them (None: the mode has none to show):
    inventory's keys (an audited reveal) or the content delivery kept (a recharge, a manual delivery)."""
    source = keys if event.mode in KEY_MODES else content if event.mode in CONTENT_MODES else None
    if source is None:
        return None

    async def load_keys() -> dict[str, Any]:
        order_keys = await source.order_keys(event.shop_id, event.order_id)
        if not order_keys.keys:
            raise NotificationError(f"no delivered goods found for delivered order {event.order_id}")
        return {"keys": order_keys.keys, "usage_instructions": order_keys.usage_instructions}

    return load_keys


async def notify_key_replaced(
    event: KeyReplaced, uow: NotificationUnitOfWork, notifier: Notifier, keys: KeySource, platform: Platform
) -> None:
    """Send the buyer the key that replaced the one they reported invalid, once per replacement. Like the
    delivery notice, the key is revealed by inventory only when a channel that carries it is about to
    send, and never stored, logged or published."""

    async def load_key() -> dict[str, Any]:
        new = (await keys.order_keys(event.shop_id, event.order_id)).only(event.key_id)
        if not new.keys:
            raise NotificationError(f"the replacement key of order {event.order_id} cannot be revealed")
        return {"keys": new.keys, "usage_instructions": new.usage_instructions}

    extra = {"ticket_id": str(event.ticket_id)}
    await notify_buyer(
        KEY_REPLACED, event.shop_id, event.order_id, uow, notifier, platform, extra, load_key,
        instance=str(event.claim_id),
    )  # fmt: skip


async def notify_delivery_failed(
    event: DeliveryFailed,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    sellers: Sellers,
    platform: Platform,
) -> None:
    """Alert the seller (the order waits in the manual queue) and tell the buyer we are on it."""
    contact = await uow.contacts.get(event.shop_id, event.order_id)
    await alert_seller(
        DELIVERY_FAILED,
        event.shop_id,
        event.order_id,
        uow,
        notifier,
        sellers,
        {"order_id": str(event.order_id), "reason": event.reason, **_order_facts(contact)},
    )
    await notify_buyer(ORDER_DELAYED, event.shop_id, event.order_id, uow, notifier, platform)


async def notify_delivery_delayed(
    event: DeliveryDelayed, uow: NotificationUnitOfWork, notifier: Notifier, platform: Platform
) -> None:
    """The SLA watchdog saw the order paid and still undelivered: tell the buyer we are on it (once)."""
    await notify_buyer(ORDER_DELAYED, event.shop_id, event.order_id, uow, notifier, platform)


async def notify_delivery_needs_attention(
    event: DeliveryNeedsAttention, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """The order went to the manual queue (suppliers exhausted, no route, a manual product): alert the
    seller. The buyer hears "we are on it" from DeliveryDelayed when the wait gets long."""
    contact = await uow.contacts.get(event.shop_id, event.order_id)
    facts = {
        "order_id": str(event.order_id),
        "mode": event.mode,
        "reason": event.reason,
        "detail": event.detail,
        **_order_facts(contact),
    }
    await alert_seller(SUPPLIER_DOWN, event.shop_id, event.order_id, uow, notifier, sellers, facts)


async def notify_order_refunded(
    event: OrderRefunded, uow: NotificationUnitOfWork, notifier: Notifier, platform: Platform
) -> None:
    """Tell the buyer the money is on its way back; each refund of an order (partial ones) once."""
    shop_sent = _sends_as_shop(notifier, ORDER_REFUNDED)
    addressee = await _addressee(uow, event.shop_id, event.order_id, channels=shop_sent)
    extra = {
        "refund_text": format_money(event.amount, event.currency),
        "reason": event.reason,
        "time_text": format_time(event.refunded_at, addressee.contact.locale),
    }
    await notify_buyer(
        ORDER_REFUNDED,
        event.shop_id,
        event.order_id,
        uow,
        notifier,
        platform,
        extra,
        instance=event.refund_no,
        addressee=addressee,
    )


async def send_order_link(
    event: OrderLinkRequested | DeliveryEmailResendRequested,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    links: LinkSource,
    platform: Platform,
) -> None:
    """The buyer asked for the order's link again, with the order's address, or reported the goods not
    received on a ticket (delivery's L1 answer asks for the e-mail again): e-mail a link to the order page,
    where the goods are, issued now to the address the order was placed with, once per request (a
    redelivered request sends nothing twice). The
    link is fetched from the order service only when the e-mail is about to go, held in memory, and never
    stored, logged or published."""

    async def load_link() -> dict[str, Any]:
        return {"order_url": await links.order_link(event.shop_id, event.order_no)}

    await notify_buyer(
        ORDER_LINK,
        event.shop_id,
        event.order_id,
        uow,
        notifier,
        platform,
        secrets=load_link,
        instance=str(event_id()),
    )


async def send_account_link(
    event: AccountLinkRequested,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    accounts: AccountLinkSource,
    platform: Platform,
) -> None:
    """A person asked to reset the password or to verify the address, or was invited: e-mail a link the
    merchant service issues now to the address it answers with the link, in the account's language (English
    unless merchant names one), once per request: a redelivered request sends nothing twice, a second
    request its own e-mail (its link spends the first's). No buyer is involved. The link is held in memory
    for the e-mail alone: never stored, logged or published, and only a channel that carries secrets (the
    e-mail) renders it. Merchant down: its Unavailable makes the consumer park the request until it is
    back. An inviting shop's name leads the subject and signs the e-mail; otherwise the platform speaks."""
    shop = await uow.shops.get(event.shop_id) if event.shop_id is not None else None
    link = await accounts.account_link(event.account_id, event.purpose)
    locale = pick_locale(link.locale, default=ACCOUNT_LOCALE)
    left = link.expires_at - datetime.now(UTC)
    context = {
        **buyer_voice(shop, platform),
        "time_text": format_time(occurred_at(), locale),
        "valid_minutes": max(1, round(left.total_seconds() / 60)),
        "expires_text": format_time(link.expires_at, locale),
    }

    async def reveal_link() -> dict[str, Any]:
        return {"link_url": link.url}

    notice = Notice(
        template=NOTICE_OF_LINK[event.purpose],
        # a person's notice files under the inviting shop, the platform's under the installation's own shop
        shop_id=event.shop_id if event.shop_id is not None else DEFAULT_SHOP_ID,
        order_id=event.account_id,
        locale=locale,
        recipients=Recipients(email=link.email),
        context=context,
        payload={"account_id": str(event.account_id), "purpose": event.purpose},
        secrets=reveal_link,
        instance=str(event_id()),
    )
    await notifier.notify(notice, uow)


async def notify_low_stock(
    event: LowStock, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """A product's available keys fell to its threshold: alert the seller, once per LowStock event."""
    facts = {
        "product_id": str(event.product_id),
        "product_title": event.title,
        "available": event.available,
        "threshold": event.threshold,
    }
    await alert_seller(LOW_STOCK, event.shop_id, event_id(), uow, notifier, sellers, facts)


async def notify_product_paused(
    event: ProductPaused, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """A product paused itself (its after-sales rate passed the shop's threshold): alert the seller, who
    alone can resume it, once per ProductPaused event."""
    facts = {
        "product_id": str(event.product_id),
        "product_title": event.title,
        "cases": event.cases,
        "delivered": event.delivered,
        "rate": f"{event.rate:.1%}",
        "threshold": f"{event.threshold:.1%}",
        "window_days": event.window_days,
    }
    await alert_seller(PRODUCT_PAUSED, event.shop_id, event_id(), uow, notifier, sellers, facts)


async def notify_ticket_overdue(
    event: TicketOverdue, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """A ticket waiting for the shop passed its deadline: tell the seller, once per TicketOverdue."""
    facts = {
        "ticket_id": str(event.ticket_id),
        "order_no": event.order_no,
        "level": event.level,
        "category": event.category,
        "deadline": event.deadline,
        "due_at": event.due_at.isoformat(),
        "escalation_due": event.escalation_due.isoformat() if event.escalation_due else "",
    }
    await alert_seller(TICKET_OVERDUE, event.shop_id, event_id(), uow, notifier, sellers, facts)


async def notify_ticket_escalated(
    event: TicketEscalated, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """A ticket went to the platform (the buyer or the shop asked, or the shop let it wait too long): tell
    the seller, once per TicketEscalated."""
    facts = {
        "ticket_id": str(event.ticket_id),
        "order_no": event.order_no,
        "category": event.category,
        "by": event.by,
        "reason": event.reason,
        "response_due": event.response_due.isoformat() if event.response_due else "",
    }
    await alert_seller(TICKET_ESCALATED, event.shop_id, event_id(), uow, notifier, sellers, facts)


async def notify_supplier_paused(
    event: SupplierPaused, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """A supplier gets no routes any more (its claim rate passed the shop's threshold): alert the seller."""
    facts = {
        "supplier_id": str(event.supplier_id),
        "supplier_name": event.supplier_name,
        "claims": event.claims,
        "succeeded": event.succeeded,
        "claim_rate": f"{event.claim_rate:.1%}",
        "threshold": f"{event.threshold:.1%}",
    }
    await alert_seller(SUPPLIER_PAUSED, event.shop_id, event_id(), uow, notifier, sellers, facts)


async def notify_order_needs_attention(
    event: OrderNeedsAttention, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """Order's word that a paid order needs the seller: a late payment found no stock (refunding it
    automatically), an automatic refund gave up, or allocation failed. One order can need attention more
    than once, so each event is its own alert; a redelivered event alerts nobody twice."""
    contact = await uow.contacts.get(event.shop_id, event.order_id)
    facts = {
        **_order_facts(contact),
        "order_no": event.order_no,
        "order_id": str(event.order_id),
        "reason": event.reason,
        "detail": event.detail,
    }
    await alert_seller(ORDER_NEEDS_ATTENTION, event.shop_id, event_id(), uow, notifier, sellers, facts)


def needs_review(event: RiskDecided) -> bool:
    """Whether the verdict asks anything of the seller (the consumer skips the others untouched)."""
    return event.verdict == "review"


async def notify_risk_review(
    event: RiskDecided, uow: NotificationUnitOfWork, notifier: Notifier, sellers: Sellers
) -> None:
    """A placed order waits for a person's review: alert the seller. Other verdicts need nobody."""
    if not needs_review(event):
        log.debug("order %s risk verdict %s: nothing to tell", event.order_id, event.verdict)
        return
    contact = await uow.contacts.get(event.shop_id, event.order_id)
    facts = {"order_id": str(event.order_id), "reasons": list(event.reasons), **_order_facts(contact)}
    await alert_seller(RISK_REVIEW, event.shop_id, event.order_id, uow, notifier, sellers, facts)


def _order_facts(contact: BuyerContact | None) -> dict[str, Any]:
    if contact is None:
        return {"order_no": "", "product_title": ""}
    return {
        "order_no": contact.order_no,
        "product_title": contact.product_title,
        "amount_text": format_money(contact.amount, contact.currency),
    }


async def alert_seller(
    template: str,
    shop_id: UUID,
    subject_id: UUID,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    sellers: Sellers,
    facts: dict[str, Any],
) -> None:
    """A seller alert to the shop's seller: Telegram, else email, else SMS; and the seller's webhook. A shop
    whose seller is not known here: the alert is recorded as not sent, and sent to nobody."""
    seller = await sellers.of(shop_id, uow)
    if seller is None:
        log.warning("%s of shop %s not sent: the shop names no alert recipients", template, shop_id)
        await uow.notifications.record_failure(shop_id, subject_id, template, "none", "", NO_ALERT_RECIPIENTS)
        return
    moment = occurred_at()
    context = {"order_no": "", "product_title": "", "amount_text": "", **facts, "facts": facts}
    context["time_text"] = format_time(moment, seller.locale)
    notice = Notice(
        template=template,
        shop_id=shop_id,
        order_id=subject_id,
        locale=seller.locale,
        recipients=seller.recipients,
        context=context,
        payload={**facts, "occurred_at": moment.isoformat()},
    )
    await notifier.notify(notice, uow)


async def record_undelivered(
    message: Message,
    error: Exception,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    notices: dict[str, str],
) -> None:
    """The consumer gave up on a message: record its notice as failed, with the error, in the dead
    letter's transaction, and announce it."""
    if isinstance(error, NoticeUndelivered):
        for failure in error.failures:
            await uow.notifications.record_failure(
                error.shop_id,
                error.order_id,
                error.template,
                failure.channel,
                failure.recipient,
                failure.reason,
            )
            uow.publish(
                NotificationFailed(
                    order_id=error.order_id,
                    shop_id=error.shop_id,
                    channel=failure.channel,
                    template=error.template,
                    reason=failure.reason,
                )
            )
        return
    template = notices.get(message.type_name)
    order_id = getattr(message, "order_id", None)
    shop_id = getattr(message, "shop_id", None)
    if template is None or not isinstance(order_id, UUID) or not isinstance(shop_id, UUID):
        return
    reason = f"{type(error).__name__}: {error}"
    channel = notifier.primary_channel(template)
    await uow.notifications.record_failure(shop_id, order_id, template, channel, "", reason)
    uow.publish(
        NotificationFailed(
            order_id=order_id, shop_id=shop_id, channel=channel, template=template, reason=reason[:1000]
        )
    )
