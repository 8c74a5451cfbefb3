"""A paused supplier's card keys stop selling (real Postgres): delivery's SupplierPaused withdraws the keys
still on sale of the shop's batches from that supplier, SupplierResumed offers them again; reserved and sold
keys stay as they are, other suppliers' and unattributed keys keep selling, and an order racing the pause
never gets a withdrawn key."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from faka_common.contracts import Envelope, Message, OrderApproved, OrderCancelled, OrderPaid
from faka_common.contracts.quality import SupplierPaused, SupplierResumed
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.uow import SessionFactory
from faka_common.messaging.consumer import Delivery, EventConsumer
from inventory.adapters.stock_projection import NoProjection
from inventory.service_layer import catalog, key_pools, reservations, supplier_holds
from inventory.service_layer import stock as stock_ops
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import (
    KEYRING,
    approved,
    card_product,
    new_product,
    paid,
    published,
    run,
    scalar,
    stock,
)

pytestmark = pytest.mark.integration


def consumer(sessions: SessionFactory) -> EventConsumer[InventoryUnitOfWork]:
    """Inventory's consumer with the handlers these tests send it (as bootstrap wires them)."""
    return EventConsumer(
        "inventory",
        lambda: InventoryUnitOfWork(sessions),
        {
            SupplierPaused: supplier_holds.withhold_supplier_keys,
            SupplierResumed: supplier_holds.offer_supplier_keys,
            OrderApproved: reservations.reserve_stock,
            OrderCancelled: reservations.release_stock,
            OrderPaid: reservations.allocate_keys,
        },
    )


def record(message: Message, producer: str = "delivery") -> Delivery:
    topic = "delivery.events" if producer == "delivery" else "order.events"
    envelope = Envelope.wrap(message, producer).to_bytes()
    return Delivery(topic, 0, 0, str(message.key).encode(), envelope)


def paused(supplier: uuid.UUID) -> SupplierPaused:
    return SupplierPaused(
        supplier_id=supplier, shop_id=DEFAULT_SHOP_ID, supplier_name="Keys Ltd", claims=5, succeeded=20,
        claim_rate=0.25, threshold=0.2,
    )  # fmt: skip


def resumed(supplier: uuid.UUID) -> SupplierResumed:
    return SupplierResumed(supplier_id=supplier, shop_id=DEFAULT_SHOP_ID, resumed_by="ops")


async def import_from(
    sessions: SessionFactory, product_id: uuid.UUID, supplier: uuid.UUID | None, n: int
) -> uuid.UUID:
    keys = "\n".join(f"S-{uuid.uuid4().hex}" for _ in range(n))
    async with InventoryUnitOfWork(sessions) as uow:
        result = await key_pools.import_keys(
            DEFAULT_SHOP_ID, product_id, keys, uow, KEYRING, key_pools.ImportOptions(supplier_id=supplier)
        )
    return result.batch_id


async def statuses(engine: AsyncEngine, batch_id: uuid.UUID) -> dict[str, int]:
    from sqlalchemy import text

    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT status, count(*) FROM card_keys WHERE batch_id = :b GROUP BY status"),
            {"b": batch_id},
        )
        return {status: int(n) for status, n in rows}


async def reserve_until_refused(
    engine: AsyncEngine, sessions: SessionFactory, product_id: uuid.UUID
) -> set[str]:
    """Orders of one key each until inventory says out of stock; the batches their keys came from."""
    batches: set[str] = set()
    while True:
        event = approved(product_id)
        await run(sessions, event, reservations.reserve_stock)
        if (await published(engine, event.order_id))[0][0] != "StockReserved":
            return batches
        batch = await scalar(engine, "SELECT batch_id FROM card_keys WHERE order_id = :o", o=event.order_id)
        batches.add(str(batch))


