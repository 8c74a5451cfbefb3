"""Wires the inventory service: settings, keyring, unit of work, consumers, emitted messages."""

from dataclasses import dataclass

from faka_common.contracts import (
    AllocationFailed,
    KeysAllocated,
    OrderApproved,
    OrderCancelled,
    OrderPaid,
    StockReserved,
    StockUnavailable,
    topics,
)
from faka_common.crypto import KeyRing
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from inventory.config import MIGRATIONS, Settings
from inventory.service_layer import handlers
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

CONSUMER = "inventory"


@dataclass
class Service:
    runtime: Runtime
    keyring: KeyRing
    max_import_bytes: int

    @property
    def token(self) -> str:
        return self.runtime.settings.internal_token.get_secret_value()

    def uow(self) -> InventoryUnitOfWork:
        return InventoryUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(Runtime(settings, MIGRATIONS), settings.keyring(), settings.max_import_bytes)
    service.runtime.consume(
        EventConsumer(
            CONSUMER,
            service.uow,
            {
                OrderApproved: handlers.reserve_stock,
                OrderCancelled: handlers.release_stock,
                OrderPaid: handlers.allocate_keys,
            },
        ),
        [topics.ORDER_EVENTS],
    )
    service.runtime.emits([StockReserved, StockUnavailable, KeysAllocated, AllocationFailed])
    return service
