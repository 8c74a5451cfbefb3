"""Wires the inventory service: settings, keyring, unit of work, consumers, sweeps, emitted messages."""

from dataclasses import dataclass
from functools import partial

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
from faka_common.contracts.aftersales import KeyReplaced, KeyReplacementRefused, KeyReplacementRequested
from faka_common.contracts.delivery import DeliveryFailed, DeliverySucceeded
from faka_common.contracts.inventory import LowStock, ProductChanged, ReservationExpired
from faka_common.contracts.quality import ProductPaused, ProductResumed, SupplierPaused, SupplierResumed
from faka_common.crypto import KeyRing
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from inventory.adapters import metrics
from inventory.adapters.catalog_projection import CatalogProjection, RedisCatalogProjection
from inventory.adapters.stock_projection import RedisStockProjection, StockProjection
from inventory.config import MIGRATIONS, Settings
from inventory.service_layer import catalog as catalog_ops
from inventory.service_layer import quality, replacements, reservations, stock, supplier_holds
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

CONSUMER = "inventory"


@dataclass
class Service:
    runtime: Runtime
    keyring: KeyRing
    max_import_bytes: int
    projection: StockProjection
    catalog: CatalogProjection

    def uow(self) -> InventoryUnitOfWork:
        return InventoryUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)

    def reader(self) -> InventoryUnitOfWork:
        """A unit of work for reads outside any transaction (`reader_factory`): a product and its stock
        counts, read by order before every placement; the two need not come from one instant."""
        return InventoryUnitOfWork(self.runtime.readers, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    projection = RedisStockProjection(settings.redis_url, prefix=settings.kafka_namespace)
    catalog = RedisCatalogProjection(settings.redis_url, prefix=settings.kafka_namespace)
    service = Service(
        Runtime(settings, MIGRATIONS), settings.keyring(), settings.max_import_bytes, projection, catalog
    )
    runtime = service.runtime
    runtime.consume(
        EventConsumer(
            CONSUMER,
            service.uow,
            {
                OrderApproved: reservations.reserve_stock,
                OrderCancelled: reservations.release_stock,
                OrderPaid: reservations.allocate_keys,
                KeyReplacementRequested: replacements.replace_delivered_key,
                DeliverySucceeded: quality.record_delivery,
                DeliveryFailed: quality.record_failure,
                SupplierPaused: supplier_holds.withhold_supplier_keys,
                SupplierResumed: supplier_holds.offer_supplier_keys,
            },
            # every effect of these handlers is in the unit of work, so a failed batch can be redone
            # one record at a time without repeating anything outside the database
            batch_size=settings.consumer_batch_size,
            batch_handlers={
                OrderApproved: reservations.reserve_stock_many,
                OrderPaid: reservations.allocate_keys_many,
                DeliverySucceeded: quality.record_deliveries,
            },
            linger={topics.DELIVERY_EVENTS: settings.delivery_events_linger_ms / 1000},
        ),
        [topics.ORDER_EVENTS, topics.DELIVERY_EVENTS],
    )

    async def expire_reservations() -> int:
        async with service.uow() as uow:
            return await reservations.expire_reservations(uow, settings.reservation_grace_seconds)

    async def expire_keys() -> int:
        async with service.uow() as uow:
            return await stock.expire_keys(uow)

    async def fold_stock() -> int:
        async with service.uow() as uow:
            return await stock.fold_stock(uow, projection)

    rebuilt_once = False

    async def keep_storefront() -> int:
        """Rebuild the storefront read model at startup, and again whenever it is found stale."""
        nonlocal rebuilt_once
        if rebuilt_once and not await catalog.stale():
            return 0
        async with service.uow() as uow:
            count = await catalog_ops.rebuild_storefront(uow, catalog)
        rebuilt_once = True
        return count

    runtime.every(settings.expiry_sweep_seconds, "reservation expiry sweep", expire_reservations)
    runtime.every(settings.expiry_sweep_seconds, "key expiry sweep", expire_keys)
    runtime.every(settings.stock_fold_seconds, "stock fold", fold_stock)
    runtime.every(
        settings.stock_fold_seconds, "low-stock gauge", partial(metrics.sample_low_stock, runtime.readers)
    )
    runtime.every(settings.storefront_check_seconds, "storefront read model", keep_storefront)
    runtime.on_stop.append(projection.aclose)
    runtime.on_stop.append(catalog.aclose)
    runtime.emits(
        [
            StockReserved,
            StockUnavailable,
            KeysAllocated,
            AllocationFailed,
            ReservationExpired,
            ProductChanged,
            LowStock,
            KeyReplaced,
            KeyReplacementRefused,
            ProductPaused,
            ProductResumed,
        ]
    )
    return service
