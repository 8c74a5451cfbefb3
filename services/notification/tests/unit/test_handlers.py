"""Handlers and the notifier with in-memory repositories and channels: routes, failover, dedupe."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import (
    DeliveryFailed,
    DeliverySucceeded,
    Message,
    NotificationFailed,
    NotificationSent,
    OrderPaid,
    OrderPlaced,
    RiskDecided,
)
from faka_common.contracts.delivery import DeliveryDelayed, DeliveryNeedsAttention
from faka_common.contracts.inventory import LowStock
from faka_common.contracts.order import OrderNeedsAttention, OrderRefunded
from faka_common.contracts.quality import ProductPaused, SupplierPaused
from faka_common.contracts.shops import DEFAULT_SHOP_ID, KnownShop, ShopChanged
from faka_common.contracts.tickets import TicketEscalated, TicketOverdue
from notification.adapters.templates import TemplateRenderer
from notification.domain.channels import (
    ChannelResult,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from notification.domain.model import (
    DEFAULT_ROUTES,
    ORDER_DELIVERED,
    ORDER_PAID,
    Addressee,
    BuyerContact,
    BuyerContactMissing,
    NoticeUndelivered,
    Notification,
    OrderKeys,
    Platform,
    Try,
)
from notification.domain.shop_channels import ShopChannels
from notification.service_layer import handlers
from notification.service_layer.handlers import Seller, Sellers
from notification.service_layer.notifier import Notifier
from notification.service_layer.unit_of_work import NotificationUnitOfWork

KEY = "PLAIN-KEY-0001"
SUPPORT = "help@example.com"
PLATFORM = Platform("faka shop", SUPPORT)


class FakeNotifications:
    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, str, str], Notification] = {}
        self.statements = 0  # record_tries calls: the statements writing tries

    async def lock(self, order_id: UUID, template: str) -> None:
        return None

    async def for_notice(self, shop_id: UUID, order_id: UUID, template: str) -> dict[str, Notification]:
        rows = {c: n for (o, t, c), n in self.rows.items() if o == order_id and t == template}
        assert all(n.shop_id == shop_id for n in rows.values()), "another shop's notification"
        return rows

    def _attempt(
        self, shop_id: UUID, order_id: UUID, template: str, channel: str, recipient: str, **changes: Any
    ) -> Notification:
        key = (order_id, template, channel)
        row = self.rows.get(key) or Notification(
            uuid4(), order_id, template, channel, recipient, "pending", 0, None, datetime.now(UTC), None,
            shop_id=shop_id,
        )  # fmt: skip
        assert row.shop_id == shop_id, "another shop's notification"
        self.rows[key] = replace(row, attempts=row.attempts + 1, **changes)
        return self.rows[key]

    async def record_try(self, shop_id: UUID, order_id: UUID, template: str, tried: Try) -> None:
        status = "sent" if tried.sent else "failed"
        changes = {"sent_at": tried.sent_at} if tried.sent else {}
        self._attempt(
            shop_id, order_id, template, tried.channel, tried.recipient, status=status, error=tried.error,
            **changes,
        )  # fmt: skip

    async def record_tries(self, tries: list[tuple[UUID, UUID, str, Try]]) -> None:
        rows = [(order_id, template, tried.channel) for _, order_id, template, tried in tries]
        assert len(set(rows)) == len(rows), "one statement cannot write a notice's channel twice"
        self.statements += 1
        for shop_id, order_id, template, tried in tries:
            await self.record_try(shop_id, order_id, template, tried)

    async def record_failure(
        self, shop_id: UUID, order_id: UUID, template: str, channel: str, recipient: str, error: str
    ) -> None:
        row = self.rows.get((order_id, template, channel))
        if row is None or row.status != "sent":
            self._attempt(shop_id, order_id, template, channel, recipient, status="failed", error=error)

    def status(self, order_id: UUID, template: str) -> dict[str, str]:
        return {c: n.status for (o, t, c), n in self.rows.items() if o == order_id and t == template}


class FakeTelegramChats:
    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, UUID], str] = {}

    async def link(self, shop_id: UUID, order_id: UUID, chat_id: str) -> None:
        self.rows[shop_id, order_id] = chat_id


class FakeShopChannels:
    """Shops' sending settings; `gets`: how many times they were read on their own."""

    def __init__(self) -> None:
        self.rows: dict[UUID, ShopChannels] = {}
        self.gets = 0

    async def get(self, shop_id: UUID, lock: bool = False) -> ShopChannels | None:
        self.gets += 1
        return self.rows.get(shop_id)


