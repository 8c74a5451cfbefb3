"""Inventory handlers: order events (reserve, release, allocate) and the catalog / key commands.

Consumer handlers are guarded transitions: an event that does not fit the order's reservation state is
logged and ignored. Business outcomes (no stock) are announced as events, never raised."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
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
from faka_common.crypto import KeyRing
from faka_common.errors import DomainError, NotFound
from uuid6 import uuid7

from inventory.domain.keys import loop_key_context, parse_import, seal_context
from inventory.domain.model import Product, Stock
from inventory.domain.reservations import (
    DeliveryType,
    OnApproved,
    OnCancelled,
    OnPaid,
    ReservationStatus,
    allocation_failure_reason,
    enough_stock,
    on_approved,
    on_cancelled,
    on_paid,
)
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


# --- order events ---------------------------------------------------------------------------------


async def reserve_stock(event: OrderApproved, uow: InventoryUnitOfWork) -> None:
    """Reserve `quantity` keys for the payment window, all or none, answered once per order."""
    existing = await uow.reservations.get(event.order_id)
    if on_approved(existing.status if existing else None) is OnApproved.IGNORE:
        log.info("order %s already has a reservation; ignoring OrderApproved", event.order_id)
        return
    if await uow.reservations.refused(event.order_id):
        log.info("order %s was already refused for lack of stock; ignoring OrderApproved", event.order_id)
        return
    product = await uow.products.get(event.product_id)
    if product is None:
        log.warning("order %s names unknown product %s; no stock", event.order_id, event.product_id)
        await _refuse(uow, event, available=0)
        return

    if product.delivery_type == "loop_key":
        if await _add_reservation(uow, event, ReservationStatus.ACTIVE):
            uow.publish(_reserved(event, expires_at=None))
        return

    claimed = await uow.keys.claim(product.id, event.quantity)
    if not enough_stock(event.quantity, len(claimed)):
        log.info(
            "order %s wants %d of %s, %d available", event.order_id, event.quantity, product.id, len(claimed)
        )
        await _refuse(uow, event, available=len(claimed))
        return
    if not await _add_reservation(uow, event, ReservationStatus.ACTIVE):
        return
    await uow.keys.take(claimed, event.order_id, "reserved")
    uow.publish(_reserved(event, expires_at=event.payment_expires_at))


async def release_stock(event: OrderCancelled, uow: InventoryUnitOfWork) -> None:
    """The order ended unpaid: its reserved keys go back to the pool."""
    reservation = await uow.reservations.get(event.order_id, for_update=True)
    if on_cancelled(reservation.status if reservation else None) is OnCancelled.IGNORE:
        log.info(
            "order %s cancelled (%s) with reservation %s; nothing to release",
            event.order_id,
            event.reason,
            reservation.status if reservation else "none",
        )
        return
    released = await uow.keys.release(event.order_id)
    await uow.reservations.set_status(event.order_id, ReservationStatus.RELEASED)
    log.info("order %s cancelled (%s): released %d keys", event.order_id, event.reason, len(released))


async def allocate_keys(event: OrderPaid, uow: InventoryUnitOfWork) -> None:
    """The order is paid: its reserved keys are sold to it; a lapsed reservation is claimed again."""
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
        uow.publish(
            AllocationFailed(order_id=event.order_id, product_id=product_id, reason="unknown_product")
        )
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
        uow.publish(_allocated(event.order_id, product, key_ids))
        return

    # RECLAIM: the reservation was released (late payment) or never made.
    key_ids = []
    if product.delivery_type == "card_key":
        claimed = await uow.keys.claim(product.id, quantity)
        if not enough_stock(quantity, len(claimed)):
            reason = allocation_failure_reason(current)
            log.warning(
                "paid order %s cannot get %d keys of %s: %s", event.order_id, quantity, product.id, reason
            )
            uow.publish(AllocationFailed(order_id=event.order_id, product_id=product.id, reason=reason))
            return
        key_ids = await uow.keys.take(claimed, event.order_id, "sold")
    if reservation is None:
        added = await uow.reservations.add(
            event.order_id, product.id, quantity, ReservationStatus.ALLOCATED, expires_at=None
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
    uow.publish(_allocated(event.order_id, product, key_ids))


async def _add_reservation(uow: InventoryUnitOfWork, event: OrderApproved, status: ReservationStatus) -> bool:
    added = await uow.reservations.add(
        event.order_id, event.product_id, event.quantity, status, event.payment_expires_at
    )
    if not added:
        log.info("order %s was reserved concurrently; ignoring this OrderApproved", event.order_id)
    return added


async def _refuse(uow: InventoryUnitOfWork, event: OrderApproved, available: int) -> None:
    if await uow.reservations.refuse(event.order_id, event.product_id, event.quantity, available):
        uow.publish(
            StockUnavailable(
                order_id=event.order_id,
                product_id=event.product_id,
                requested=event.quantity,
                available=available,
            )
        )
    else:
        log.info("order %s was refused concurrently; ignoring this OrderApproved", event.order_id)


def _reserved(event: OrderApproved, expires_at: datetime | None) -> StockReserved:
    return StockReserved(
        order_id=event.order_id, product_id=event.product_id, quantity=event.quantity, expires_at=expires_at
    )


def _allocated(order_id: UUID, product: Product, key_ids: list[UUID]) -> KeysAllocated:
    return KeysAllocated(
        order_id=order_id, product_id=product.id, key_ids=key_ids, delivery_type=product.delivery_type
    )


# --- catalog and keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewProduct:
    title: str
    price: int
    currency: str
    delivery_type: DeliveryType
    description: str = ""
    loop_key: str | None = None
    usage_instructions: str = ""


@dataclass(frozen=True)
class ImportResult:
    batch_id: UUID
    imported: int
    duplicates: int
    invalid: int


@dataclass(frozen=True)
class RevealedKey:
    key_id: UUID
    content: str


@dataclass(frozen=True)
class Revealed:
    order_id: UUID
    product_id: UUID
    keys: list[RevealedKey]
    usage_instructions: str


async def create_product(
    new: NewProduct, uow: InventoryUnitOfWork, keyring: KeyRing
) -> tuple[Product, Stock]:
    if new.delivery_type == "loop_key" and not (new.loop_key and new.loop_key.strip()):
        raise DomainError("a loop_key product needs a non-empty loop_key")
    if new.delivery_type == "card_key" and new.loop_key is not None:
        raise DomainError("loop_key only applies to loop_key products; import card keys instead")
    product_id = uuid7()
    sealed = None
    if new.delivery_type == "loop_key" and new.loop_key is not None:
        sealed = keyring.seal(new.loop_key.strip(), loop_key_context(product_id))
    product = Product(
        id=product_id,
        title=new.title,
        description=new.description,
        price=new.price,
        currency=new.currency,
        delivery_type=new.delivery_type,
        usage_instructions=new.usage_instructions,
        active=True,
        created_at=datetime.now(UTC),
        loop_key=sealed,
    )
    await uow.products.add(product)
    await uow.commit()
    stock = Stock(None) if product.delivery_type == "loop_key" else Stock()
    return product, stock


async def get_product(product_id: UUID, uow: InventoryUnitOfWork) -> tuple[Product, Stock]:
    product = await uow.products.get(product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    stock = await uow.products.stock([product])
    return product, stock[product.id]


async def list_products(uow: InventoryUnitOfWork) -> list[tuple[Product, Stock]]:
    items = await uow.products.list()
    stock = await uow.products.stock(items)
    return [(p, stock[p.id]) for p in items]


async def import_keys(
    product_id: UUID, text: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> ImportResult:
    """Seal and store one upload in one transaction; repeats (in the upload or already stored) are counted."""
    product = await uow.products.get(product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    if product.delivery_type != "card_key":
        raise DomainError("this is a loop_key product: it has one shared key and takes no card-key imports")
    parsed = parse_import(text)
    rows = []
    for content in parsed.keys:
        key_id = uuid7()
        rows.append(
            (
                key_id,
                keyring.fingerprint(content, scope=product_id.bytes),
                keyring.seal(content, seal_context(product_id, key_id)),
            )
        )
    batch_id = uuid7()
    imported = await uow.keys.add_batch(batch_id, product_id, rows)
    duplicates = parsed.duplicates + (len(rows) - imported)
    await uow.keys.record_batch(batch_id, imported, duplicates, parsed.invalid)
    await uow.commit()
    log.info(
        "batch %s for %s: %d imported, %d duplicates, %d invalid",
        batch_id,
        product_id,
        imported,
        duplicates,
        parsed.invalid,
    )
    return ImportResult(batch_id, imported, duplicates, parsed.invalid)


async def reveal_keys(order_id: UUID, reader: str, uow: InventoryUnitOfWork, keyring: KeyRing) -> Revealed:
    """The plaintext of the keys a paid order owns; every reveal is audit-logged with its reader."""
    reservation = await uow.reservations.get(order_id)
    if reservation is None or reservation.status is not ReservationStatus.ALLOCATED:
        raise NotFound(f"order {order_id} owns no keys")
    product = await uow.products.get(reservation.product_id)
    if product is None:
        raise NotFound(f"order {order_id} owns no keys")
    keys: list[RevealedKey] = []
    audited: list[UUID | None] = []
    if product.delivery_type == "loop_key":
        if product.loop_key is None:
            raise NotFound(f"product {product.id} has no loop key")
        content = keyring.open(product.loop_key, loop_key_context(product.id))
        keys = [RevealedKey(product.id, content) for _ in range(reservation.quantity)]
        audited = [None] * reservation.quantity
    else:
        for stored in await uow.keys.sold_to(order_id):
            keys.append(
                RevealedKey(
                    stored.id, keyring.open(stored.sealed, seal_context(stored.product_id, stored.id))
                )
            )
            audited.append(stored.id)
        if not keys:
            raise NotFound(f"order {order_id} owns no keys")
    await uow.reveals.record(order_id, product.id, audited, reader)
    await uow.commit()
    log.info("revealed %d keys of order %s to %s", len(keys), order_id, reader)
    return Revealed(order_id, product.id, keys, product.usage_instructions)
