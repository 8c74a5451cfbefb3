"""Wires the notification service: settings, unit of work, key source, mailer, consumers, emitted messages."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from faka_common.contracts import DeliverySucceeded, Message, NotificationSent, OrderPlaced, topics
from faka_common.http import InternalClient
from faka_common.messaging.consumer import EventConsumer, Handler
from faka_common.runtime import Runtime

from notification.adapters.inventory import InventoryKeys, KeySource
from notification.adapters.mailer import Mailer, SmtpMailer
from notification.adapters.templates import TemplateRenderer
from notification.config import MIGRATIONS, Settings
from notification.service_layer import handlers
from notification.service_layer.unit_of_work import NotificationUnitOfWork


@dataclass
class Service:
    runtime: Runtime
    settings: Settings
    keys: KeySource
    mailer: Mailer
    renderer: TemplateRenderer

    @property
    def token(self) -> str:
        return self.settings.internal_token.get_secret_value()

    def uow(self) -> NotificationUnitOfWork:
        return NotificationUnitOfWork(self.runtime.sessions, self.settings.service_name)

    def handlers(self) -> Mapping[type[Message], Handler[NotificationUnitOfWork]]:
        return {
            OrderPlaced: handlers.record_buyer_contact,
            DeliverySucceeded: partial(
                handlers.send_order_delivered,
                keys=self.keys,
                mailer=self.mailer,
                renderer=self.renderer,
                support_contact=self.settings.support_contact,
            ),
        }


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


def bootstrap(
    settings: Settings | None = None, keys: KeySource | None = None, mailer: Mailer | None = None
) -> Service:
    """`keys` and `mailer` default to inventory's internal API and SMTP; tests pass fakes."""
    settings = settings or Settings()
    runtime = Runtime(settings, MIGRATIONS)
    if keys is None:
        inventory = InventoryKeys(
            InternalClient(settings.inventory_url, settings.internal_token.get_secret_value())
        )
        runtime.on_stop.append(inventory.aclose)
        keys = inventory
    service = Service(runtime, settings, keys, mailer or smtp_mailer(settings), TemplateRenderer())
    service.runtime.consume(
        EventConsumer("notification", service.uow, service.handlers()),
        [topics.ORDER_EVENTS, topics.DELIVERY_EVENTS],
    )
    service.runtime.emits([NotificationSent])
    return service