class FakeShops:
    def __init__(self) -> None:
        self.rows: dict[UUID, KnownShop] = {}

    async def save(self, shop: KnownShop) -> None:
        self.rows[shop.shop_id] = shop

    async def get(self, shop_id: UUID) -> KnownShop | None:
        return self.rows.get(shop_id)


class FakeContacts:
    """Contacts, read alone or (`addressee`) with the order's shop and the buyer's Telegram chat, and (asked
    for `channels`) the shop's sending settings; each addressee read's `channels` kept in `reads`."""

    def __init__(
        self, shops: FakeShops, telegram_chats: FakeTelegramChats, shop_channels: FakeShopChannels
    ) -> None:
        self.rows: dict[UUID, BuyerContact] = {}
        self._shops = shops
        self._telegram_chats = telegram_chats
        self._shop_channels = shop_channels
        self.reads: list[bool] = []

    async def add(self, contact: BuyerContact) -> bool:
        if contact.order_id in self.rows:
            return False
        self.rows[contact.order_id] = contact
        return True

    async def get(self, shop_id: UUID, order_id: UUID) -> BuyerContact | None:
        contact = self.rows.get(order_id)
        return contact if contact is not None and contact.shop_id == shop_id else None

    async def addressee(self, shop_id: UUID, order_id: UUID, channels: bool = False) -> Addressee | None:
        self.reads.append(channels)
        contact = await self.get(shop_id, order_id)
        if contact is None:
            return None
        chat = self._telegram_chats.rows.get((shop_id, order_id))
        if not channels:
            return Addressee(contact, self._shops.rows.get(shop_id), chat)
        return Addressee(contact, self._shops.rows.get(shop_id), chat, self._shop_channels.rows.get(shop_id))


class FakeUow:
    def __init__(self) -> None:
        self.shops = FakeShops()
        self.telegram_chats = FakeTelegramChats()
        self.shop_channels = FakeShopChannels()
        self.contacts = FakeContacts(self.shops, self.telegram_chats, self.shop_channels)
        self.notifications = FakeNotifications()
        self.published: list[Message] = []

    def publish(self, message: Message) -> None:
        self.published.append(message)


class FakeChannel:
    """A channel that records what it sends, or fails with the error it is given."""

    def __init__(
        self,
        name: str,
        fail: Exception | None = None,
        carries_secrets: bool = True,
        idempotent: bool = False,
        templates: set[str] | None = None,
    ) -> None:
        self.name = name
        self.fail = fail
        self.carries_secrets = carries_secrets
        self.idempotent = idempotent
        self.templates = templates
        self.sent: list[OutgoingMessage] = []
        self.tries = 0

    def accepts(self, template: str) -> bool:
        return self.templates is None or template in self.templates

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        self.tries += 1
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)
        return ChannelResult(self.name, f"{self.name}-{len(self.sent)}")


class FakeKeys:
    def __init__(self) -> None:
        self.calls = 0

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        self.calls += 1
        return OrderKeys(order_id, [KEY], "Redeem in the app.")


def _channels(**overrides: FakeChannel) -> dict[str, FakeChannel]:
    channels = {
        "email": FakeChannel("email"),
        "aliyun_sms": FakeChannel("aliyun_sms"),
        "twilio_sms": FakeChannel("twilio_sms"),
        "telegram": FakeChannel("telegram"),
        "in_site": FakeChannel("in_site", carries_secrets=False, idempotent=True),
        "webhook": FakeChannel("webhook", carries_secrets=False),
    }
    channels.update(overrides)
    return channels


