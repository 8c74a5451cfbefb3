"""Wires the notification service: settings, unit of work, key source, channels behind breakers, routes,
consumers, the give-up hook and the emitted messages."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property, partial
from typing import Any
from uuid import UUID

import httpx
from faka_common.breakers import close_breakers
from faka_common.contracts import (
    DeliveryFailed,
    DeliverySucceeded,
    Message,
    NotificationFailed,
    NotificationSent,
    OrderPaid,
    OrderPlaced,
    RiskDecided,
    topics,
)
from faka_common.contracts.accounts import AccountLinkRequested
from faka_common.contracts.aftersales import KeyReplaced
from faka_common.contracts.delivery import DeliveryDelayed, DeliveryNeedsAttention
from faka_common.contracts.inventory import LowStock
from faka_common.contracts.order import OrderLinkRequested, OrderNeedsAttention, OrderRefunded
from faka_common.contracts.quality import ProductPaused, SupplierPaused
from faka_common.contracts.shops import ShopChanged
from faka_common.contracts.tickets import (
    DeliveryEmailResendRequested,
    TicketEscalated,
    TicketMessageAdded,
    TicketOverdue,
)
from faka_common.crypto import KeyRing
from faka_common.http import InternalClient
from faka_common.key_reveals import KeyReveals
from faka_common.messaging.consumer import BatchHandler, EventConsumer, Handler
from faka_common.runtime import Runtime
from purgatory import AsyncCircuitBreakerFactory

from notification.adapters.account_links import AccountLinkSource, MerchantLinks
from notification.adapters.channels.email import EmailChannel
from notification.adapters.channels.in_site import InSiteChannel
from notification.adapters.channels.resilience import GuardedChannel, breakers
from notification.adapters.channels.telegram import TelegramChannel
from notification.adapters.channels.webhook import WebhookChannel
from notification.adapters.delivery import DeliveredContent
from notification.adapters.in_site_messages import SqlMessageStore
from notification.adapters.inventory import InventoryKeys, KeySource
from notification.adapters.mailer import Mailer, SmtpMailer
from notification.adapters.order_links import LinkSource, OrderLinks
from notification.adapters.shop_mail import ShopMailers
from notification.adapters.shop_sms import sms_channels
from notification.adapters.shop_templates import ShopTemplateCache
from notification.adapters.templates import TemplateRenderer
from notification.adapters.ticket_mail import DeliveryTickets, TicketSource
from notification.adapters.webhook_log import SqlWebhookLog
from notification.config import MIGRATIONS, Settings
from notification.domain.channels import Channel
from notification.domain.model import (
    DELIVERY_FAILED,
    IN_SITE,
    LOW_STOCK,
    ORDER_DELAYED,
    ORDER_DELIVERED,
    ORDER_NEEDS_ATTENTION,
    ORDER_PAID,
    PRODUCT_PAUSED,
    RISK_REVIEW,
    SUPPLIER_DOWN,
    SUPPLIER_PAUSED,
    TICKET_ESCALATED,
    TICKET_OVERDUE,
    Platform,
)
from notification.domain.ticket_mail import ReplyAddresses
from notification.entrypoints.inbound_mail import serve_replies
from notification.service_layer import handlers, ticket_mail
from notification.service_layer.handlers import Seller, Sellers
from notification.service_layer.notifier import Notifier
from notification.service_layer.unit_of_work import NotificationUnitOfWork

CONSUMER = "notification"
#: The topics notification consumes (its KEDA ScaledObject scales on their lag).
CONSUMED = (
    topics.ORDER_EVENTS,
    topics.DELIVERY_EVENTS,
    topics.RISK_EVENTS,
    topics.INVENTORY_EVENTS,
    topics.MERCHANT_EVENTS,
)

NOTICE_OF_EVENT: dict[str, str] = {
    OrderPaid.type_name: ORDER_PAID,
    DeliverySucceeded.type_name: ORDER_DELIVERED,
    DeliveryFailed.type_name: DELIVERY_FAILED,
    RiskDecided.type_name: RISK_REVIEW,
    DeliveryDelayed.type_name: ORDER_DELAYED,
    DeliveryNeedsAttention.type_name: SUPPLIER_DOWN,
    LowStock.type_name: LOW_STOCK,
    OrderNeedsAttention.type_name: ORDER_NEEDS_ATTENTION,
    ProductPaused.type_name: PRODUCT_PAUSED,
    SupplierPaused.type_name: SUPPLIER_PAUSED,
    TicketOverdue.type_name: TICKET_OVERDUE,
    TicketEscalated.type_name: TICKET_ESCALATED,
}
# OrderRefunded is left out: its notice is per refund, and a give-up without NoticeUndelivered cannot
# name the refund; the dead letter keeps the event for a replay.
"""The notice a failure of each event is recorded against when the consumer gives up."""


@dataclass
class Service:
    runtime: Runtime
    settings: Settings
    keys: KeySource
    notifier: Notifier
    breakers: AsyncCircuitBreakerFactory
    webhook_log: SqlWebhookLog
    content: KeySource | None = None
    links: LinkSource | None = None
    accounts: AccountLinkSource | None = None
    tickets: TicketSource | None = None

    @property
    def reply_addresses(self) -> ReplyAddresses | None:
        """Tickets' reply addresses (None: replies by e-mail are off)."""
        s = self.settings
        if not s.ticket_reply_domain or s.ticket_reply_secret is None:
            return None
        secret = s.ticket_reply_secret.get_secret_value().encode()
        return ReplyAddresses(s.ticket_reply_domain, secret, s.ticket_reply_days)

    async def take_in_reply(self, ticket_id: UUID, mail: EmailMessage, raw: bytes) -> bool:
        """A buyer's e-mailed reply into its ticket (the inbound listener's work)."""
        assert self.tickets is not None
        return await ticket_mail.take_in_reply(ticket_id, mail, raw, self.uow(), self.tickets)

    @property
    def sellers(self) -> Sellers:
        s = self.settings
        seller = Seller(
            s.seller_email, s.seller_phone, s.seller_telegram_chat_id, s.seller_webhook_url, s.seller_locale
        )
        return Sellers(seller)

    @property
    def platform(self) -> Platform:
        """Who speaks to the buyers of a shop not known yet (and supports a shop's that names no contact)."""
        return Platform(self.settings.platform_name, self.settings.support_contact, self.settings.mail_from)

    @cached_property
    def keyring(self) -> KeyRing:
        """Seals the shops' SMTP passwords and webhook secrets."""
        return self.settings.keyring()

    def uow(self) -> NotificationUnitOfWork:
        return NotificationUnitOfWork(self.runtime.sessions, self.settings.service_name, self.keyring)

    def handlers(self) -> Mapping[type[Message], Handler[NotificationUnitOfWork]]:
        platform = self.platform
        return {
            ShopChanged: handlers.record_shop,
            OrderPlaced: handlers.record_buyer_contact,
            OrderPaid: partial(handlers.notify_order_paid, notifier=self.notifier, platform=platform),
            DeliverySucceeded: partial(
                handlers.notify_order_delivered,
                notifier=self.notifier,
                keys=self.keys,
                platform=platform,
                content=self.content,
            ),
            DeliveryFailed: partial(
                handlers.notify_delivery_failed,
                notifier=self.notifier,
                sellers=self.sellers,
                platform=platform,
            ),
            RiskDecided: partial(handlers.notify_risk_review, notifier=self.notifier, sellers=self.sellers),
            DeliveryDelayed: partial(
                handlers.notify_delivery_delayed, notifier=self.notifier, platform=platform
            ),
            DeliveryNeedsAttention: partial(
                handlers.notify_delivery_needs_attention, notifier=self.notifier, sellers=self.sellers
            ),
            OrderRefunded: partial(handlers.notify_order_refunded, notifier=self.notifier, platform=platform),
            KeyReplaced: partial(
                handlers.notify_key_replaced, notifier=self.notifier, keys=self.keys, platform=platform
            ),
            LowStock: partial(handlers.notify_low_stock, notifier=self.notifier, sellers=self.sellers),
            OrderNeedsAttention: partial(
                handlers.notify_order_needs_attention, notifier=self.notifier, sellers=self.sellers
            ),
            ProductPaused: partial(
                handlers.notify_product_paused, notifier=self.notifier, sellers=self.sellers
            ),
            SupplierPaused: partial(
                handlers.notify_supplier_paused, notifier=self.notifier, sellers=self.sellers
            ),
            TicketOverdue: partial(
                handlers.notify_ticket_overdue, notifier=self.notifier, sellers=self.sellers
            ),
            TicketEscalated: partial(
                handlers.notify_ticket_escalated, notifier=self.notifier, sellers=self.sellers
            ),
            **self._link_handlers(platform),
            **self._ticket_handlers(platform),
        }

    def _ticket_handlers(self, platform: Platform) -> Mapping[type[Message], Handler[NotificationUnitOfWork]]:
        if self.tickets is None or self.links is None:
            return {}
        mail = ticket_mail.TicketMail(self.reply_addresses, self.tickets, self.links)
        handler = partial(
            ticket_mail.on_ticket_message,
            notifier=self.notifier,
            sellers=self.sellers,
            platform=platform,
            mail=mail,
        )
        return {TicketMessageAdded: handler}

    def _link_handlers(self, platform: Platform) -> Mapping[type[Message], Handler[NotificationUnitOfWork]]:
        sends: dict[type[Message], Handler[NotificationUnitOfWork]] = {}
        if self.links is not None:
            sends[OrderLinkRequested] = sends[DeliveryEmailResendRequested] = partial(
                handlers.send_order_link, notifier=self.notifier, links=self.links, platform=platform
            )
        if self.accounts is not None:
            sends[AccountLinkRequested] = partial(
                handlers.send_account_link, notifier=self.notifier, accounts=self.accounts, platform=platform
            )
        return sends

    async def on_give_up(self, message: Any, error: Exception, uow: NotificationUnitOfWork) -> None:
        await handlers.record_undelivered(message, error, uow, self.notifier, NOTICE_OF_EVENT)

    def together(self) -> list[type[Message]]:
        """What the consumer handles in one transaction a batch: records kept (a buyer's contact, a shop)
        and the buyer's paid and delivered notices (`Notifier.notify_many`)."""
        return [ShopChanged, OrderPlaced, OrderPaid, DeliverySucceeded]

    def batch_handlers(self) -> Mapping[type[Message], BatchHandler[NotificationUnitOfWork]]:
        """A `together` batch's contacts in one statement, and its paid and delivered notices in a few."""
        sending = handlers.Sending(
            notifier=self.notifier,
            platform=self.platform,
            aside=self.uow,
            concurrency=self.settings.consumer_concurrency,
        )
        return {
            OrderPlaced: handlers.record_buyer_contacts,
            OrderPaid: partial(handlers.notify_orders_paid, **sending),
            DeliverySucceeded: partial(
                handlers.notify_orders_delivered, keys=self.keys, content=self.content, **sending
            ),
        }

    def consumer(self) -> EventConsumer[NotificationUnitOfWork]:
        # a batch's contacts and buyer notices (`together`) go first, in one transaction; the other
        # records, whose handlers send alerts and call other services one at a time, follow, up to
        # CONSUMER_CONCURRENCY orders side by side, each order's records in order
        return EventConsumer(
            CONSUMER,
            self.uow,
            self.handlers(),
            on_give_up=self.on_give_up,
            batch_size=self.settings.consumer_batch_size,
            batch_handlers=self.batch_handlers(),
            concurrency=self.settings.consumer_concurrency,
            wants={RiskDecided: handlers.needs_review},
            gather=self.settings.consumer_gather_ms / 1000,
            together=self.together(),
        )


