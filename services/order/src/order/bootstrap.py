"""Wires the order service: settings, unit of work, inventory client, consumers, expiry job, emits."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from faka_common.contracts import (
    AllocationFailed,
    DeliveryFailed,
    DeliverySucceeded,
    KeysAllocated,
    OrderApproved,
    OrderCancelled,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
    RiskDecided,
    StockReserved,
    StockUnavailable,
    topics,
)
from faka_common.http import InternalClient
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from order.adapters.inventory import InventoryCatalog
from order.config import MIGRATIONS, Settings
from order.service_layer import handlers, services
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

CONSUMER = "order"


@dataclass
class Service:
    runtime: Runtime
    settings: Settings
    catalog: InventoryCatalog

    @property
    def token(self) -> str:
        return self.settings.internal_token.get_secret_value()

    @property
    def payment_window(self) -> timedelta:
        return timedelta(seconds=self.settings.payment_window_seconds)

    def uow(self) -> OrderUnitOfWork:
        return OrderUnitOfWork(self.runtime.sessions, self.settings.service_name)

    async def expire_forever(self) -> None:
        """The expiry sweep: every `expiry_sweep_seconds`, expire overdue orders in batches."""
        while True:
            try:
                while await services.expire_overdue(self.uow()) == services.EXPIRY_BATCH:
                    pass
            except Exception:
                log.exception("expiry sweep failed; retrying next round")
            await asyncio.sleep(self.settings.expiry_sweep_seconds)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    client = InternalClient(settings.inventory_url, settings.internal_token.get_secret_value())
    service = Service(Runtime(settings, MIGRATIONS), settings, InventoryCatalog(client))
    window = service.payment_window
    service.runtime.consume(
        EventConsumer(
            CONSUMER,
            service.uow,
            {
                RiskDecided: partial(handlers.on_risk_decided, payment_window=window),
                StockReserved: handlers.on_stock_reserved,
                StockUnavailable: handlers.on_stock_unavailable,
                KeysAllocated: handlers.on_keys_allocated,
                AllocationFailed: handlers.on_allocation_failed,
                DeliverySucceeded: handlers.on_delivery_succeeded,
                DeliveryFailed: handlers.on_delivery_failed,
            },
        ),
        [topics.RISK_EVENTS, topics.INVENTORY_EVENTS, topics.DELIVERY_EVENTS],
    )
    service.runtime.emits(
        [OrderPlaced, OrderApproved, OrderRejected, OrderCancelled, OrderPaid, OrderDelivered]
    )
    service.runtime.background(service.expire_forever)
    service.runtime.on_stop.append(service.catalog.aclose)
    return service
