"""Delivery handlers."""

import logging
from datetime import UTC, datetime

from faka_common.contracts import DeliveryFailed, DeliverySucceeded, KeysAllocated
from uuid6 import uuid7

from delivery.domain.model import Delivery, decide, latency_ms
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)


async def deliver_allocated_keys(event: KeysAllocated, uow: DeliveryUnitOfWork) -> None:
    """Record the delivery of an order's allocated keys and announce it, once per order."""
    started = datetime.now(UTC)
    outcome = decide(event.delivery_type, event.key_ids)
    completed = datetime.now(UTC)
    delivery = Delivery(
        id=uuid7(),
        order_id=event.order_id,
        mode=event.delivery_type,
        item_count=outcome.item_count,
        status=outcome.status,
        attempts=1,
        created_at=started,
        completed_at=completed,
        latency_ms=latency_ms(started, completed),
        reason=outcome.reason,
    )
    if not await uow.deliveries.add(delivery):
        log.info("order %s already has a delivery; ignoring KeysAllocated", event.order_id)
        return
    if outcome.status == "succeeded":
        uow.publish(
            DeliverySucceeded(
                order_id=event.order_id,
                delivery_id=delivery.id,
                mode=delivery.mode,
                item_count=delivery.item_count,
            )
        )
        log.info(
            "order %s delivered: %d item(s), mode %s", event.order_id, delivery.item_count, delivery.mode
        )
    else:
        uow.publish(
            DeliveryFailed(order_id=event.order_id, delivery_id=delivery.id, reason=outcome.reason or "")
        )
        log.warning("order %s delivery failed: %s", event.order_id, outcome.reason)