def _notifier(channels: dict[str, FakeChannel], routes: dict[str, Any] | None = None) -> Notifier:
    return Notifier(channels, routes or DEFAULT_ROUTES, TemplateRenderer())


def _placed(order_id: UUID, locale: str = "en") -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        order_no="F20260101000000AAAA",
        product_id=uuid4(),
        product_title="Licence",
        quantity=1,
        amount=4800,
        currency="CNY",
        buyer_email="b@example.com",
        locale=locale,
    )


async def _with_contact(uow: FakeUow, order_id: UUID, locale: str = "en", phone: str | None = None) -> None:
    await handlers.record_buyer_contact(_placed(order_id, locale), cast(NotificationUnitOfWork, uow))
    if phone:
        uow.contacts.rows[order_id] = replace(uow.contacts.rows[order_id], phone=phone)


async def _deliver(uow: FakeUow, notifier: Notifier, order_id: UUID, keys: FakeKeys | None = None) -> None:
    event = DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)
    await handlers.notify_order_delivered(
        event, cast(NotificationUnitOfWork, uow), notifier, keys or FakeKeys(), PLATFORM
    )


async def test_delivered_order_is_emailed_once_in_the_buyers_language() -> None:
    uow, channels, order_id, keys = FakeUow(), _channels(), uuid4(), FakeKeys()
    notifier = _notifier(channels)
    await _with_contact(uow, order_id, "en")
    await _deliver(uow, notifier, order_id, keys)
    await _deliver(uow, notifier, order_id, keys)

    [email] = channels["email"].sent
    assert email.recipient == "b@example.com"
    assert (
        KEY in email.content.text and "Order number" in email.content.text and SUPPORT in email.content.text
    )
    assert keys.calls == 1
    [site] = channels["in_site"].sent
    assert site.content.site is not None and KEY not in site.content.site
    assert uow.notifications.status(order_id, "order_delivered") == {"email": "sent", "in_site": "sent"}
    sent = [m for m in uow.published if isinstance(m, NotificationSent)]
    assert [(m.channel, m.template) for m in sent] == [
        ("email", "order_delivered"),
        ("in_site", "order_delivered"),
    ]
    assert all(KEY not in m.model_dump_json() for m in uow.published)


async def test_a_known_shop_speaks_to_its_buyers_and_its_seller_alerts_stay_as_they_were() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    shop = ShopChanged(shop_id=DEFAULT_SHOP_ID, slug="default", name="Game Cards", status="active")
    await handlers.record_shop(shop, cast(NotificationUnitOfWork, uow))
    await _with_contact(uow, order_id, "en")
    seller = Sellers(Seller(email="seller@example.com"))
    event = DeliveryFailed(order_id=order_id, delivery_id=uuid4(), reason="upstream out of stock")
    await handlers.notify_delivery_failed(
        event, cast(NotificationUnitOfWork, uow), _notifier(channels), seller, PLATFORM
    )

    [alert, buyer] = channels["email"].sent
    assert (alert.recipient, buyer.recipient) == ("seller@example.com", "b@example.com")
    assert buyer.content.subject.startswith("[Game Cards] Order F20260101000000AAAA")
    # the shop names no contact: its buyers are pointed to the platform's support
    assert SUPPORT in buyer.content.text and buyer.content.text.rstrip().endswith("-- Game Cards")
    assert "Game Cards" not in alert.content.subject + alert.content.text


async def test_a_delivered_email_goes_from_the_shops_sender_read_with_its_addressee_in_one_read() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    platform = Platform("faka shop", SUPPORT, mail_from="Cards Platform <no-reply@platform.example>")
    uow.shop_channels.rows[DEFAULT_SHOP_ID] = ShopChannels(
        DEFAULT_SHOP_ID, "Game Cards", "sales@cards.example", "help@cards.example"
    )
    await _with_contact(uow, order_id)
    event = DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)
    await handlers.notify_order_delivered(
        event, cast(NotificationUnitOfWork, uow), _notifier(channels), FakeKeys(), platform
    )

    [email] = channels["email"].sent
    assert email.sender is not None
    assert (email.sender.from_header, email.sender.reply_to) == (
        "Game Cards <sales@cards.example>",
        "help@cards.example",
    )
    assert uow.contacts.reads == [True] and uow.shop_channels.gets == 0


