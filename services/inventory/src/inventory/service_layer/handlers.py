"""Inventory handlers: order events (reserve, release, allocate), the safety-net sweeps (lapsed
reservations, expired keys, stock folds) and the catalog / key commands.

Consumer handlers are guarded transitions: an event that does not fit the order's reservation state is
logged and ignored. Business outcomes (no stock) are announced as events, never raised."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
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
from faka_common.contracts.inventory import LowStock, ProductChanged, ReservationExpired
from faka_common.crypto import KeyRing
from faka_common.errors import Conflict, DomainError, NotFound
from uuid6 import uuid7

from inventory.adapters.catalog_projection import CatalogProjection, NoCatalogProjection
from inventory.adapters.orm import Reveal
from inventory.adapters.sealing import SealedBlock, SealJob, discard_pool, seal_block, sealing_pool
from inventory.adapters.stock_projection import StockProjection
from inventory.domain import stock
from inventory.domain.keys import (
    ImportFormat,
    ImportTally,
    InvalidLine,
    LineSplitter,
    loop_key_context,
    read_key,
    seal_context,
)
from inventory.domain.model import Category, PoolKey, Product, Reservation
from inventory.domain.reservations import (
    OTHER_SHOPS_PRODUCT,
    OUT_OF_STOCK,
    UNKNOWN_PRODUCT,
    DeliveryType,
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
from inventory.domain.stock import IssueOrder, Stock, StockChange, stock_signals
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)

SEAL_LINES = 20_000  # lines per sealing job during an import (parsed, fingerprinted, sealed in a worker)
SEAL_BYTES = 2 * 1024 * 1024  # ... or fewer lines if they add up to this many bytes (bounded memory)
SEALING_AHEAD = 3  # sealing jobs queued ahead of the block the database is loading
FIRST_BLOCK_LINES = 2_000  # a short first block, so the database starts loading sooner


# --- order events ---------------------------------------------------------------------------------


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


# --- stock counts ----------------------------------------------------------------------------------


async def fold_stock(uow: InventoryUnitOfWork, projection: StockProjection, limit: int = 10_000) -> int:
    """Add appended stock changes into the per-product totals; flip in-stock flags, announce low stock
    once per crossing, and after commit write the same numbers to the Redis projection."""
    folded = await uow.stock.fold(limit)
    if not folded:
        await uow.commit()
        return 0
    changed = {product_id: (counts, version) for product_id, counts, version in folded}
    published: list[tuple[UUID, Stock, int, bool]] = []
    for product in await uow.products.get_many(list(changed)):
        counts, version = changed[product.id]
        if keyless(product.delivery_type):
            counts = Stock(None, counts.reserved, counts.sold)
        in_stock = await _apply_signals(uow, product, counts)
        published.append((product.id, counts, version, in_stock))
    await uow.commit()
    for product_id, counts, version, in_stock in published:
        try:
            await projection.publish(product_id, counts, version, in_stock)
        except Exception as error:  # the next fold of this product writes it again
            log.warning("stock projection of %s not written: %s", product_id, error)
    return len(published)


async def _apply_signals(uow: InventoryUnitOfWork, product: Product, counts: Stock) -> bool:
    signals = stock_signals(
        counts.available, product.low_stock_threshold, product.low_stock_alerted, product.in_stock
    )
    if signals.low_stock_alerted != product.low_stock_alerted or signals.in_stock_changed:
        updated = dataclasses.replace(
            product, low_stock_alerted=signals.low_stock_alerted, in_stock=signals.in_stock
        )
        await uow.products.update(updated)
        if signals.in_stock_changed:
            uow.publish(product_changed(updated))
    if signals.announce_low_stock:
        assert counts.available is not None and product.low_stock_threshold is not None
        uow.publish(
            LowStock(
                product_id=product.id,
                shop_id=product.shop_id,
                title=product.title,
                available=counts.available,
                threshold=product.low_stock_threshold,
            )
        )
        log.info("product %s is low on stock: %d left", product.id, counts.available)
    return signals.in_stock


async def expire_keys(uow: InventoryUnitOfWork, limit: int = 5_000) -> int:
    """Available keys past their batch's expiry leave the pool."""
    expired = await uow.keys.expire_due(limit)
    for shop_id, product_id, count in expired:
        await uow.stock.record(shop_id, product_id, stock.withdrawn(count))
        log.info("%d keys of %s expired", count, product_id)
    await uow.commit()
    return sum(count for _, _, count in expired)


