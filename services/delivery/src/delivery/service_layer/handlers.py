"""Delivery handlers: payment and fulfilment requests in, deliveries out; the manual queue; sealed content."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.contracts import (
    AllocationFailed,
    DeliveryFailed,
    DeliverySucceeded,
    KeysAllocated,
    OrderPaid,
)
from faka_common.contracts.delivery import (
    DeliveryDelayed,
    DeliveryNeedsAttention,
    ManualDeliveryRequested,
    RechargeRequested,
)
from faka_common.crypto import KeyRing
from faka_common.errors import Conflict, NotFound
from faka_common.messaging.consumer import current_envelope
from uuid6 import uuid7

from delivery.adapters.deliveries import Attempt
from delivery.domain.manual import ManualTask
from delivery.domain.model import MANUAL, PENDING_MODE, RECHARGE, Delivery, decide, latency_ms
from delivery.domain.suppliers import Claim
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


def requested_at() -> datetime:
    """When the message that asks for this delivery was emitted: latency counts from there."""
    envelope = current_envelope.get(None)
    return envelope.occurred_at if envelope is not None else now_utc()


def content_context(order_id: UUID) -> bytes:
    return b"delivery-content:" + order_id.bytes


def fresh_delivery(
    shop_id: UUID, order_id: UUID, product_id: UUID | None = None, paid_at: datetime | None = None
) -> Delivery:
    return Delivery(
        id=uuid7(),
        shop_id=shop_id,
        order_id=order_id,
        mode=PENDING_MODE,
        item_count=0,
        status="pending",
        attempts=0,
        created_at=now_utc(),
        completed_at=None,
        latency_ms=None,
        product_id=product_id,
        paid_at=paid_at,
    )


async def record_payment(event: OrderPaid, uow: DeliveryUnitOfWork) -> None:
    """A paid order is owed a delivery: the SLA clock starts at its payment."""
    delivery = await uow.deliveries.lock_or_create(
        fresh_delivery(event.shop_id, event.order_id, event.product_id, event.paid_at)
    )
    if delivery.paid_at is None:
        delivery.paid_at = event.paid_at
        delivery.product_id = delivery.product_id or event.product_id
        await uow.deliveries.save(delivery)


async def record_payments(events: Sequence[OrderPaid], uow: DeliveryUnitOfWork) -> None:
    """`record_payment` of a run's payments in one statement; an order twice in the run, or one whose
    delivery is another shop's, takes the one-by-one path (which refuses the latter)."""
    if len({event.order_id for event in events}) != len(events):
        for event in events:
            await record_payment(event, uow)
        return
    fresh = [fresh_delivery(e.shop_id, e.order_id, e.product_id, e.paid_at) for e in events]
    recorded = await uow.deliveries.add_paid(fresh)
    for event in events:
        if event.order_id not in recorded:
            await record_payment(event, uow)


async def deliver_allocated_keys(event: KeysAllocated, uow: DeliveryUnitOfWork) -> None:
    """Record the delivery of an order's allocated keys and announce it, once per order."""
    delivery = await uow.deliveries.lock_or_create(
        fresh_delivery(event.shop_id, event.order_id, event.product_id)
    )
    now = now_utc()
    attempt = _allocate(event, delivery, now)
    if attempt is None:
        return
    await uow.attempts.add(attempt)
    await uow.deliveries.save(delivery)
    await _resolve_task(uow, delivery, now)
    _announce(uow, delivery)


async def deliver_allocations(events: Sequence[KeysAllocated], uow: DeliveryUnitOfWork) -> None:
    """`deliver_allocated_keys` of a run's allocations in four statements whatever their number: their
    deliveries locked, their attempts added, their deliveries saved and their manual tasks looked for, one
    statement each. An order twice in the run, or one with no delivery of its shop yet (its payment not
    recorded), takes the one-by-one path."""
    if len({event.order_id for event in events}) != len(events):
        for event in events:
            await deliver_allocated_keys(event, uow)
        return
    found = await uow.deliveries.lock_many([(event.shop_id, event.order_id) for event in events])
    now = now_utc()
    delivered: list[tuple[Delivery, Attempt]] = []
    for event in events:
        delivery = found.get(event.order_id)
        if delivery is not None and (attempt := _allocate(event, delivery, now)) is not None:
            delivered.append((delivery, attempt))
    if delivered:
        await uow.attempts.add_many([attempt for _, attempt in delivered])
        await uow.deliveries.save_many([delivery for delivery, _ in delivered])
        tasks = await uow.tasks.lock_many([(d.shop_id, d.order_id) for d, _ in delivered])
        for task in tasks:
            await _resolve(uow, task, now)
        for delivery, _ in delivered:
            _announce(uow, delivery)
    for event in events:
        if event.order_id not in found:
            await deliver_allocated_keys(event, uow)