async def test_a_paused_suppliers_keys_stop_selling_and_sell_again_once_it_is_resumed(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    supplier, other = uuid.uuid4(), uuid.uuid4()
    product_id = await card_product(sessions, [])
    theirs = await import_from(sessions, product_id, supplier, 5)  # first in issue order
    others = await import_from(sessions, product_id, other, 3)
    unattributed = await import_from(sessions, product_id, None, 2)
    sold, held = approved(product_id), approved(product_id)
    for event in (sold, held):
        await run(sessions, event, reservations.reserve_stock)
    await run(sessions, paid(sold), reservations.allocate_keys)
    assert await stock(sessions, product_id) == (8, 1, 1)
    assert await statuses(engine, theirs) == {"available": 3, "reserved": 1, "sold": 1}

    pause = record(paused(supplier))
    assert await consumer(sessions).consume_batch([pause]) == ["handled"]

    assert await stock(sessions, product_id) == (5, 1, 1)  # exactly its 3 keys on sale less
    assert await statuses(engine, theirs) == {"withdrawn": 3, "reserved": 1, "sold": 1}
    async with InventoryUnitOfWork(sessions) as uow:  # the pool page and the supplier's figures say so
        pool = await key_pools.list_pool(DEFAULT_SHOP_ID, product_id, "withdrawn", None, 50, uow)
        figures = await uow.quality.batches_of_supplier(DEFAULT_SHOP_ID, supplier)
    assert {(key.batch_id, key.status) for key in pool} == {(theirs, "withdrawn")} and len(pool) == 3
    assert [(b.batch_id, b.withdrawn) for b in figures] == [(theirs, 3)]
    assert await consumer(sessions).consume_batch([pause]) == ["duplicate"]
    again = record(paused(supplier))  # the pause announced again under a new event id
    assert await consumer(sessions).consume_batch([again]) == ["handled"]
    assert await stock(sessions, product_id) == (5, 1, 1)
    assert await statuses(engine, theirs) == {"withdrawn": 3, "reserved": 1, "sold": 1}

    # its reserved key, released while it is paused, is withdrawn too; a new batch of it comes in withdrawn
    await run(sessions, OrderCancelled(order_id=held.order_id, order_no=held.order_no, reason="expired"),
              reservations.release_stock)  # fmt: skip
    late = await import_from(sessions, product_id, supplier, 2)
    assert await statuses(engine, theirs) == {"withdrawn": 4, "sold": 1}
    assert await statuses(engine, late) == {"withdrawn": 2}
    assert await stock(sessions, product_id) == (5, 0, 1)
    assert await reserve_until_refused(engine, sessions, product_id) == {str(others), str(unattributed)}
    assert await stock(sessions, product_id) == (0, 5, 1)

    assert await consumer(sessions).consume_batch([record(resumed(supplier))]) == ["handled"]

    assert await stock(sessions, product_id) == (6, 5, 1)
    assert await statuses(engine, theirs) == {"available": 4, "sold": 1}
    assert await reserve_until_refused(engine, sessions, product_id) == {str(theirs), str(late)}


async def test_an_older_word_arriving_late_changes_nothing(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    supplier = uuid.uuid4()
    product_id = await card_product(sessions, [])
    batch = await import_from(sessions, product_id, supplier, 2)
    pause, resume = record(paused(supplier)), record(resumed(supplier))
    assert await consumer(sessions).consume_batch([resume, pause]) == ["handled", "handled"]  # resumed last
    assert await statuses(engine, batch) == {"available": 2}
    assert await stock(sessions, product_id) == (2, 0, 0)


async def fold(sessions: SessionFactory) -> None:
    async with InventoryUnitOfWork(sessions) as uow:
        await stock_ops.fold_stock(uow, NoProjection())


async def test_the_storefront_shows_low_stock_and_sold_out_while_the_supplier_is_paused(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    supplier = uuid.uuid4()
    low = await new_product(sessions, title="Low", low_stock_threshold=3)
    only = await new_product(sessions, title="Only its keys")
    await import_from(sessions, low.id, supplier, 4)
    await import_from(sessions, low.id, None, 2)
    await import_from(sessions, only.id, supplier, 2)
    await fold(sessions)

    assert await consumer(sessions).consume_batch([record(paused(supplier))]) == ["handled"]
    await fold(sessions)

    async with InventoryUnitOfWork(sessions) as uow:
        (low_now, low_stock), (only_now, only_stock) = [
            await catalog.get_product(DEFAULT_SHOP_ID, p.id, uow) for p in (low, only)
        ]
    assert (low_stock.available, low_now.in_stock, low_now.low_stock_alerted) == (2, True, True)
    assert (only_stock.available, only_now.in_stock) == (0, False)
    told = await published(engine, low.id)
    assert [payload["available"] for kind, payload in told if kind == "LowStock"] == [2]
    changes = [
        payload["in_stock"] for kind, payload in await published(engine, only.id) if kind == "ProductChanged"
    ]
    assert changes[-1] is False  # sold out on the storefront

    assert await consumer(sessions).consume_batch([record(resumed(supplier))]) == ["handled"]
    await fold(sessions)

    async with InventoryUnitOfWork(sessions) as uow:
        only_now, only_stock = await catalog.get_product(DEFAULT_SHOP_ID, only.id, uow)
    assert (only_stock.available, only_now.in_stock) == (2, True)


async def waiting_on_a_lock(engine: AsyncEngine) -> None:
    """Until a session of this database waits for a row lock (the pause, on the keys an order holds)."""
    for _ in range(500):
        waiting = await scalar(
            engine,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'",
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the pause never waited for the order's keys")


async def test_orders_racing_the_pause_never_get_a_withdrawn_key(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    """An order holds 5 keys uncommitted while the pause lands (it waits for them), 10 orders reserve while
    the pause waits, then the first order commits: every key is either one order's or withdrawn."""
    supplier = uuid.uuid4()
    product_id = await card_product(sessions, [])
    batch = await import_from(sessions, product_id, supplier, 40)
    first, orders = approved(product_id, quantity=5), [approved(product_id) for _ in range(10)]

    async with InventoryUnitOfWork(sessions) as uow:
        await reservations.reserve_stock(first, uow)
        pausing = asyncio.create_task(consumer(sessions).consume_batch([record(paused(supplier))]))
        await waiting_on_a_lock(engine)
        await asyncio.gather(*(run(sessions, event, reservations.reserve_stock) for event in orders))
        await uow.commit()
    assert await pausing == ["handled"]

    answers = [(await published(engine, event.order_id))[0][0] for event in [first, *orders]]
    got = 5 + answers[1:].count("StockReserved")
    assert answers[0] == "StockReserved"
    assert await statuses(engine, batch) == {"reserved": got, "withdrawn": 40 - got}
    held = await scalar(
        engine,
        "SELECT count(*) FROM card_keys k JOIN reservations r ON r.order_id = k.order_id "
        "WHERE k.batch_id = :b AND k.status = 'reserved' AND r.status = 'active'",
        b=batch,
    )
    assert held == got, "a reserved key without its order's reservation"
    assert (
        await scalar(engine, "SELECT count(*) FROM available_keys WHERE product_id = :p", p=product_id) == 0
    )
    assert await stock(sessions, product_id) == (0, got, 0)
    async with InventoryUnitOfWork(sessions) as uow:
        recounted = await uow.stock.recount(product_id)
    assert (recounted.available, recounted.reserved) == (0, got)
    late = approved(product_id)
    await run(sessions, late, reservations.reserve_stock)
    assert (await published(engine, late.order_id))[0][0] == "StockUnavailable"
    for event in [first, *orders]:  # the keys reserved before the pause are sold; no withdrawn one is
        await run(sessions, paid(event), reservations.allocate_keys)
    assert await statuses(engine, batch) == {"sold": got, "withdrawn": 40 - got}