# --- catalog ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewProduct:
    title: str
    price: int
    currency: str
    delivery_type: DeliveryType
    description: str = ""
    loop_key: str | None = None
    face_value: int | None = None
    usage_instructions: str = ""
    category_id: UUID | None = None
    max_per_order: int | None = None
    max_per_buyer: int | None = None
    active: bool = True
    visible: bool = True
    sort_order: int = 0
    issue_order: IssueOrder = IssueOrder.FIFO
    low_stock_threshold: int | None = None
    hide_when_sold_out: bool = False
    variant_of: UUID | None = None
    variant_label: str | None = None
    replacement_window_hours: int = 24
    replacements_per_order: int = 1
    replacement_evidence_required: bool = False


EDITABLE = frozenset(
    {
        "title", "description", "price", "currency", "usage_instructions", "category_id", "max_per_order",
        "max_per_buyer", "active", "visible", "sort_order", "issue_order", "low_stock_threshold",
        "face_value", "hide_when_sold_out", "variant_label", "replacement_window_hours",
        "replacements_per_order", "replacement_evidence_required",
    }
)  # fmt: skip

NO_CATALOG = NoCatalogProjection()


def product_changed(product: Product) -> ProductChanged:
    return ProductChanged(
        product_id=product.id,
        shop_id=product.shop_id,
        title=product.title,
        price=product.price,
        currency=product.currency,
        delivery_type=product.delivery_type,
        category_id=product.category_id,
        active=product.active,
        visible=product.visible,
        sort_order=product.sort_order,
        max_per_order=product.max_per_order,
        max_per_buyer=product.max_per_buyer,
        in_stock=product.in_stock,
        issue_order=product.issue_order.value,
        face_value=product.face_value,
        paused=product.paused_at is not None,
    )


async def create_category(
    shop_id: UUID, name: str, sort_order: int, visible: bool, uow: InventoryUnitOfWork
) -> Category:
    category = Category(uuid7(), shop_id, name, sort_order, visible)
    if not await uow.categories.add(category):
        raise Conflict(f"a category named {name!r} exists")
    await uow.commit()
    return category


async def list_categories(shop_id: UUID, uow: InventoryUnitOfWork) -> list[Category]:
    return await uow.categories.list(shop_id)


async def _check_category(uow: InventoryUnitOfWork, shop_id: UUID, category_id: UUID | None) -> None:
    if category_id is not None and await uow.categories.in_shop(shop_id, category_id) is None:
        raise NotFound(f"no category {category_id}")


async def create_product(
    shop_id: UUID,
    new: NewProduct,
    uow: InventoryUnitOfWork,
    keyring: KeyRing,
    catalog: CatalogProjection = NO_CATALOG,
) -> tuple[Product, Stock]:
    """Add a product to the shop (its category and main product are the shop's); after commit it is
    written to the storefront read model."""
    if new.delivery_type == "loop_key" and not (new.loop_key and new.loop_key.strip()):
        raise DomainError("a loop_key product needs a non-empty loop_key")
    if new.delivery_type != "loop_key" and new.loop_key is not None:
        raise DomainError("loop_key only applies to loop_key products")
    if new.delivery_type != "recharge" and new.face_value is not None:
        raise DomainError("face_value only applies to recharge products")
    await _check_category(uow, shop_id, new.category_id)
    await _check_variant(uow, shop_id, new)
    product_id = uuid7()
    sealed = None
    if new.delivery_type == "loop_key" and new.loop_key is not None:
        sealed = keyring.seal(new.loop_key.strip(), loop_key_context(product_id))
    empty = Stock(None) if keyless(new.delivery_type) else Stock()
    product = Product(
        id=product_id,
        shop_id=shop_id,
        title=new.title,
        description=new.description,
        price=new.price,
        currency=new.currency,
        delivery_type=new.delivery_type,
        usage_instructions=new.usage_instructions,
        active=new.active,
        created_at=datetime.now(UTC),
        loop_key=sealed,
        category_id=new.category_id,
        max_per_order=new.max_per_order,
        max_per_buyer=new.max_per_buyer,
        visible=new.visible,
        sort_order=new.sort_order,
        issue_order=new.issue_order,
        low_stock_threshold=new.low_stock_threshold,
        in_stock=keyless(new.delivery_type),
        face_value=new.face_value,
        hide_when_sold_out=new.hide_when_sold_out,
        variant_of=new.variant_of,
        variant_label=new.variant_label,
        replacement_window_hours=new.replacement_window_hours,
        replacements_per_order=new.replacements_per_order,
        replacement_evidence_required=new.replacement_evidence_required,
    )
    await uow.products.add(product)
    uow.publish(product_changed(product))
    await uow.commit()
    await _project(catalog, product)
    return product, empty