def _allocate(event: KeysAllocated, delivery: Delivery, now: datetime) -> Attempt | None:
    """The (locked) delivery completed by the allocation, and the attempt to record; None when the
    allocation changes nothing (the delivery is over, or an operator holds it)."""
    if delivery.status not in ("pending", "manual"):
        log.info("order %s delivery is %s; ignoring KeysAllocated", event.order_id, delivery.status)
        return None
    outcome = decide(event.delivery_type, event.key_ids)
    if outcome.status == "failed" and delivery.status == "manual":
        log.warning(
            "order %s: keyless allocation while in the manual queue; the operator decides", event.order_id
        )
        return None
    delivery.mode = event.delivery_type
    delivery.product_id = event.product_id
    delivery.requested_at = requested_at()
    delivery.attempts += 1
    delivery.reason = outcome.reason
    delivery.complete(outcome.status, outcome.item_count, now)
    return Attempt(
        id=uuid7(),
        shop_id=delivery.shop_id,
        delivery_id=delivery.id,
        order_id=delivery.order_id,
        channel=event.delivery_type,
        phase="deliver",
        started_at=delivery.requested_at,
        finished_at=now,
        latency_ms=delivery.latency_ms,
        outcome=outcome.status,
        error_class="no_keys" if outcome.status == "failed" else None,
        error=outcome.reason,
    )


def _announce(uow: DeliveryUnitOfWork, delivery: Delivery) -> None:
    """A completed delivery announced: DeliverySucceeded, else DeliveryFailed."""
    if delivery.status == "succeeded":
        uow.publish(succeeded(delivery))
        log.info(
            "order %s delivered: %d item(s), mode %s", delivery.order_id, delivery.item_count, delivery.mode
        )
    else:
        uow.publish(failed(delivery, delivery.reason or ""))
        log.warning("order %s delivery failed: %s", delivery.order_id, delivery.reason)


async def note_allocation_failure(event: AllocationFailed, uow: DeliveryUnitOfWork) -> None:
    """No keys will come (the order side refunds): stop waiting, so the watchdog raises no false alarm."""
    delivery = await uow.deliveries.lock(event.shop_id, event.order_id)
    if delivery is None or delivery.status != "pending":
        return
    delivery.move("cancelled", f"allocation failed: {event.reason}"[:300])
    delivery.completed_at = now_utc()
    await uow.deliveries.save(delivery)


def _request_payload(event: RechargeRequested | ManualDeliveryRequested) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "order_no": event.order_no,
        "quantity": event.quantity,
        "buyer_fields": dict(event.buyer_fields),
    }
    if isinstance(event, RechargeRequested):
        payload.update(account=event.account, amount=event.amount, currency=event.currency)
    return payload


async def request_recharge(event: RechargeRequested, uow: DeliveryUnitOfWork) -> None:
    """Queue a supplier recharge; the recharge worker performs it outside this transaction."""
    delivery = await uow.deliveries.lock_or_create(
        fresh_delivery(event.shop_id, event.order_id, event.product_id)
    )
    if delivery.status != "pending":
        log.info("order %s delivery is %s; ignoring RechargeRequested", event.order_id, delivery.status)
        return
    delivery.mode = RECHARGE
    delivery.product_id = event.product_id
    delivery.requested_at = requested_at()
    delivery.request = _request_payload(event)
    delivery.next_attempt_at = None
    delivery.move("recharging")
    await uow.deliveries.save(delivery)
    log.info("order %s queued for recharge", event.order_id)


async def request_manual_delivery(event: ManualDeliveryRequested, uow: DeliveryUnitOfWork) -> None:
    """A product an operator fulfils: into the manual queue, with what the buyer filled in."""
    delivery = await uow.deliveries.lock_or_create(
        fresh_delivery(event.shop_id, event.order_id, event.product_id)
    )
    if delivery.status != "pending":
        log.info("order %s delivery is %s; ignoring ManualDeliveryRequested", event.order_id, delivery.status)
        return
    delivery.mode = MANUAL
    delivery.product_id = event.product_id
    delivery.requested_at = requested_at()
    delivery.request = _request_payload(event)
    await send_to_manual(uow, delivery, "manual_product", "", now_utc())


