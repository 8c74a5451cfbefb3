"""Wires the delivery service: settings, unit of work, consumers (fulfilment and after-sales), the recharge
worker, the SLA watchdog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from faka_common.breakers import close_breakers
from faka_common.contracts import (
    AllocationFailed,
    DeliveryFailed,
    DeliverySucceeded,
    KeysAllocated,
    OrderPaid,
    topics,
)
from faka_common.contracts.aftersales import KeyReplaced, KeyReplacementRefused, KeyReplacementRequested
from faka_common.contracts.delivery import (
    DeliveryDelayed,
    DeliveryNeedsAttention,
    ManualDeliveryRequested,
    RechargeRequested,
)
from faka_common.contracts.quality import SupplierPaused, SupplierResumed
from faka_common.contracts.tickets import (
    DeliveryEmailResendRequested,
    TicketEscalated,
    TicketMessageAdded,
    TicketOverdue,
)
from faka_common.crypto import KeyRing
from faka_common.messaging.consumer import EventConsumer
from faka_common.outbound import OutboundPolicy
from faka_common.runtime import Runtime

from delivery.adapters.suppliers.factory import adapter_factory
from delivery.config import MIGRATIONS, Settings
from delivery.service_layer import attachments, handlers, suppliers, tickets, watchdog
from delivery.service_layer.recharge import AdapterFactory, Breakers, RechargePolicy, RechargeWorker
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork


@dataclass
class Service:
    runtime: Runtime
    settings: Settings
    keyring: KeyRing
    outbound: OutboundPolicy
    adapters: AdapterFactory
    breakers: Breakers
    worker: RechargeWorker
    consumer: EventConsumer[DeliveryUnitOfWork]

    @property
    def score_window(self) -> timedelta:
        return timedelta(minutes=self.settings.score_window_minutes)

    def uow(self) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(self.runtime.sessions, self.settings.service_name)


def policy_of(settings: Settings) -> RechargePolicy:
    return RechargePolicy(
        retry_attempts=settings.supplier_retry_attempts,
        backoff_seconds=settings.supplier_retry_backoff_seconds,
        backoff_max_seconds=settings.supplier_retry_backoff_max_seconds,
        processing_wait_seconds=settings.supplier_processing_wait_seconds,
        processing_poll_seconds=settings.supplier_processing_poll_seconds,
        reschedule_seconds=settings.recharge_reschedule_seconds,
        lease_seconds=settings.recharge_lease_seconds,
        score_window=timedelta(minutes=settings.score_window_minutes),
    )


def bootstrap(settings: Settings | None = None, adapters: AdapterFactory | None = None) -> Service:
    settings = settings or Settings()
    keyring = settings.keyring()
    runtime = Runtime(settings, MIGRATIONS)
    outbound = settings.outbound()
    adapters = adapters or adapter_factory(keyring, outbound)
    breakers = Breakers.of(
        settings, settings.breaker_threshold, settings.breaker_ttl_seconds, settings.breaker_store
    )
    runtime.on_stop.append(partial(close_breakers, breakers.factory))

    def uow() -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(runtime.sessions, settings.service_name)

    worker = RechargeWorker(
        uow,
        adapters,
        breakers,
        keyring,
        policy_of(settings),
        lease_uow=lambda: DeliveryUnitOfWork(runtime.readers, settings.service_name),
    )
    consumer = EventConsumer(
        "delivery",
        uow,
        {
            KeysAllocated: handlers.deliver_allocated_keys,
            AllocationFailed: handlers.note_allocation_failure,
            OrderPaid: handlers.record_payment,
            RechargeRequested: handlers.request_recharge,
            ManualDeliveryRequested: handlers.request_manual_delivery,
            KeyReplaced: suppliers.settle_replacement,
            KeyReplacementRefused: tickets.record_refusal,
        },
        batch_size=settings.consumer_batch_size,
        batch_handlers={
            OrderPaid: handlers.record_payments,
            KeysAllocated: handlers.deliver_allocations,
        },
    )
    service = Service(runtime, settings, keyring, outbound, adapters, breakers, worker, consumer)
    runtime.consume(consumer, [topics.INVENTORY_EVENTS, topics.ORDER_EVENTS])
    runtime.emits(
        [
            DeliverySucceeded,
            DeliveryFailed,
            DeliveryNeedsAttention,
            DeliveryDelayed,
            KeyReplacementRequested,
            SupplierPaused,
            SupplierResumed,
            TicketMessageAdded,
            TicketOverdue,
            TicketEscalated,
            DeliveryEmailResendRequested,
        ]
    )
    runtime.every(settings.recharge_poll_seconds, "recharge worker", worker.drain)
    runtime.every(
        settings.sla_sweep_seconds,
        "SLA watchdog sweep",
        partial(watchdog.sweep_all, uow, settings.sla_minutes),
    )
    runtime.every(settings.ledger_sample_seconds, "ledger totals", partial(watchdog.sample_ledger, uow))
    runtime.every(settings.ticket_sweep_seconds, "ticket deadline sweep", partial(tickets.sweep_all, uow))
    runtime.every(
        settings.ticket_image_sweep_seconds,
        "old ticket images sweep",
        partial(attachments.remove_all_old_images, uow, settings.ticket_image_retention_days),
    )
    return service