async def _check_variant(uow: InventoryUnitOfWork, shop_id: UUID, new: NewProduct) -> None:
    """A variant (SKU) hangs under a main product that is not itself a variant, in the same currency, and
    has a label to tell it apart (e.g. "100 元")."""
    if new.variant_of is None:
        return
    if not (new.variant_label and new.variant_label.strip()):
        raise DomainError("a variant needs a variant_label (how the buyer tells it from its siblings)")
    main = await uow.products.in_shop(shop_id, new.variant_of)
    if main is None:
        raise NotFound(f"variant_of names no product ({new.variant_of})")
    if main.variant_of is not None:
        raise Conflict("variant_of must name a main product, not another variant (one level of SKUs)")
    if main.currency != new.currency:
        raise Conflict(f"a variant is sold in its main product's currency ({main.currency})")


async def update_product(
    shop_id: UUID,
    product_id: UUID,
    changes: Mapping[str, Any],
    uow: InventoryUnitOfWork,
    catalog: CatalogProjection = NO_CATALOG,
) -> tuple[Product, Stock]:
    """Edit catalog fields (only those in `changes`); announces the product as it is now and, after
    commit, writes it to the storefront read model (or takes it off when hidden or inactive)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise DomainError(f"not editable: {', '.join(sorted(unknown))}")
    product = await uow.products.in_shop(shop_id, product_id, for_update=True)
    if product is None:
        raise NotFound(f"no product {product_id}")
    if "category_id" in changes:
        await _check_category(uow, shop_id, changes["category_id"])
    values = dict(changes)
    if "issue_order" in values:
        values["issue_order"] = IssueOrder(values["issue_order"])
    updated = dataclasses.replace(product, **values)
    if updated.face_value is not None and updated.delivery_type != "recharge":
        raise Conflict("face_value only applies to recharge products")
    if updated.variant_of is not None and not (updated.variant_label and updated.variant_label.strip()):
        raise Conflict("a variant keeps a variant_label")
    counts = (await uow.stock.counts([updated]))[updated.id]
    if "low_stock_threshold" in changes:  # a new threshold re-arms the latch against the current count
        updated = dataclasses.replace(updated, low_stock_alerted=False)
    await uow.products.update(updated)
    await _apply_signals(uow, updated, counts)
    updated = await uow.products.in_shop(shop_id, product_id) or updated
    uow.publish(product_changed(updated))
    await uow.commit()
    await _project(catalog, updated)
    return updated, counts


async def _project(catalog: CatalogProjection, product: Product) -> None:
    try:
        await catalog.publish(product)
    except Exception as error:  # the projection counts it as missed; its sweep rebuilds from Postgres
        log.warning("storefront entry of %s not written: %s", product.id, error)


async def rebuild_storefront(uow: InventoryUnitOfWork, catalog: CatalogProjection) -> int:
    """Write every product of every shop and its folded stock counts from Postgres to the storefront read
    model, each into its shop's index, and mark those shops built (each write version-guarded, so a newer
    one already there is kept); returns how many products."""
    catalog.begin_rebuild()
    products = await uow.products.of_every_shop()
    folded = await uow.stock.folded(products)
    await uow.rollback()  # read only: no transaction stays open while Redis is written
    await catalog.rebuild([(p, *folded[p.id]) for p in products])
    shops = len({p.shop_id for p in products})
    log.info("storefront read model rebuilt: %d products of %d shops", len(products), shops)
    return len(products)


async def find_product(shop_id: UUID, product_id: UUID, uow: InventoryUnitOfWork) -> Product:
    """The shop's product (NotFound for another shop's), without its stock counts."""
    product = await uow.products.in_shop(shop_id, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    return product


async def get_product(shop_id: UUID, product_id: UUID, uow: InventoryUnitOfWork) -> tuple[Product, Stock]:
    product = await find_product(shop_id, product_id, uow)
    counts = await uow.stock.counts([product])
    return product, counts[product.id]


async def list_products(shop_id: UUID, uow: InventoryUnitOfWork) -> list[tuple[Product, Stock]]:
    items = await uow.products.list(shop_id)
    counts = await uow.stock.counts(items)
    return [(p, counts[p.id]) for p in items]


# --- key pools -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOptions:
    format: ImportFormat = ImportFormat.TEXT
    cost_price: int | None = None
    expires_at: datetime | None = None
    supplier_id: UUID | None = None


@dataclass(frozen=True)
class ImportResult:
    batch_id: UUID
    imported: int
    duplicates: int
    invalid: int
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    cost_price: int | None = None
    expires_at: datetime | None = None
    supplier_id: UUID | None = None


@dataclass(frozen=True)
class RevealedKey:
    key_id: UUID
    content: str


@dataclass(frozen=True)
class Revealed:
    order_id: UUID
    shop_id: UUID
    product_id: UUID
    keys: list[RevealedKey]
    usage_instructions: str


async def _card_product(uow: InventoryUnitOfWork, shop_id: UUID, product_id: UUID) -> Product:
    """The shop's card-key product (404 for an unknown id or another shop's)."""
    product = await find_product(shop_id, product_id, uow)
    if product.delivery_type != "card_key":
        raise Conflict(f"this is a {product.delivery_type} product: it takes no card-key imports")
    return product


async def _sealed_blocks(
    chunks: AsyncIterable[bytes], fmt: ImportFormat, product_id: UUID, keyring: KeyRing, tally: ImportTally
) -> AsyncGenerator[bytes, None]:
    """The upload's staged keys as binary COPY data, block by block in upload order. A producer task
    reads the upload and cuts it into blocks of SEAL_LINES lines (or SEAL_BYTES), which the worker
    processes parse, fingerprint and seal, up to SEALING_AHEAD blocks ahead of the one the database is
    loading; an upload that fits in one block is sealed on a thread. A key's id is the batch's id base
    plus its line number: unique, and in upload order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[asyncio.Future[SealedBlock] | None] = asyncio.Queue(SEALING_AHEAD)
    pool: ProcessPoolExecutor | None = None

    async def produce() -> None:
        nonlocal pool
        splitter = LineSplitter()
        id_base = uuid7().int & ~0xFFFFFFFF
        lines: list[bytes | None] = []
        first = size = 0
        limit = FIRST_BLOCK_LINES

        async def submit(executor: ProcessPoolExecutor | None) -> None:
            nonlocal lines, size
            job = SealJob(keyring, fmt, product_id, id_base, first, lines)
            lines, size = [], 0
            await queue.put(loop.run_in_executor(executor, seal_block, job))

        try:
            async for chunk in chunks:
                start, new = splitter.split(chunk)
                if not lines:
                    first = start
                lines.extend(new)
                size += len(chunk)
                if len(lines) >= limit or size >= SEAL_BYTES:
                    pool = pool or sealing_pool()
                    await submit(pool)
                    limit = SEAL_LINES
            for number, raw in splitter.close():
                first = number if not lines else first
                lines.append(raw)
            if lines:
                await submit(pool)  # None (a thread) when the whole upload is this one block
        except Exception as error:  # the upload broke off: the consumer raises it in turn
            failed: asyncio.Future[SealedBlock] = loop.create_future()
            failed.set_exception(error)
            await queue.put(failed)
        await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (pending := await queue.get()) is not None:
            try:
                block = await pending
            except BrokenProcessPool:
                if pool is not None:
                    discard_pool(pool)
                raise
            for line in block.invalid_lines:
                tally.reject(line)
            tally.invalid += block.invalid - len(block.invalid_lines)
            tally.keys += block.keys
            yield block.copy_data
    finally:
        producer.cancel()
        while not queue.empty():
            if (left := queue.get_nowait()) is not None:
                left.cancel()
        await asyncio.gather(producer, return_exceptions=True)


