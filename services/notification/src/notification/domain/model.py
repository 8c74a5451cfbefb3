"""Notifications: which notice, to whom, over which channels, in which language, and whether it was sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal
from uuid import UUID

from faka_common.contracts.accounts import LinkPurpose
from faka_common.contracts.shops import KnownShop
from faka_common.errors import RetryLater

if TYPE_CHECKING:  # the shop's settings module builds on this one's channel names
    from notification.domain.shop_channels import ShopChannels

Status = Literal["pending", "sent", "failed"]

ORDER_PAID = "order_paid"
ORDER_DELIVERED = "order_delivered"
ORDER_DELAYED = "order_delayed"
ORDER_REFUNDED = "order_refunded"
#: The order's link, e-mailed again at the buyer's request; it holds a token, so it goes by e-mail only.
ORDER_LINK = "order_link"
#: After-sales: a key the buyer reported invalid was replaced; the notice carries the new key.
KEY_REPLACED = "key_replaced"
#: After-sales: the shop (or the platform) answered the buyer's ticket; by e-mail only (it holds the order's
#: link and the answer, which may quote a key), Reply-To the ticket's own address.
TICKET_REPLY = "ticket_reply"
BUYER_NOTICES = (
    ORDER_PAID, ORDER_DELIVERED, ORDER_DELAYED, ORDER_REFUNDED, ORDER_LINK, KEY_REPLACED, TICKET_REPLY
)  # fmt: skip

LOW_STOCK = "low_stock"
DELIVERY_FAILED = "delivery_failed"
SUPPLIER_DOWN = "supplier_down"
RISK_REVIEW = "risk_review"
ORDER_NEEDS_ATTENTION = "order_needs_attention"
#: After-sales quality: a product paused by its after-sales rate, a supplier paused by its claim rate.
PRODUCT_PAUSED = "product_paused"
SUPPLIER_PAUSED = "supplier_paused"
#: After-sales: a buyer opened a ticket or wrote on one (on the help page or by e-mail).
TICKET_BUYER_MESSAGE = "ticket_buyer_message"
#: After-sales: a ticket waiting for the shop passed a deadline; a ticket went to the platform (L3).
TICKET_OVERDUE = "ticket_overdue"
TICKET_ESCALATED = "ticket_escalated"
SELLER_ALERTS = (
    LOW_STOCK,
    DELIVERY_FAILED,
    SUPPLIER_DOWN,
    RISK_REVIEW,
    ORDER_NEEDS_ATTENTION,
    PRODUCT_PAUSED,
    SUPPLIER_PAUSED,
    TICKET_BUYER_MESSAGE,
    TICKET_OVERDUE,
    TICKET_ESCALATED,
)

#: A person's one-time link (merchant issues it at send time), one notice per purpose; each holds a token,
#: so it goes by e-mail only, to the address merchant answers with the link.
ACCOUNT_PASSWORD_RESET = "account_password_reset"
ACCOUNT_EMAIL_VERIFICATION = "account_email_verification"
ACCOUNT_SETUP = "account_setup"
ACCOUNT_NOTICES = (ACCOUNT_PASSWORD_RESET, ACCOUNT_EMAIL_VERIFICATION, ACCOUNT_SETUP)
NOTICE_OF_LINK: dict[LinkPurpose, str] = {
    "password_reset": ACCOUNT_PASSWORD_RESET,
    "email_verification": ACCOUNT_EMAIL_VERIFICATION,
    "account_setup": ACCOUNT_SETUP,
}
NOTICES = BUYER_NOTICES + SELLER_ALERTS + ACCOUNT_NOTICES

EMAIL = "email"
ALIYUN_SMS = "aliyun_sms"
TWILIO_SMS = "twilio_sms"
TELEGRAM = "telegram"
IN_SITE = "in_site"
WEBHOOK = "webhook"
CHANNELS = (EMAIL, ALIYUN_SMS, TWILIO_SMS, TELEGRAM, IN_SITE, WEBHOOK)

Route = Sequence[Sequence[str]]
"""A notice's channel chains: every chain is delivered; inside a chain the channels fail over in order."""

