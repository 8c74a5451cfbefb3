"""Wires the commission service: settings, unit of work, consumers, emitted messages."""

from dataclasses import dataclass

from faka_common.contracts import DeliverySucceeded, topics
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from commission.config import MIGRATIONS, Settings
from commission.service_layer import handlers
from commission.service_layer.unit_of_work import CommissionUnitOfWork


@dataclass
class Service:
    runtime: Runtime

    def uow(self) -> CommissionUnitOfWork:
        return CommissionUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(Runtime(settings, MIGRATIONS))
    service.runtime.consume(
        EventConsumer(
            "commission",
            service.uow,
            {DeliverySucceeded: handlers.on_delivery_succeeded},
            batch_size=settings.consumer_batch_size,
            gather=settings.consumer_gather_ms / 1000,
        ),
        [topics.DELIVERY_EVENTS],
    )
    service.runtime.emits([])
    return service