async def import_key_stream(
    shop_id: UUID,
    product_id: UUID,
    chunks: AsyncIterable[bytes],
    options: ImportOptions,
    uow: InventoryUnitOfWork,
    keyring: KeyRing,
) -> ImportResult:
    """Stream an upload into the product's pool in one transaction: lines are parsed, fingerprinted and
    sealed as they arrive and COPYed to a staging table; keys the product already holds (or that repeat
    within the upload) are counted as duplicates. If anything fails, nothing of the upload is kept."""
    product = await _card_product(uow, shop_id, product_id)
    if options.cost_price is not None and options.cost_price < 0:
        raise DomainError("cost_price must not be negative")
    batch = await uow.keys.new_batch(
        uuid7(), product, options.cost_price, options.expires_at, options.format.value, options.supplier_id
    )
    tally = ImportTally()
    async with contextlib.aclosing(
        _sealed_blocks(chunks, options.format, product_id, keyring, tally)
    ) as blocks:
        staged, imported = await uow.keys.bulk_load(batch, options.expires_at, blocks)
    duplicates = staged - imported
    await uow.keys.record_batch(
        batch.id,
        imported,
        duplicates,
        tally.invalid,
        [{"line": i.line, "reason": i.reason} for i in tally.invalid_lines],
    )
    if not batch.withheld:  # a paused supplier's keys come in withdrawn, not on sale
        await uow.stock.record(product.shop_id, product_id, stock.imported(imported))
    await uow.commit()
    log.info(
        "batch %s for %s: %d imported, %d duplicates, %d invalid",
        batch.id,
        product_id,
        imported,
        duplicates,
        tally.invalid,
    )
    return ImportResult(
        batch.id,
        imported,
        duplicates,
        tally.invalid,
        tally.invalid_lines,
        options.cost_price,
        options.expires_at,
        options.supplier_id,
    )


