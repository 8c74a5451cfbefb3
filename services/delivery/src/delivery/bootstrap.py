"""Wires the delivery service: settings, unit of work, consumers, emitted messages."""

from dataclasses import dataclass

from faka_common.contracts import DeliveryFailed, DeliverySucceeded, KeysAllocated, topics
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from delivery.config import MIGRATIONS, Settings
from delivery.service_layer import handlers
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork


@dataclass
class Service:
    runtime: Runtime

    @property
    def token(self) -> str:
        return self.runtime.settings.internal_token.get_secret_value()

    def uow(self) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(Runtime(settings, MIGRATIONS))
    service.runtime.consume(
        EventConsumer("delivery", service.uow, {KeysAllocated: handlers.deliver_allocated_keys}),
        [topics.INVENTORY_EVENTS],
    )
    service.runtime.emits([DeliverySucceeded, DeliveryFailed])
    return service