def smtp_mailer(settings: Settings) -> SmtpMailer:
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        use_tls=settings.smtp_use_tls,
        timeout=settings.smtp_timeout,
    )


def build_channels(
    settings: Settings, mailer: Mailer, client: httpx.AsyncClient, store: SqlMessageStore, log: SqlWebhookLog
) -> dict[str, Channel]:
    """Every channel the settings configure; a channel without credentials is left out (and skipped
    by the routes that name it), but for SMS, which a shop may send through its own account."""
    s = settings
    channels: list[Channel] = [EmailChannel(mailer), InSiteChannel(store)]
    channels.extend(sms_channels(s, client))  # a shop's own SMS accounts, else the platform's
    if s.telegram_bot_token:
        channels.append(
            TelegramChannel(
                client,
                s.telegram_base_url,
                s.telegram_bot_token.get_secret_value(),
                carries_secrets=s.telegram_carries_keys,
            )
        )
    # always there: a shop's own webhook is signed with its own secret, the platform seller's with this one
    secret = s.seller_webhook_secret.get_secret_value() if s.seller_webhook_secret else None
    channels.append(
        WebhookChannel(
            client,
            secret,
            log,
            attempts=s.webhook_attempts,
            backoff=s.webhook_backoff,
            max_backoff=s.webhook_max_backoff,
        )
    )
    return {channel.name: channel for channel in channels}