# Telegram reaches only a buyer who linked a chat on the order page; others skip that chain.
_BUYER_ROUTE: list[list[str]] = [[EMAIL, ALIYUN_SMS, TWILIO_SMS], [IN_SITE], [TELEGRAM]]
_SELLER_ROUTE: list[list[str]] = [[TELEGRAM, EMAIL, ALIYUN_SMS, TWILIO_SMS], [WEBHOOK]]
DEFAULT_ROUTES: dict[str, list[list[str]]] = {
    # The paid notice stays on the order page: the delivery email follows within seconds.
    ORDER_PAID: [[IN_SITE]],
    ORDER_DELIVERED: _BUYER_ROUTE,
    ORDER_DELAYED: _BUYER_ROUTE,
    ORDER_REFUNDED: _BUYER_ROUTE,
    ORDER_LINK: [[EMAIL]],
    KEY_REPLACED: _BUYER_ROUTE,
    TICKET_REPLY: [[EMAIL]],
    **{alert: _SELLER_ROUTE for alert in SELLER_ALERTS},
    **{notice: [[EMAIL]] for notice in ACCOUNT_NOTICES},
}


def check_routes(routes: Mapping[str, Route]) -> None:
    """Raise ValueError naming the first unknown notice or channel (a typo in settings must not go quiet)."""
    for notice, chains in routes.items():
        if notice not in NOTICES:
            raise ValueError(f"unknown notice {notice!r} in routes (known: {NOTICES})")
        for chain in chains:
            for channel in chain:
                if channel not in CHANNELS:
                    raise ValueError(
                        f"unknown channel {channel!r} in the route of {notice} (known: {CHANNELS})"
                    )


SUPPORTED_LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
#: A person's messages (sign-in links) when merchant names no language for the account.
ACCOUNT_LOCALE = "en"
_BEIJING = timezone(timedelta(hours=8))
_CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_ZERO_DECIMAL = {"JPY", "KRW"}


def pick_locale(requested: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The supported locale closest to the buyer's: exact (case-insensitive, `_` or `-`), then the same
    language (`en-US` → `en`, `zh-TW` → `zh-CN`), else `default` (zh-CN unless told)."""
    if not requested or not requested.strip():
        return default
    wanted = requested.strip().replace("_", "-").lower()
    for locale in SUPPORTED_LOCALES:
        if locale.lower() == wanted:
            return locale
    language = wanted.split("-", 1)[0]
    for locale in SUPPORTED_LOCALES:
        if locale.lower().split("-", 1)[0] == language:
            return locale
    return default


def format_time(moment: datetime, locale: str | None) -> str:
    """Chinese buyers read Beijing time, everyone else UTC; the zone is always written out."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if pick_locale(locale) == "zh-CN":
        return moment.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_money(amount: int | None, currency: str | None) -> str:
    """Minor units as the buyer reads them: 4800 CNY → ¥48.00; an unknown currency keeps its code."""
    if amount is None or not currency:
        return ""
    code = currency.upper()
    digits = 0 if code in _ZERO_DECIMAL else 2
    whole, minor = divmod(abs(amount), 10**digits) if digits else (abs(amount), 0)
    number = f"{whole:,}" + (f".{minor:0{digits}d}" if digits else "")
    sign = "-" if amount < 0 else ""
    symbol = _CURRENCY_SIGNS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}"


@dataclass(frozen=True)
class BuyerContact:
    """The read model of a placed order: whom to write to, in which language, about what (in its shop)."""

    order_id: UUID
    order_no: str
    email: str
    locale: str
    product_title: str
    phone: str | None = None
    quantity: int | None = None
    amount: int | None = None
    currency: str | None = None
    shop_id: UUID = field(kw_only=True)


class NotRead(Enum):
    """What a read left out, told apart from None (read, and there is none)."""

    NOT_READ = "not read"


NOT_READ: Final = NotRead.NOT_READ


@dataclass(frozen=True)
class Addressee:
    """Whom a buyer's notice of an order goes to, as one read finds it."""

    contact: BuyerContact
    shop: KnownShop | None
    """The order's shop as last told; None: no ShopChanged about it has arrived yet."""
    telegram_chat: str | None = None
    """The Telegram chat the buyer linked to the order, if any."""
    channels: ShopChannels | NotRead | None = NOT_READ
    """The shop's own sending settings, when the read was asked for them (a notice sent on a channel that
    uses them: one statement a notice instead of two); None: the shop set none. NOT_READ: the read left
    them out (the paid notice on the order page needs none), whoever needs them reads them."""


@dataclass(frozen=True)
class Platform:
    """The platform's voice: its name signs a buyer's message of a shop not known here yet, and its support
    contact stands for a shop that names none (or is not known yet)."""

    name: str
    support_contact: str
    mail_from: str = ""
    """MAIL_FROM: a shop's e-mail without an address of its own comes from its address."""