async def test_a_shops_settings_are_read_alone_only_for_an_addressee_read_without_them() -> None:
    uow, order_id, shop = FakeUow(), uuid4(), DEFAULT_SHOP_ID
    platform = Platform("faka shop", SUPPORT, mail_from="Cards Platform <no-reply@platform.example>")
    uow.shop_channels.rows[shop] = ShopChannels(shop, "Game Cards", "sales@cards.example")
    await _with_contact(uow, order_id)
    contact = uow.contacts.rows[order_id]
    notifier, typed = _notifier(_channels()), cast(NotificationUnitOfWork, uow)

    # read by a caller without them (NOT_READ): buyer_notice reads them, on their own
    unread = await handlers.buyer_notice(
        ORDER_DELIVERED, shop, order_id, typed, notifier, platform, addressee=Addressee(contact, None)
    )
    assert unread.sender is not None and unread.sender.from_header == "Game Cards <sales@cards.example>"
    assert uow.shop_channels.gets == 1
    # read with them, and the shop set none (None): the platform's sender, nothing read again
    none = Addressee(contact, None, channels=None)
    read = await handlers.buyer_notice(
        ORDER_DELIVERED, shop, order_id, typed, notifier, platform, addressee=none
    )
    assert read.sender is not None and read.sender.from_header == "Cards Platform <no-reply@platform.example>"
    assert uow.shop_channels.gets == 1
    # the paid notice stays on the order page: its addressee is read without them, and they are not read
    paid = await handlers.buyer_notice(ORDER_PAID, shop, order_id, typed, notifier, platform)
    assert uow.contacts.reads == [False] and uow.shop_channels.gets == 1
    assert paid.sender is not None and paid.sender.from_header == "Cards Platform <no-reply@platform.example>"


async def test_email_down_fails_over_to_sms_with_the_same_notice() -> None:
    uow, order_id = FakeUow(), uuid4()
    channels = _channels(email=FakeChannel("email", fail=TransientChannelError("SMTP refused")))
    notifier = _notifier(channels)
    await _with_contact(uow, order_id, "zh-CN", phone="+8613800000000")
    await _deliver(uow, notifier, order_id)

    [sms] = channels["aliyun_sms"].sent
    assert sms.recipient == "+8613800000000"
    assert KEY in sms.content.sms and "F20260101000000AAAA" in sms.content.sms
    assert sms.params["order_no"] == "F20260101000000AAAA"
    assert channels["twilio_sms"].sent == []
    status = uow.notifications.status(order_id, "order_delivered")
    assert status == {"email": "failed", "aliyun_sms": "sent", "in_site": "sent"}

    # redelivered: the chain was delivered by SMS, so email is not retried and nothing is sent again
    await _deliver(uow, notifier, order_id)
    assert channels["email"].tries == 1 and len(channels["aliyun_sms"].sent) == 1


async def test_every_channel_failing_raises_for_a_retry_without_sending_anything_irrevocable() -> None:
    uow, order_id = FakeUow(), uuid4()
    channels = _channels(
        email=FakeChannel("email", fail=TransientChannelError("SMTP timeout")),
        aliyun_sms=FakeChannel("aliyun_sms", fail=PermanentChannelError("isv.MOBILE_NUMBER_ILLEGAL")),
    )
    del channels["twilio_sms"]  # not configured: skipped
    await _with_contact(uow, order_id, "en", phone="123")
    with pytest.raises(NoticeUndelivered) as failure:
        await _deliver(uow, _notifier(channels), order_id)
    assert [f.channel for f in failure.value.failures] == ["email", "aliyun_sms"]
    assert "isv.MOBILE_NUMBER_ILLEGAL" in str(failure.value) and KEY not in str(failure.value)