def bootstrap(
    settings: Settings | None = None,
    keys: KeySource | None = None,
    mailer: Mailer | None = None,
    content: KeySource | None = None,
    links: LinkSource | None = None,
    accounts: AccountLinkSource | None = None,
    tickets: TicketSource | None = None,
) -> Service:
    """`keys`, `content`, `links`, `accounts`, `tickets` and `mailer` default to inventory's, delivery's,
    order's and merchant's internal APIs and SMTP; tests pass fakes."""
    settings = settings or Settings()
    runtime = Runtime(settings, MIGRATIONS)

    def owner(url: str) -> InternalClient:
        """A client of another service's internal API, closed when the runtime stops."""
        client = InternalClient(url, settings.credential())
        runtime.on_stop.append(client.aclose)
        return client

    keys = keys if keys is not None else InventoryKeys(KeyReveals(owner(settings.inventory_url)))
    content = content if content is not None else DeliveredContent(owner(settings.delivery_url))
    links = links if links is not None else OrderLinks(owner(settings.order_url))
    accounts = accounts if accounts is not None else MerchantLinks(owner(settings.merchant_url))
    tickets = tickets if tickets is not None else DeliveryTickets(owner(settings.delivery_url))
    client = httpx.AsyncClient(
        timeout=settings.provider_timeout, follow_redirects=False, transport=settings.outbound().transport()
    )
    runtime.on_stop.append(client.aclose)
    webhook_log = SqlWebhookLog(runtime.readers)
    factory = breakers(
        settings.channel_breaker_threshold,
        settings.channel_breaker_reset_seconds,
        settings,
        settings.breaker_store,
    )
    runtime.on_stop.append(partial(close_breakers, factory))
    if mailer is None:
        smtp = smtp_mailer(settings)
        runtime.on_stop.append(smtp.aclose)
        mailer = smtp
    shop_mailers = ShopMailers(mailer, settings.outbound(), settings.smtp_timeout)
    runtime.on_stop.append(shop_mailers.aclose)
    mailer = shop_mailers
    raw = build_channels(settings, mailer, client, SqlMessageStore(runtime.readers), webhook_log)
    guarded: dict[str, Channel] = {
        name: GuardedChannel(
            channel,
            # a stored message goes to this service's own database, which no breaker can route around
            # (it fails the notice's transaction anyway); the shared breaker costs Redis trips a send
            None if name == IN_SITE else factory,
            # webhooks retry on their own (each attempt logged); a stored message needs no retry
            attempts=1 if channel.idempotent or name == "webhook" else settings.channel_retry_attempts,
            backoff=settings.channel_retry_backoff,
        )
        for name, channel in raw.items()
    }
    worded = ShopTemplateCache(settings.shop_template_cache_seconds)
    notifier = Notifier(guarded, settings.routes(), TemplateRenderer(), worded)
    service = Service(
        runtime, settings, keys, notifier, factory, webhook_log, content, links, accounts, tickets
    )
    listen(service)

    runtime.consume(service.consumer(), CONSUMED)
    runtime.emits([NotificationSent, NotificationFailed])
    return service


def listen(service: Service) -> None:
    """The inbound SMTP listener for tickets' replies, when a port and the reply addresses are set."""
    addresses, port = service.reply_addresses, service.settings.inbound_smtp_port
    if addresses is None or port is None:
        return
    servers: list[asyncio.AbstractServer] = []

    async def start() -> None:
        servers.append(await serve_replies(service.settings, addresses, service.take_in_reply))

    async def stop() -> None:
        for server in servers:
            server.close()
            await server.wait_closed()

    service.runtime.on_start.append(start)
    service.runtime.on_stop.append(stop)
