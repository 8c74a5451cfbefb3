"""The SLA watchdog loop: sweeps deliveries still owed after the SLA into the manual queue, with an alert; and
the suppliers' ledger totals read into the metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable

from delivery.adapters.metrics import show_ledger
from delivery.service_layer import handlers
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)


async def sweep_once(uow_factory: Callable[[], DeliveryUnitOfWork], sla_minutes: float) -> int:
    async with uow_factory() as uow:
        count = await handlers.sweep_overdue(uow, handlers.now_utc(), sla_minutes)
        await uow.commit()
    if count:
        log.warning("SLA watchdog: %d delivery(ies) late, sent to the manual queue", count)
    return count


async def sweep_all(uow_factory: Callable[[], DeliveryUnitOfWork], sla_minutes: float) -> None:
    """Sweep until no late delivery is left (a sweep takes a bounded batch)."""
    while await sweep_once(uow_factory, sla_minutes):
        pass


async def sample_ledger(uow_factory: Callable[[], DeliveryUnitOfWork]) -> None:
    """Read every shop's ledger totals into faka_supplier_ledger_entries / _amount."""
    async with uow_factory() as uow:
        totals = await uow.accounts.ledger_totals()
    show_ledger(totals)