async def test_a_notices_tries_are_recorded_together_and_a_channel_tried_twice_in_two_writes() -> None:
    """The delivered notice's e-mail and order-page tries in one write; a route naming a channel in two
    chains (in_site here, after the e-mail failed over to it) writes its second try after the first."""
    uow, order_id = FakeUow(), uuid4()
    await _with_contact(uow, order_id)
    await _deliver(uow, _notifier(_channels()), order_id)
    assert uow.notifications.statements == 1

    twice, other = FakeUow(), uuid4()
    await _with_contact(twice, other)
    channels = _channels(email=FakeChannel("email", fail=TransientChannelError("SMTP timeout")))
    routes = {**DEFAULT_ROUTES, "order_delivered": [["email", "in_site"], ["in_site"]]}
    await _deliver(twice, _notifier(channels, routes), other)
    assert twice.notifications.statements == 2
    assert twice.notifications.rows[(other, "order_delivered", "in_site")].attempts == 2
    assert twice.notifications.status(other, "order_delivered") == {"email": "failed", "in_site": "sent"}


async def test_a_failed_chain_after_an_irrevocable_send_is_recorded_not_retried() -> None:
    uow, order_id = FakeUow(), uuid4()
    channels = _channels(
        webhook=FakeChannel("webhook", fail=TransientChannelError("webhook answered HTTP 503"))
    )
    notifier = _notifier(channels, {**DEFAULT_ROUTES, "delivery_failed": [["email"], ["webhook"]]})
    await _with_contact(uow, order_id)
    seller = Sellers(Seller(email="seller@example.com", webhook_url="http://127.0.0.1:1/hook"))
    event = DeliveryFailed(order_id=order_id, delivery_id=uuid4(), reason="upstream out of stock")
    await handlers.notify_delivery_failed(
        event, cast(NotificationUnitOfWork, uow), notifier, seller, PLATFORM
    )

    alert, delayed = channels["email"].sent
    assert delayed.recipient == "b@example.com"
    assert alert.recipient == "seller@example.com" and "upstream out of stock" in alert.content.text
    failed = [m for m in uow.published if isinstance(m, NotificationFailed)]
    assert [(m.channel, m.template) for m in failed] == [("webhook", "delivery_failed")]
    # and the buyer heard "we are on it"
    assert [m.template for m in channels["email"].sent] == ["delivery_failed", "order_delayed"]


async def test_paid_notice_goes_to_the_order_page_only_by_default() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    await _with_contact(uow, order_id, "zh-CN")
    paid = OrderPaid(
        order_id=order_id,
        order_no="F20260101000000AAAA",
        product_id=uuid4(),
        quantity=1,
        amount=4800,
        currency="CNY",
        provider="sandbox",
        trade_no="T1",
        paid_at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
    )
    await handlers.notify_order_paid(paid, cast(NotificationUnitOfWork, uow), _notifier(channels), PLATFORM)
    assert channels["email"].sent == []
    [site] = channels["in_site"].sent
    assert site.content.site is not None
    assert "¥48.00" in site.content.site and "2026-01-01 08:00:00（北京时间）" in site.content.site


async def test_notices_wait_for_the_buyer_contact() -> None:
    uow, channels = FakeUow(), _channels()
    with pytest.raises(BuyerContactMissing):
        await _deliver(uow, _notifier(channels), uuid4())
    assert channels["email"].sent == [] and uow.published == []


async def test_recharge_delivery_reads_no_keys() -> None:
    uow, channels, order_id, keys = FakeUow(), _channels(), uuid4(), FakeKeys()
    await _with_contact(uow, order_id)
    event = DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="recharge", item_count=1)
    await handlers.notify_order_delivered(
        event, cast(NotificationUnitOfWork, uow), _notifier(channels), keys, PLATFORM
    )
    assert keys.calls == 0
    [email] = channels["email"].sent
    assert "Your key" not in email.content.text and "F20260101000000AAAA" in email.content.text


