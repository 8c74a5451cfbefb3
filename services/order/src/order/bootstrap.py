"""Wires the order service: settings, unit of work, inventory client, consumers, expiry job, emits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import httpx
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
from faka_common.contracts.delivery import ManualDeliveryRequested, RechargeRequested
from faka_common.contracts.inventory import ProductChanged
from faka_common.contracts.order import OrderLinkRequested, OrderNeedsAttention, OrderRefunded
from faka_common.contracts.quality import ProductPaused, ProductResumed
from faka_common.contracts.shops import ShopChanged
from faka_common.errors import Busy
from faka_common.http import InternalClient
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from order.adapters import metrics
from order.adapters.inventory import InventoryCatalog
from order.adapters.order_changes import OrderChanges, RedisOrderChanges
from order.adapters.payer_lists import RedisPayerLists
from order.adapters.payment_channels import ChannelAdapters
from order.adapters.payments import registry
from order.adapters.payments.registry import PaymentProviders
from order.config import MIGRATIONS, Settings
from order.service_layer import auto_refunds, handlers, payments, services
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

CONSUMER = "order"
#: The topics the order service consumes (its KEDA ScaledObject scales on their lag).
CONSUMED = (topics.RISK_EVENTS, topics.INVENTORY_EVENTS, topics.DELIVERY_EVENTS, topics.MERCHANT_EVENTS)


@dataclass
class Service:
    runtime: Runtime
    settings: Settings
    catalog: InventoryCatalog
    providers: PaymentProviders
    provider_http: httpx.AsyncClient
    changes: OrderChanges | None = None
    #: Orders late for their stock at the last count (`count_late`), for admission.
    late: int = 0

    @property
    def payment_window(self) -> timedelta:
        return timedelta(seconds=self.settings.payment_window_seconds)

    def uow(self) -> OrderUnitOfWork:
        return OrderUnitOfWork(self.runtime.sessions, self.settings.service_name, self.changes)

    def reader(self) -> OrderUnitOfWork:
        """A unit of work for a read of one statement, outside any transaction (`reader_factory`): the
        buyer's order view, fetched on every change of the order page's event stream."""
        return OrderUnitOfWork(self.runtime.readers, self.settings.service_name, self.changes)

    def consumer(self) -> EventConsumer[OrderUnitOfWork]:
        """Every handler's whole effect is in the unit of work, so records are handled in batches."""
        window = self.payment_window
        return EventConsumer(
            CONSUMER,
            self.uow,
            {
                RiskDecided: partial(handlers.on_risk_decided, payment_window=window),
                StockReserved: handlers.on_stock_reserved,
                StockUnavailable: handlers.on_stock_unavailable,
                KeysAllocated: handlers.on_keys_allocated,
                AllocationFailed: handlers.on_allocation_failed,
                DeliverySucceeded: handlers.on_delivery_succeeded,
                DeliveryFailed: handlers.on_delivery_failed,
                ShopChanged: handlers.on_shop_changed,
                ProductChanged: handlers.on_product_changed,
                ProductPaused: handlers.on_product_paused,
                ProductResumed: handlers.on_product_resumed,
            },
            batch_size=self.settings.consumer_batch_size,
            before_run=handlers.lock_orders,
        )

    async def count_late(self) -> None:
        """Count the orders late for their stock (each replica, every `late_count_seconds`): a new order is
        admitted against this count, not a query of its own."""
        late_after = timedelta(seconds=self.settings.late_after_seconds)
        horizon = timedelta(seconds=self.settings.late_horizon_seconds)
        self.late = await services.late_orders(self.reader(), late_after, horizon)
        metrics.LATE_ORDERS.set(self.late)

    def admit_order(self) -> None:
        """Admission of a new order against the last count (`services.admit`); a refusal is counted."""
        try:
            services.admit(self.late, self.settings.max_late_orders)
        except Busy:
            metrics.TURNED_AWAY.inc()
            raise

    async def expire_overdue(self) -> None:
        """The expiry sweep: expire overdue orders in batches until none is left."""
        while await services.expire_overdue(self.uow()) == services.EXPIRY_BATCH:
            pass

    async def reconcile_once(self) -> payments.ReconcileSummary:
        interval = timedelta(seconds=self.settings.reconcile_interval_seconds)
        return await payments.reconcile_once(
            self.uow,
            self.providers,
            lead=timedelta(seconds=self.settings.reconcile_lead_seconds),
            lookback=timedelta(seconds=self.settings.reconcile_lookback_seconds),
            every=interval,
        )

    async def reconcile(self) -> None:
        """The reconciler: ask providers about orders a lost callback would leave unpaid."""
        summary = await self.reconcile_once()
        if summary.completed:
            log.warning("reconciler completed %d orders whose callback was lost", summary.completed)

    async def auto_refund_once(self) -> auto_refunds.AutoRefundSummary:
        return await auto_refunds.auto_refund_once(
            self.uow,
            self.providers,
            max_attempts=self.settings.auto_refund_max_attempts,
            backoff=timedelta(seconds=self.settings.auto_refund_backoff_seconds),
        )


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    client = InternalClient(settings.inventory_url, settings.credential())
    runtime = Runtime(settings, MIGRATIONS)
    provider_http = httpx.AsyncClient(timeout=10.0)
    providers = registry.build(settings, provider_http, runtime.sessions)
    # a shop's channel may name its own gateway: its calls go through the outgoing-URL guard
    shop_http = httpx.AsyncClient(timeout=10.0, transport=settings.outbound().transport())
    providers.shops = ChannelAdapters(settings, settings.keyring(), shop_http, runtime.sessions)
    providers.payers = RedisPayerLists(settings.redis_url, settings.kafka_namespace)
    service = Service(
        runtime,
        settings,
        InventoryCatalog(client),
        providers,
        provider_http,
        RedisOrderChanges(settings.redis_url, settings.kafka_namespace),
    )
    service.runtime.consume(service.consumer(), CONSUMED)
    service.runtime.emits(
        [
            OrderPlaced,
            OrderApproved,
            OrderRejected,
            OrderCancelled,
            OrderPaid,
            OrderDelivered,
            OrderRefunded,
            OrderNeedsAttention,
            OrderLinkRequested,
            RechargeRequested,
            ManualDeliveryRequested,
        ]
    )
    s = settings
    service.runtime.every(s.expiry_sweep_seconds, "expiry sweep", service.expire_overdue)
    if s.max_late_orders:
        service.runtime.every(s.late_count_seconds, "late orders count", service.count_late)
    service.runtime.every(s.reconcile_interval_seconds, "reconciliation round", service.reconcile)
    # the late-payment policy's refunds: pay back paid orders that found no stock
    service.runtime.every(s.auto_refund_interval_seconds, "automatic refunds", service.auto_refund_once)
    service.runtime.on_stop.append(service.catalog.aclose)
    service.runtime.on_stop.append(service.provider_http.aclose)
    service.runtime.on_stop.append(providers.shops.aclose)
    service.runtime.on_stop.append(providers.payers.aclose)
    if service.changes is not None:
        service.runtime.on_stop.append(service.changes.aclose)
    return service