async def send_to_manual(
    uow: DeliveryUnitOfWork, delivery: Delivery, reason: str, detail: str, now: datetime, alert: bool = True
) -> None:
    """Hand the (locked) delivery to the operators; the order keeps its state, nothing is lost."""
    if delivery.status != "manual":
        delivery.move("manual", reason)
    await uow.deliveries.save(delivery)
    task = await uow.tasks.lock(delivery.shop_id, delivery.order_id)
    if task is None:
        task = ManualTask(
            uuid7(), delivery.shop_id, delivery.order_id, delivery.id, reason, "open", now, detail
        )
    else:
        task.reopen(reason, detail)
    await uow.tasks.save(task)
    if alert:
        uow.publish(
            DeliveryNeedsAttention(
                order_id=delivery.order_id,
                shop_id=delivery.shop_id,
                delivery_id=delivery.id,
                mode=delivery.mode,
                reason=reason,
                detail=detail,
            )
        )
    log.warning("order %s sent to the manual queue: %s %s", delivery.order_id, reason, detail)


def succeeded(delivery: Delivery) -> DeliverySucceeded:
    return DeliverySucceeded(
        order_id=delivery.order_id,
        shop_id=delivery.shop_id,
        delivery_id=delivery.id,
        mode=delivery.mode,
        item_count=delivery.item_count,
        product_id=delivery.product_id,
        paid_at=delivery.paid_at,
        delivered_at=delivery.completed_at,
    )


def failed(delivery: Delivery, reason: str) -> DeliveryFailed:
    return DeliveryFailed(
        order_id=delivery.order_id,
        shop_id=delivery.shop_id,
        delivery_id=delivery.id,
        reason=reason,
        product_id=delivery.product_id,
    )


async def _resolve_task(uow: DeliveryUnitOfWork, delivery: Delivery, now: datetime) -> None:
    task = await uow.tasks.lock(delivery.shop_id, delivery.order_id)
    if task is not None:
        await _resolve(uow, task, now)


async def _resolve(uow: DeliveryUnitOfWork, task: ManualTask, now: datetime) -> None:
    """The (locked) manual task of a delivery that completed, resolved if it was open."""
    if task.open:
        task.resolve_automatically(now)
        await uow.tasks.save(task)


async def complete_recharge(
    uow: DeliveryUnitOfWork,
    shop_id: UUID,
    order_id: UUID,
    supplier_id: UUID,
    cost: int,
    currency: str,
    content: str | None,
    keyring: KeyRing,
) -> bool:
    """A supplier recharged the order: deliver it (also out of the manual queue). If an operator already
    finished the order meanwhile, the supplier's late success is a loss recorded against it."""
    now = now_utc()
    delivery = await uow.deliveries.lock(shop_id, order_id)
    if delivery is None:
        return False
    if delivery.status not in ("recharging", "manual"):
        await uow.suppliers.add_claim(
            Claim(
                uuid7(),
                shop_id,
                supplier_id,
                order_id,
                cost,
                currency,
                f"late success after the order was {delivery.status}",
                "system",
            )
        )
        log.warning("order %s: late supplier success after %s; claim recorded", order_id, delivery.status)
        return False
    if content:
        await uow.contents.store(
            shop_id, order_id, delivery.id, "supplier", keyring.seal(content, content_context(order_id))
        )
    delivery.reason = None
    delivery.complete("succeeded", int(delivery.request.get("quantity", 1)), now)
    await uow.deliveries.save(delivery)
    await _resolve_task(uow, delivery, now)
    uow.publish(succeeded(delivery))
    log.info("order %s recharged in %s ms", order_id, delivery.latency_ms)
    return True