def buyer_voice(shop: KnownShop | None, platform: Platform) -> dict[str, str]:
    """Who speaks to the buyer of a shop's order, as template variables: `shop_name` (the shop's, "" for a
    shop not known yet: subjects name it only when known), `signature` (the shop's name, else the
    platform's) and `support_contact` (the shop's contact, else the platform's)."""
    contact = shop.contact.strip() if shop is not None else ""
    return {
        "shop_name": shop.name if shop is not None else "",
        "signature": shop.name if shop is not None else platform.name,
        "support_contact": contact or platform.support_contact,
    }


@dataclass(frozen=True)
class Recipients:
    """Where each kind of channel reaches the person a notice is for (None: not reachable that way)."""

    email: str | None = None
    phone: str | None = None
    telegram_chat: str | None = None
    order: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # a shop's own (None: the platform's)

    def for_channel(self, channel: str) -> str | None:
        return {
            EMAIL: self.email,
            ALIYUN_SMS: self.phone,
            TWILIO_SMS: self.phone,
            TELEGRAM: self.telegram_chat,
            IN_SITE: self.order,
            WEBHOOK: self.webhook_url,
        }.get(channel)


@dataclass(frozen=True)
class OrderKeys:
    """The plaintext keys of an order, held only in memory long enough to send them."""

    order_id: UUID
    keys: list[str] = field(repr=False)
    usage_instructions: str = field(default="", repr=False)
    key_ids: list[UUID] = field(default_factory=list)  # each key's id, where the source tells it

    def only(self, key_id: UUID) -> OrderKeys:
        """This order's keys cut down to the one of `key_id` (none when the source does not have it)."""
        kept = [key for key, kid in zip(self.keys, self.key_ids, strict=False) if kid == key_id]
        return OrderKeys(self.order_id, kept, self.usage_instructions, [key_id] if kept else [])


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str = field(repr=False)
    html: str = field(repr=False)


@dataclass(frozen=True)
class RenderedNotice(RenderedEmail):
    """Every form of one notice: email (subject, text, HTML), a short SMS text and the order-page text."""

    sms: str = field(default="", repr=False)
    site: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Notification:
    id: UUID
    order_id: UUID
    template: str
    channel: str
    recipient: str
    status: Status
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    provider_message_id: str | None = None
    latency_ms: int | None = None
    shop_id: UUID = field(kw_only=True)

    @property
    def already_sent(self) -> bool:
        return self.status == "sent"


@dataclass(frozen=True)
class InSiteMessage:
    """A notice shown on the buyer's order page (never holds a key)."""

    id: UUID
    order_id: UUID
    template: str
    subject: str
    body: str
    created_at: datetime


def message_id(order_id: UUID, template: str, domain: str = "faka.local") -> str:
    """A stable Message-ID per (order, template), so a resend after a crash is recognisable downstream."""
    return f"<{template}.{order_id}@{domain}>"


def mask_recipient(recipient: str) -> str:
    """Enough of an address to tell recipients apart in logs, not enough to contact them (each of a
    comma-separated list)."""
    if "," in recipient:
        return ", ".join(mask_recipient(part.strip()) for part in recipient.split(","))
    if "@" in recipient:
        name, _, domain = recipient.partition("@")
        return f"{name[:1]}***@{domain}"
    if len(recipient) > 4:
        return "***" + recipient[-4:]
    return "***"


class NotificationError(Exception):
    """A fault while notifying (retried by the consumer, then dead-lettered)."""


class BuyerContactMissing(NotificationError, RetryLater):
    """The order's OrderPlaced has not been processed yet (another topic, no ordering across topics): the
    consumer parks the event until it has."""


@dataclass(frozen=True)
class Try:
    """What one try of a notice on one channel came to: sent, or failed with an error."""

    channel: str
    recipient: str
    sent: bool
    latency_ms: int | None = None
    error: str | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None


@dataclass(frozen=True)
class ChannelFailure:
    channel: str
    recipient: str
    reason: str


class NoticeUndelivered(NotificationError):
    """Every channel of a notice's chain failed and nothing irrevocable was sent: retry the whole notice."""

    def __init__(
        self, shop_id: UUID, order_id: UUID, template: str, failures: Sequence[ChannelFailure]
    ) -> None:
        self.shop_id = shop_id
        self.order_id = order_id
        self.template = template
        self.failures = list(failures)
        summary = "; ".join(f"{f.channel}: {f.reason}" for f in failures)
        super().__init__(f"{template} for {order_id} not delivered on any channel ({summary})")
