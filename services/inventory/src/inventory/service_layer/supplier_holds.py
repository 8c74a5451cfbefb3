"""A paused supplier's card keys stop selling: delivery's `SupplierPaused` withdraws the keys of the shop's
batches from that supplier that are still on sale, `SupplierResumed` offers them again. Reserved and sold
keys are left alone (a reserved one released while the supplier is paused is withdrawn then)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from faka_common.contracts.quality import SupplierPaused, SupplierResumed
from faka_common.messaging.consumer import current_envelope

from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


def _announced_at() -> datetime:
    envelope = current_envelope.get(None)
    return envelope.occurred_at if envelope is not None else datetime.now(UTC)


async def withhold_supplier_keys(event: SupplierPaused, uow: InventoryUnitOfWork) -> None:
    """The supplier's available keys leave the queue as `withdrawn`; the stock counts drop by as many."""
    await _follow(uow, event.shop_id, event.supplier_id, paused=True)


async def offer_supplier_keys(event: SupplierResumed, uow: InventoryUnitOfWork) -> None:
    """The supplier's withdrawn keys are on sale again, at their place in issue order."""
    await _follow(uow, event.shop_id, event.supplier_id, paused=False)


async def _follow(uow: InventoryUnitOfWork, shop_id: UUID, supplier_id: UUID, paused: bool) -> None:
    """Delivery's word on the supplier, unless a word as recent was followed already (guarded, so a
    redelivered or late word moves nothing)."""
    if not await uow.keys.hold(shop_id, supplier_id, paused, _announced_at()):
        return
    if paused:
        moved = await uow.keys.withdraw_supplier_keys(shop_id, supplier_id)
    else:
        moved = await uow.keys.offer_supplier_keys(shop_id, supplier_id)
    log.info(
        "supplier %s of shop %s %s: %d keys %s",
        supplier_id, shop_id, "paused" if paused else "resumed", sum(moved.values()),
        "withdrawn from sale" if paused else "on sale again",
    )  # fmt: skip