async def test_only_a_review_verdict_alerts_the_seller() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    notifier = _notifier(channels)
    seller = Sellers(Seller(telegram_chat="-100123", email="seller@example.com"))
    await _with_contact(uow, order_id)
    for verdict in ("approve", "reject"):
        event = RiskDecided(order_id=order_id, verdict=verdict, reasons=[])
        await handlers.notify_risk_review(event, cast(NotificationUnitOfWork, uow), notifier, seller)
    assert channels["telegram"].sent == []
    review = RiskDecided(order_id=order_id, verdict="review", reasons=["ip_velocity"])
    await handlers.notify_risk_review(review, cast(NotificationUnitOfWork, uow), notifier, seller)
    [alert] = channels["telegram"].sent
    assert alert.recipient == "-100123"
    assert "F20260101000000AAAA" in alert.content.subject and "ip_velocity" in alert.content.text
    assert channels["email"].sent == []  # Telegram delivered: the chain stops there


async def test_an_unreachable_seller_is_not_an_error() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    review = RiskDecided(order_id=order_id, verdict="review", reasons=[])
    await handlers.notify_risk_review(
        review, cast(NotificationUnitOfWork, uow), _notifier(channels), Sellers(Seller())
    )
    assert all(channel.sent == [] for channel in channels.values()) and uow.published == []


async def test_giving_up_records_every_failed_channel_and_announces_it() -> None:
    uow, order_id = FakeUow(), uuid4()
    channels = _channels(email=FakeChannel("email", fail=TransientChannelError("SMTP refused")))
    notifier = _notifier(channels, {**DEFAULT_ROUTES, "order_delivered": [["email"]]})
    await _with_contact(uow, order_id)
    event = DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)
    with pytest.raises(NoticeUndelivered) as failure:
        await handlers.notify_order_delivered(
            event, cast(NotificationUnitOfWork, uow), notifier, FakeKeys(), PLATFORM
        )

    fresh = FakeUow()  # the handler's transaction rolled back; the give-up runs in a new one
    await handlers.record_undelivered(event, failure.value, cast(NotificationUnitOfWork, fresh), notifier, {})
    assert fresh.notifications.status(order_id, "order_delivered") == {"email": "failed"}
    [announced] = fresh.published
    assert isinstance(announced, NotificationFailed) and "SMTP refused" in announced.reason

    other = FakeUow()
    await handlers.record_undelivered(
        event,
        BuyerContactMissing("no contact"),
        cast(NotificationUnitOfWork, other),
        notifier,
        {"DeliverySucceeded": "order_delivered"},
    )
    [row] = other.notifications.rows.values()
    assert (row.channel, row.status) == ("email", "failed") and "BuyerContactMissing" in (row.error or "")


async def test_a_give_up_without_a_notice_is_recorded_and_announced_in_the_events_shop() -> None:
    uow, order_id, shop = FakeUow(), uuid4(), uuid4()
    event = DeliverySucceeded(
        order_id=order_id, shop_id=shop, delivery_id=uuid4(), mode="card_key", item_count=1
    )
    await handlers.record_undelivered(
        event,
        BuyerContactMissing("no contact"),
        cast(NotificationUnitOfWork, uow),
        _notifier(_channels()),
        {"DeliverySucceeded": "order_delivered"},
    )
    [row] = uow.notifications.rows.values()
    [announced] = uow.published
    assert (row.shop_id, row.status) == (shop, "failed")
    assert isinstance(announced, NotificationFailed) and announced.shop_id == shop


async def test_second_order_placed_keeps_the_first_contact() -> None:
    uow, order_id = FakeUow(), uuid4()
    await handlers.record_buyer_contact(_placed(order_id, "en"), cast(NotificationUnitOfWork, uow))
    await handlers.record_buyer_contact(_placed(order_id, "zh-CN"), cast(NotificationUnitOfWork, uow))
    assert uow.contacts.rows[order_id].locale == "en"
    assert uow.contacts.rows[order_id].amount == 4800