async def import_keys(
    shop_id: UUID,
    product_id: UUID,
    text: str,
    uow: InventoryUnitOfWork,
    keyring: KeyRing,
    options: ImportOptions | None = None,
) -> ImportResult:
    """Import keys pasted as text (one key per line)."""

    async def one_chunk() -> AsyncIterator[bytes]:
        yield text.encode("utf-8", errors="surrogateescape")

    return await import_key_stream(shop_id, product_id, one_chunk(), options or ImportOptions(), uow, keyring)


async def void_key(shop_id: UUID, product_id: UUID, key_id: UUID, uow: InventoryUnitOfWork) -> None:
    """Withdraw one unsold key for good; a reserved or sold key cannot be voided."""
    product = await _card_product(uow, shop_id, product_id)
    if not await uow.keys.withdraw(product_id, key_id, "void"):
        raise Conflict(
            f"key {key_id} of product {product_id} is not available (unknown, reserved, sold or void)"
        )
    await uow.stock.record(product.shop_id, product_id, stock.withdrawn(1))
    await uow.commit()
    log.info("key %s of %s voided", key_id, product_id)


async def replace_key(
    shop_id: UUID, product_id: UUID, key_id: UUID, content: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> UUID:
    """Void one unsold key and add its replacement, in one transaction; returns the new key's id."""
    product = await _card_product(uow, shop_id, product_id)
    key = read_key(content.encode("utf-8", errors="surrogateescape"), ImportFormat.TEXT, 1)
    if key is None or isinstance(key, InvalidLine):
        raise DomainError(f"the replacement key is not valid: {key.reason if key else 'empty'}")
    if not await uow.keys.withdraw(product_id, key_id, "void"):
        raise Conflict(
            f"key {key_id} of product {product_id} is not available (unknown, reserved, sold or void)"
        )
    batch = await uow.keys.new_batch(uuid7(), product, None, None, "replacement")
    new_id = uuid7()
    added = await uow.keys.add_one(
        new_id,
        batch,
        keyring.fingerprint(key, product_id.bytes),
        keyring.seal(key, seal_context(product_id, new_id)),
    )
    if not added:
        raise Conflict("the replacement key is already in this product's pool")
    await uow.keys.record_batch(batch.id, 1, 0, 0, [])
    await uow.commit()
    log.info("key %s of %s replaced by %s", key_id, product_id, new_id)
    return new_id


async def list_pool(
    shop_id: UUID,
    product_id: UUID,
    status: str | None,
    after: UUID | None,
    limit: int,
    uow: InventoryUnitOfWork,
) -> list[PoolKey]:
    """A page of the shop's card-key product's pool: ids, states and fingerprints, never the keys."""
    product = await _card_product(uow, shop_id, product_id)
    return await uow.keys.listed(product.id, status, after, limit)


async def export_unsold(
    shop_id: UUID, product_id: UUID, uow: InventoryUnitOfWork, keyring: KeyRing
) -> AsyncIterator[str]:
    """The plaintext of the shop's product's unsold keys in issue order, one per line, streamed."""
    product = await _card_product(uow, shop_id, product_id)
    exported = 0
    async for stored in uow.keys.stream_unsold(product.id, product.issue_order):
        yield keyring.open(stored.sealed, seal_context(stored.product_id, stored.id)) + "\n"
        exported += 1
    log.info("exported %d unsold keys of %s", exported, product_id)


async def reveal_keys(
    shop_id: UUID, order_id: UUID, reader: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> Revealed:
    """The plaintext of the keys a paid order of the shop owns; every reveal is audit-logged with its
    reader, by the statement that reads the keys (one round trip: run in a reader's unit of work it commits
    on its own). Another shop's order is answered as one that owns no keys, and nothing is logged."""
    found = await uow.reveals.reveal(shop_id, order_id, reader)
    if found is None:
        raise NotFound(f"order {order_id} owns no keys")
    revealed = _opened(found, keyring)
    await uow.commit()
    log.info("revealed %d keys of order %s to %s", len(revealed.keys), order_id, reader)
    return revealed


async def reveal_keys_many(
    asked: Sequence[tuple[UUID, UUID]], reader: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> list[Revealed]:
    """`reveal_keys` of several (order, shop) pairs in one statement, in order-id order: an order its named
    shop does not own with keys allocated is left out (nothing logged for it), as is a pair asked twice."""
    found = await uow.reveals.reveal_many(asked, reader)
    revealed = [opened for opened in (_opened_or_none(reveal, keyring) for reveal in found) if opened]
    await uow.commit()
    log.info("revealed the keys of %d orders of %d asked to %s", len(revealed), len(asked), reader)
    return revealed


def _opened(found: Reveal, keyring: KeyRing) -> Revealed:
    """The plaintext of what a reveal read: the loop key once a unit, or the sold keys (NotFound when there
    are none to show)."""
    product = found.product
    if product.delivery_type == "loop_key":
        if product.loop_key is None:
            raise NotFound(f"product {product.id} has no loop key")
        content = keyring.open(product.loop_key, loop_key_context(product.id))
        keys = [RevealedKey(product.id, content) for _ in range(found.quantity)]
    else:
        keys = [
            RevealedKey(stored.id, keyring.open(stored.sealed, seal_context(stored.product_id, stored.id)))
            for stored in found.sold
        ]
        if not keys:
            raise NotFound(f"order {found.order_id} owns no keys")
    return Revealed(found.order_id, product.shop_id, product.id, keys, product.usage_instructions)


def _opened_or_none(found: Reveal, keyring: KeyRing) -> Revealed | None:
    try:
        return _opened(found, keyring)
    except NotFound:
        return None
