"""Order events against the key pools: a reservation for an approved order (one by one, or a batch's run
of a product's orders together), its release when the order is cancelled, the allocation of its keys when
it is paid (a batch's run together, a lapsed reservation claimed again), and the sweep that releases
reservations whose cancellation never came.

Consumer handlers are guarded transitions: an event that does not fit the order's reservation state is
logged and ignored. Business outcomes (no stock) are announced as events, never raised."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from faka_common.contracts import (
    AllocationFailed,
    KeysAllocated,
    OrderApproved,
    OrderCancelled,
    OrderPaid,
    StockReserved,
    StockUnavailable,
)
from faka_common.contracts.inventory import ReservationExpired

from inventory.domain import stock
from inventory.domain.model import Product, Reservation
from inventory.domain.reservations import (
    OTHER_SHOPS_PRODUCT,
    OUT_OF_STOCK,
    UNKNOWN_PRODUCT,
    OnApproved,
    OnCancelled,
    OnPaid,
    ReservationStatus,
    allocation_failure_reason,
    announces_keys,
    enough_stock,
    keyless,
    on_approved,
    on_cancelled,
    on_paid,
)
from inventory.domain.stock import StockChange
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


async def reserve_stock(event: OrderApproved, uow: InventoryUnitOfWork) -> None:
    """Reserve `quantity` keys for the payment window, all or none, answered once per order. A card-key
    order is checked, claimed and reserved in one statement (`keys.reserve`); what it found decides the
    answer here. An order is only ever served from a product of its own shop."""
    await uow.reservations.lock_order(event.order_id)
    attempt = await uow.keys.reserve(
        event.order_id,
        event.shop_id,
        event.product_id,
        event.quantity,
        event.payment_expires_at,
        stock.reserved(event.quantity),
    )
    if on_approved(attempt.existing) is OnApproved.IGNORE:
        log.info("order %s already has a reservation; ignoring OrderApproved", event.order_id)
        return
    if attempt.refused:
        log.info("order %s was already refused for lack of stock; ignoring OrderApproved", event.order_id)
        return
    if attempt.delivery_type is None:
        log.warning("order %s names unknown product %s; no stock", event.order_id, event.product_id)
        await _refuse(uow, event, available=0, reason=UNKNOWN_PRODUCT)
        return
    if attempt.shop_id != event.shop_id:
        log.warning(
            "order %s of shop %s names product %s of shop %s; no stock",
            event.order_id, event.shop_id, event.product_id, attempt.shop_id,
        )  # fmt: skip
        await _refuse(uow, event, available=0, reason=OTHER_SHOPS_PRODUCT)
        return

    if keyless(attempt.delivery_type):
        if await _add_reservation(uow, event, ReservationStatus.ACTIVE):
            await uow.stock.record(event.shop_id, event.product_id, StockChange(reserved=event.quantity))
            uow.publish(_reserved(event, expires_at=None))
        return

    if not enough_stock(event.quantity, attempt.claimed):
        log.info(
            "order %s wants %d of %s, %d available", event.order_id, event.quantity, event.product_id,
            attempt.claimed,
        )  # fmt: skip
        await _refuse(uow, event, available=attempt.claimed, reason=OUT_OF_STOCK)
        return
    if not attempt.reserved:
        log.info("order %s was reserved concurrently; ignoring this OrderApproved", event.order_id)
        return
    uow.publish(_reserved(event, expires_at=event.payment_expires_at))


class BulkReserveMismatch(RuntimeError):
    """The bulk path found the database not as it had just read it; the batch is redone one by one."""


async def reserve_stock_many(events: Sequence[OrderApproved], uow: InventoryUnitOfWork) -> None:
    """What `reserve_stock` does for each event, in order, with the round trips of a few: the batch
    consumer hands over a run of OrderApproved. Card-key orders of one product claim their keys together
    and are served in order, each all or none; anything unusual (an order twice in the run, a keyless or
    unknown product, a product of another shop than the order's) takes the one-by-one path."""
    order_ids = [event.order_id for event in events]
    if len(set(order_ids)) != len(order_ids):
        for event in events:
            await reserve_stock(event, uow)
        return
    await uow.reservations.lock_orders(order_ids)
    answered = await uow.reservations.answered(order_ids)
    by_product: dict[UUID, list[OrderApproved]] = {}
    for event in events:
        if event.order_id in answered:
            log.info("order %s already answered; ignoring OrderApproved", event.order_id)
        else:
            by_product.setdefault(event.product_id, []).append(event)
    for product_id, wanting in by_product.items():
        product = await uow.products.get(product_id)
        if product is None or keyless(product.delivery_type):
            for event in wanting:
                await reserve_stock(event, uow)
            continue
        for event in wanting:
            if event.shop_id != product.shop_id:
                await reserve_stock(event, uow)
        own = [event for event in wanting if event.shop_id == product.shop_id]
        if own:
            await _reserve_card_keys(product, own, uow)


async def _reserve_card_keys(
    product: Product, wanting: list[OrderApproved], uow: InventoryUnitOfWork
) -> None:
    claimed = await uow.keys.claim(product.id, sum(e.quantity for e in wanting), product.issue_order)
    served: list[OrderApproved] = []
    assigned: list[tuple[UUID, UUID]] = []
    for event in wanting:
        left = len(claimed) - len(assigned)
        if not enough_stock(event.quantity, left):
            log.info(
                "order %s wants %d of %s, %d available", event.order_id, event.quantity, product.id, left
            )
            await _refuse(uow, event, available=left, reason=OUT_OF_STOCK)
            continue
        start = len(assigned)
        assigned.extend((key_id, event.order_id) for key_id in claimed[start : start + event.quantity])
        served.append(event)
    if not served:
        return
    rows = [(e.order_id, e.product_id, e.quantity, e.payment_expires_at) for e in served]
    if await uow.reservations.add_many(product.shop_id, rows) != len(rows):
        raise BulkReserveMismatch("an order of the batch was reserved concurrently")
    if await uow.keys.take_many(assigned, "reserved") != len(assigned):
        raise BulkReserveMismatch("a claimed key was no longer available")
    await uow.stock.record(product.shop_id, product.id, stock.reserved(len(assigned)))
    for event in served:
        uow.publish(_reserved(event, expires_at=event.payment_expires_at))


async def release_stock(event: OrderCancelled, uow: InventoryUnitOfWork) -> None:
    """The order ended unpaid: its reserved keys go back to the pool (only the order's own shop's
    cancellation releases them)."""
    await uow.reservations.lock_order(event.order_id)
    reservation = await uow.reservations.get(event.order_id, for_update=True)
    if reservation is not None and reservation.shop_id != event.shop_id:
        log.warning(
            "order %s cancelled for shop %s, but its reservation is of shop %s; nothing released",
            event.order_id, event.shop_id, reservation.shop_id,
        )  # fmt: skip
        return
    if on_cancelled(reservation.status if reservation else None) is OnCancelled.IGNORE:
        log.info(
            "order %s cancelled (%s) with reservation %s; nothing to release",
            event.order_id,
            event.reason,
            reservation.status if reservation else "none",
        )
        return
    assert reservation is not None
    released = await _release(uow, reservation)
    log.info("order %s cancelled (%s): released %d keys", event.order_id, event.reason, released)


async def allocate_keys_many(events: Sequence[OrderPaid], uow: InventoryUnitOfWork) -> None:
    """What `allocate_keys` does for each event, with the round trips of a few: the batch consumer hands
    over a run of OrderPaid. The card-key orders of one product whose reservation is active sell their
    reserved keys together (the run's order locks, reservations, keys, reservation moves and stock count in
    one statement each); anything else (an order twice in the run, a reservation lapsed or already
    allocated or missing, a keyless or unknown product, a product of another shop than the order's) takes
    the one-by-one path."""
    order_ids = [event.order_id for event in events]
    if len(set(order_ids)) != len(order_ids):
        for event in events:
            await allocate_keys(event, uow)
        return
    await uow.reservations.lock_orders(order_ids)
    reserved = await uow.reservations.get_many(order_ids)
    by_product: dict[UUID, list[tuple[OrderPaid, Reservation]]] = {}
    for event in events:
        reservation = reserved.get(event.order_id)
        if reservation is None or on_paid(reservation.status) is not OnPaid.ALLOCATE_RESERVED:
            await allocate_keys(event, uow)
        else:
            by_product.setdefault(reservation.product_id, []).append((event, reservation))
    for product_id, paid in by_product.items():
        product = await uow.products.get(product_id)
        if product is None or product.delivery_type != "card_key":
            for event, _ in paid:
                await allocate_keys(event, uow)
            continue
        for event, _ in paid:
            if event.shop_id != product.shop_id:
                await allocate_keys(event, uow)
        own = [(event, reservation) for event, reservation in paid if event.shop_id == product.shop_id]
        if own:
            await _sell_reserved_keys(product, own, uow)


async def _sell_reserved_keys(
    product: Product, paid: list[tuple[OrderPaid, Reservation]], uow: InventoryUnitOfWork
) -> None:
    order_ids = [event.order_id for event, _ in paid]
    sold = await uow.keys.sell_reserved_many(order_ids)
    for event, reservation in paid:
        if len(sold[event.order_id]) != reservation.quantity:
            raise RuntimeError(
                f"order {event.order_id} reserved {reservation.quantity} keys but holds "
                f"{len(sold[event.order_id])}"
            )
    await uow.reservations.set_status_many(order_ids, ReservationStatus.ALLOCATED)
    quantity = sum(reservation.quantity for _, reservation in paid)
    await uow.stock.record(product.shop_id, product.id, stock.sold_from_reservation(quantity))
    for event, _ in paid:
        _announce_allocation(uow, event.order_id, product, sold[event.order_id])


async def allocate_keys(event: OrderPaid, uow: InventoryUnitOfWork) -> None:
    """The order is paid: its reserved keys are sold to it; a lapsed reservation is claimed again. A
    product of another shop than the order's is never sold to it (AllocationFailed)."""
    await uow.reservations.lock_order(event.order_id)
    reservation = await uow.reservations.get(event.order_id, for_update=True)
    current = reservation.status if reservation else None
    action = on_paid(current)
    if action is OnPaid.IGNORE:
        log.info("order %s already allocated; ignoring OrderPaid", event.order_id)
        return
    product_id = reservation.product_id if reservation else event.product_id
    quantity = reservation.quantity if reservation else event.quantity
    product = await uow.products.get(product_id)
    if product is None:
        log.error("paid order %s names unknown product %s", event.order_id, product_id)
        uow.publish(_allocation_failed(event, product_id, UNKNOWN_PRODUCT))
        return
    if product.shop_id != event.shop_id:  # a reservation is of its product's shop (a foreign key)
        log.error(
            "paid order %s of shop %s names product %s of shop %s; nothing allocated",
            event.order_id, event.shop_id, product.id, product.shop_id,
        )  # fmt: skip
        uow.publish(_allocation_failed(event, product.id, OTHER_SHOPS_PRODUCT))
        return

    if action is OnPaid.ALLOCATE_RESERVED:
        key_ids: list[UUID] = []
        if product.delivery_type == "card_key":
            key_ids = await uow.keys.sell_reserved(event.order_id)
            if len(key_ids) != quantity:
                raise RuntimeError(
                    f"order {event.order_id} reserved {quantity} keys but holds {len(key_ids)}"
                )
        await uow.reservations.set_status(event.order_id, ReservationStatus.ALLOCATED)
        await uow.stock.record(product.shop_id, product.id, stock.sold_from_reservation(quantity))
        _announce_allocation(uow, event.order_id, product, key_ids)
        return

    # RECLAIM: the reservation was released (late payment) or never made.
    key_ids = []
    if product.delivery_type == "card_key":
        claimed = await uow.keys.claim(product.id, quantity, product.issue_order)
        if not enough_stock(quantity, len(claimed)):
            reason = allocation_failure_reason(current)
            log.warning(
                "paid order %s cannot get %d keys of %s: %s", event.order_id, quantity, product.id, reason
            )
            uow.publish(_allocation_failed(event, product.id, reason))
            return
        key_ids = await uow.keys.take(claimed, event.order_id, "sold")
        await uow.stock.record(product.shop_id, product.id, stock.sold_directly(quantity))
    else:
        await uow.stock.record(product.shop_id, product.id, StockChange(sold=quantity))
    if reservation is None:
        added = await uow.reservations.add(
            event.order_id,
            product.shop_id,
            product.id,
            quantity,
            ReservationStatus.ALLOCATED,
            expires_at=None,
        )
        if not added:
            raise RuntimeError(f"order {event.order_id} got a reservation concurrently; retrying")
    else:
        await uow.reservations.set_status(event.order_id, ReservationStatus.ALLOCATED)
    log.info(
        "paid order %s allocated %d keys of %s after its reservation lapsed",
        event.order_id,
        quantity,
        product.id,
    )
    _announce_allocation(uow, event.order_id, product, key_ids)


async def _release(uow: InventoryUnitOfWork, reservation: Reservation) -> int:
    """An active reservation's keys go back to the pool; returns how many units were released."""
    keys = await uow.keys.release(reservation.order_id)
    await uow.reservations.set_status(reservation.order_id, ReservationStatus.RELEASED)
    if keys.offered or keys.withheld:
        change = stock.released(len(keys.offered)) + StockChange(reserved=-len(keys.withheld))
        await uow.stock.record(reservation.shop_id, reservation.product_id, change)
    else:  # a loop-key reservation holds units, not keys
        change = StockChange(reserved=-reservation.quantity)
        await uow.stock.record(reservation.shop_id, reservation.product_id, change)
    return reservation.quantity


async def expire_reservations(uow: InventoryUnitOfWork, grace_seconds: float, limit: int = 200) -> int:
    """The safety net: release reservations still active past expires_at + grace (their OrderCancelled
    never came). Each is locked and re-checked, so it is released exactly once however many sweepers run."""
    lapsed = await uow.reservations.lapsed(grace_seconds, limit)
    for reservation in lapsed:
        await _release(uow, reservation)
        assert reservation.expires_at is not None
        uow.publish(
            ReservationExpired(
                order_id=reservation.order_id,
                shop_id=reservation.shop_id,
                product_id=reservation.product_id,
                quantity=reservation.quantity,
                expired_at=reservation.expires_at,
            )
        )
        log.warning(
            "reservation of order %s lapsed at %s without a cancellation; released %d units",
            reservation.order_id,
            reservation.expires_at.isoformat(),
            reservation.quantity,
        )
    await uow.commit()
    return len(lapsed)


async def _add_reservation(uow: InventoryUnitOfWork, event: OrderApproved, status: ReservationStatus) -> bool:
    added = await uow.reservations.add(
        event.order_id, event.shop_id, event.product_id, event.quantity, status, event.payment_expires_at
    )
    if not added:
        log.info("order %s was reserved concurrently; ignoring this OrderApproved", event.order_id)
    return added


async def _refuse(uow: InventoryUnitOfWork, event: OrderApproved, available: int, reason: str) -> None:
    """Answer the order (in its shop) that there is no stock for it; the refusal records why."""
    refused = await uow.reservations.refuse(
        event.order_id, event.shop_id, event.product_id, event.quantity, available, reason
    )
    if refused:
        uow.publish(
            StockUnavailable(
                order_id=event.order_id,
                shop_id=event.shop_id,
                product_id=event.product_id,
                requested=event.quantity,
                available=available,
                reason=reason,
            )
        )
    else:
        log.info("order %s was refused concurrently; ignoring this OrderApproved", event.order_id)


def _reserved(event: OrderApproved, expires_at: datetime | None) -> StockReserved:
    return StockReserved(
        order_id=event.order_id,
        shop_id=event.shop_id,
        product_id=event.product_id,
        quantity=event.quantity,
        expires_at=expires_at,
    )


def _allocation_failed(event: OrderPaid, product_id: UUID, reason: str) -> AllocationFailed:
    return AllocationFailed(
        order_id=event.order_id, shop_id=event.shop_id, product_id=product_id, reason=reason
    )


def _announce_allocation(
    uow: InventoryUnitOfWork, order_id: UUID, product: Product, key_ids: list[UUID]
) -> None:
    """Keyed products announce their keys; manual / recharge orders are fulfilled by delivery (asked by
    the order service), so nothing is announced that delivery could read as an allocation without keys."""
    if announces_keys(product.delivery_type):
        uow.publish(_allocated(order_id, product, key_ids))
    else:
        log.info("paid %s order %s counted as sold; delivery fulfils it", product.delivery_type, order_id)


def _allocated(order_id: UUID, product: Product, key_ids: list[UUID]) -> KeysAllocated:
    return KeysAllocated(
        order_id=order_id,
        shop_id=product.shop_id,
        product_id=product.id,
        key_ids=key_ids,
        delivery_type=product.delivery_type,
    )