async def sweep_overdue(uow: DeliveryUnitOfWork, now: datetime, sla_minutes: float, limit: int = 100) -> int:
    """SLA watchdog: a delivery still owed `sla_minutes` after payment → DeliveryDelayed + manual queue."""
    overdue = await uow.deliveries.overdue(now - timedelta(minutes=sla_minutes), limit)
    for delivery in overdue:
        delivery.sla_alerted_at = now
        paid_at = delivery.paid_at or delivery.created_at
        uow.publish(
            DeliveryDelayed(
                order_id=delivery.order_id,
                shop_id=delivery.shop_id,
                delivery_id=delivery.id,
                paid_at=paid_at,
                threshold_minutes=max(1, round(sla_minutes)),
                status=delivery.status,
            )
        )
        late = int((now - paid_at).total_seconds() // 60)
        await send_to_manual(
            uow, delivery, "sla_breach", f"not delivered {late} min after payment", now, alert=False
        )
    return len(overdue)


async def list_tasks(
    uow: DeliveryUnitOfWork, shop_id: UUID, statuses: list[str], limit: int
) -> list[tuple[ManualTask, Delivery]]:
    """The shop's manual queue in the given statuses, oldest first, each task with its delivery."""
    tasks = await uow.tasks.in_statuses(shop_id, statuses, limit)
    out = []
    for task in tasks:
        delivery = await uow.deliveries.get(shop_id, task.order_id)
        if delivery is not None:
            out.append((task, delivery))
    return out


async def _locked_task(uow: DeliveryUnitOfWork, shop_id: UUID, order_id: UUID) -> tuple[Delivery, ManualTask]:
    delivery = await uow.deliveries.lock(shop_id, order_id)
    task = await uow.tasks.lock(shop_id, order_id) if delivery is not None else None
    if delivery is None or task is None:
        raise NotFound(f"no manual task for order {order_id}")
    return delivery, task


async def claim_task(shop_id: UUID, order_id: UUID, operator: str, uow: DeliveryUnitOfWork) -> ManualTask:
    """An operator takes the task, so two operators do not fulfil the same order."""
    _, task = await _locked_task(uow, shop_id, order_id)
    task.claim(operator, now_utc())
    await uow.tasks.save(task)
    await uow.commit()
    return task


async def deliver_manually(
    shop_id: UUID,
    order_id: UUID,
    operator: str,
    content: str,
    uow: DeliveryUnitOfWork,
    keyring: KeyRing,
    force: bool = False,
) -> Delivery:
    """The operator hands over the goods: the content is sealed for the buyer and the order is delivered.
    While a supplier may still be executing a recharge of this order, only `force` delivers (double risk)."""
    delivery, task = await _locked_task(uow, shop_id, order_id)
    if delivery.status != "manual":
        raise Conflict(f"order {order_id} is already {delivery.status}")
    unsure = await uow.attempts.unresolved_submits(shop_id, order_id)
    if unsure and not force:
        channels = ", ".join(sorted({a.channel for a in unsure}))
        raise Conflict(
            f"{channels} may still recharge order {order_id}; wait for its status or deliver with force"
        )
    now = now_utc()
    task.deliver(operator, now)
    await uow.contents.store(
        shop_id, order_id, delivery.id, "operator", keyring.seal(content, content_context(order_id))
    )
    await uow.attempts.add(
        Attempt(
            id=uuid7(),
            shop_id=shop_id,
            delivery_id=delivery.id,
            order_id=order_id,
            channel="operator",
            phase="deliver",
            started_at=task.claimed_at or now,
            finished_at=now,
            latency_ms=latency_ms(task.claimed_at or now, now),
            outcome="succeeded",
        )
    )
    delivery.attempts += 1
    delivery.reason = None
    delivery.complete("succeeded", int(delivery.request.get("quantity", 1)), now)
    await uow.deliveries.save(delivery)
    await uow.tasks.save(task)
    uow.publish(succeeded(delivery))
    await uow.commit()
    log.info("order %s delivered by operator %s", order_id, operator)
    return delivery


async def reject_manually(
    shop_id: UUID, order_id: UUID, operator: str, reason: str, uow: DeliveryUnitOfWork
) -> Delivery:
    """The operator cannot fulfil the order: the delivery fails with the reason (the order side refunds)."""
    delivery, task = await _locked_task(uow, shop_id, order_id)
    if delivery.status != "manual":
        raise Conflict(f"order {order_id} is already {delivery.status}")
    now = now_utc()
    task.reject(operator, reason, now)
    delivery.reason = f"rejected by operator: {reason}"
    delivery.complete("failed", 0, now)
    await uow.deliveries.save(delivery)
    await uow.tasks.save(task)
    uow.publish(failed(delivery, delivery.reason))
    await uow.commit()
    log.info("order %s rejected by operator %s", order_id, operator)
    return delivery


@dataclass(frozen=True)
class RevealedContent:
    order_id: UUID
    mode: str
    source: str
    content: str


async def reveal_content(
    shop_id: UUID, order_id: UUID, reader: str, uow: DeliveryUnitOfWork, keyring: KeyRing
) -> RevealedContent:
    """The plaintext an operator or supplier delivered to the shop's order; every reveal is audit-logged."""
    delivery = await uow.deliveries.get(shop_id, order_id)
    stored = await uow.contents.get(shop_id, order_id)
    if delivery is None or stored is None:
        raise NotFound(f"no delivered content for order {order_id} (card keys are revealed by inventory)")
    source, sealed = stored
    content = keyring.open(sealed, content_context(order_id))
    await uow.contents.record_reveal(shop_id, order_id, reader)
    await uow.commit()
    log.info("revealed delivered content of order %s to %s", order_id, reader)
    return RevealedContent(order_id, delivery.mode, source, content)