def _refund(order_id: UUID, refund_no: str, amount: int) -> OrderRefunded:
    return OrderRefunded(
        order_id=order_id,
        order_no="F20260101000000AAAA",
        product_id=uuid4(),
        quantity=1,
        refund_no=refund_no,
        amount=amount,
        refunded_total=amount,
        order_amount=4800,
        currency="CNY",
        full=False,
        provider="sandbox",
        reason="buyer_request",
        refunded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_each_refund_is_told_once_and_partial_refunds_each_get_their_notice() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    notifier = _notifier(channels)
    await _with_contact(uow, order_id, "en")
    for event in (
        _refund(order_id, "R1", 1000),
        _refund(order_id, "R1", 1000),
        _refund(order_id, "R2", 3800),
    ):
        await handlers.notify_order_refunded(event, cast(NotificationUnitOfWork, uow), notifier, PLATFORM)
    first, second = channels["email"].sent
    assert "¥10.00" in first.content.text and "¥38.00" in second.content.text
    assert first.notice == "order_refunded:R1" and second.notice == "order_refunded:R2"
    assert len(channels["in_site"].sent) == 2


async def test_delay_from_the_watchdog_and_from_a_failure_tells_the_buyer_once() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    notifier = _notifier(channels)
    await _with_contact(uow, order_id, "zh-CN")
    delayed = DeliveryDelayed(
        order_id=order_id,
        delivery_id=uuid4(),
        paid_at=datetime(2026, 1, 1, tzinfo=UTC),
        threshold_minutes=5,
        status="pending",
    )
    await handlers.notify_delivery_delayed(delayed, cast(NotificationUnitOfWork, uow), notifier, PLATFORM)
    failed = DeliveryFailed(order_id=order_id, delivery_id=uuid4(), reason="x")
    await handlers.notify_delivery_failed(
        failed, cast(NotificationUnitOfWork, uow), notifier, Sellers(Seller()), PLATFORM
    )
    [email] = channels["email"].sent
    assert email.template == "order_delayed" and "正在处理" in email.content.subject


async def test_low_stock_and_manual_queue_alert_the_seller() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    notifier = _notifier(channels)
    seller = Sellers(Seller(email="seller@example.com"))
    await _with_contact(uow, order_id, "en")
    low = LowStock(product_id=uuid4(), title="Steam 50", available=2, threshold=5)
    await handlers.notify_low_stock(low, cast(NotificationUnitOfWork, uow), notifier, seller)
    attention = DeliveryNeedsAttention(
        order_id=order_id,
        delivery_id=uuid4(),
        mode="recharge",
        reason="suppliers_exhausted",
        detail="all 5xx",
    )
    await handlers.notify_delivery_needs_attention(
        attention, cast(NotificationUnitOfWork, uow), notifier, seller
    )
    low_alert, queue_alert = channels["email"].sent
    assert "Steam 50" in low_alert.content.subject and "available: 2" in low_alert.content.text
    assert "F20260101000000AAAA" in queue_alert.content.subject
    assert "suppliers_exhausted" in queue_alert.content.subject and "all 5xx" in queue_alert.content.text


async def test_a_product_or_supplier_that_paused_itself_alerts_the_seller_in_their_language() -> None:
    uow, channels = FakeUow(), _channels()
    notifier = _notifier(channels)
    product = ProductPaused(
        product_id=uuid4(), title="Steam 50", cases=3, delivered=20, rate=0.15, threshold=0.1, window_days=7
    )
    supplier = SupplierPaused(
        supplier_id=uuid4(),
        supplier_name="Acme Cards",
        claims=5,
        succeeded=20,
        claim_rate=0.25,
        threshold=0.2,
    )
    seller_en = Sellers(Seller(email="seller@example.com", locale="en"))
    seller_zh = Sellers(Seller(email="seller@example.com", locale="zh-CN"))
    await handlers.notify_product_paused(product, cast(NotificationUnitOfWork, uow), notifier, seller_en)
    await handlers.notify_supplier_paused(supplier, cast(NotificationUnitOfWork, uow), notifier, seller_zh)
    paused, supplier_alert = channels["email"].sent
    assert paused.content.subject == "Product paused: Steam 50"
    assert "3 after-sales cases for 20 keys delivered in 7 days, 15.0% against your threshold of 10.0%" in (
        paused.content.text
    )
    assert f"/api/admin/products/{product.product_id}/resume" in paused.content.text
    assert supplier_alert.content.subject == "供货商已暂停：Acme Cards"
    assert "索赔率 25.0%" in supplier_alert.content.text


async def test_a_ticket_overdue_or_sent_to_the_platform_alerts_the_seller_in_their_language() -> None:
    uow, channels = FakeUow(), _channels()
    notifier = _notifier(channels)
    now = datetime.now(UTC)
    overdue = TicketOverdue(
        order_id=uuid4(), ticket_id=uuid4(), order_no="F123", level="L2", category="not_received",
        deadline="response", due_at=now, escalation_due=now,
    )  # fmt: skip
    escalated = TicketEscalated(
        order_id=uuid4(), ticket_id=uuid4(), order_no="F456", category="key_invalid", by="system",
        reason="sla_breached", response_due=now,
    )  # fmt: skip
    seller_en = Sellers(Seller(email="seller@example.com", locale="en"))
    seller_zh = Sellers(Seller(email="seller@example.com", locale="zh-CN"))
    await handlers.notify_ticket_overdue(overdue, cast(NotificationUnitOfWork, uow), notifier, seller_en)
    await handlers.notify_ticket_escalated(escalated, cast(NotificationUnitOfWork, uow), notifier, seller_zh)
    late, sent_up = channels["email"].sent
    assert late.content.subject == "After-sales request overdue: order F123"
    assert "passed its first-answer deadline" in late.content.text
    assert "goes to the platform" in late.content.text
    assert f"/api/admin/tickets/{overdue.ticket_id}" in late.content.text
    assert sent_up.content.subject == "售后请求已转交平台：订单 F456"
    assert "超过了您设置的升级时限仍未处理" in sent_up.content.text


@pytest.mark.parametrize(
    ("reason", "subject_says"),
    [
        ("late_payment_out_of_stock", "正在自动退款"),
        ("auto_refund_failed", "请手动退款"),
        ("allocation_failed", "需要处理"),
    ],
)
async def test_a_paid_order_needing_attention_tells_the_seller_what_to_do(
    reason: str, subject_says: str
) -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    notifier = _notifier(channels)
    await _with_contact(uow, order_id, "en")
    attention = OrderNeedsAttention(
        order_id=order_id, order_no="F20260101000000AAAA", reason=reason, detail="refund R1 gave up"
    )
    await handlers.notify_order_needs_attention(
        attention, cast(NotificationUnitOfWork, uow), notifier, Sellers(Seller(email="seller@example.com"))
    )
    [alert] = channels["email"].sent
    assert alert.recipient == "seller@example.com" and alert.template == "order_needs_attention"
    assert "F20260101000000AAAA" in alert.content.subject and subject_says in alert.content.subject
    assert "refund R1 gave up" in alert.content.text


async def test_a_linked_telegram_chat_gets_the_delivered_notice_without_the_key_unless_it_carries_keys() -> (
    None
):
    for carries in (False, True):
        uow, order_id, keys = FakeUow(), uuid4(), FakeKeys()
        channels = _channels(telegram=FakeChannel("telegram", carries_secrets=carries))
        notifier = _notifier(channels)
        await _with_contact(uow, order_id, "en")
        uow.telegram_chats.rows[DEFAULT_SHOP_ID, order_id] = "4242"
        await _deliver(uow, notifier, order_id, keys)
        await _deliver(uow, notifier, order_id, keys)

        [message] = channels["telegram"].sent
        assert message.recipient == "4242" and "F20260101000000AAAA" in message.content.subject
        assert (KEY in message.content.text) is carries
        assert len(channels["email"].sent) == 1 and KEY in channels["email"].sent[0].content.text
        status = uow.notifications.status(order_id, "order_delivered")
        assert status == {"email": "sent", "in_site": "sent", "telegram": "sent"}


async def test_an_unlinked_buyer_is_not_sent_anything_on_telegram() -> None:
    uow, channels, order_id = FakeUow(), _channels(), uuid4()
    await _with_contact(uow, order_id, "en")
    await _deliver(uow, _notifier(channels), order_id)
    assert channels["telegram"].sent == [] and len(channels["email"].sent) == 1
