"""Shops in the inventory's consumers and sweeps, against a real Postgres: an order event of a shop is served
from a product of that shop only, and every row it leaves and every event it causes carries that shop; an
order naming another shop's product is refused (StockUnavailable / AllocationFailed with the reason
recorded), never served, crashed on or dead-lettered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from faka_common.contracts import Envelope, Message, OrderApproved, OrderCancelled, OrderPaid
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound
from faka_common.messaging.consumer import EventConsumer
from inventory.adapters.stock_projection import NoProjection
from inventory.domain.reservations import OTHER_SHOPS_PRODUCT
from inventory.service_layer import catalog, key_pools, reservations, stock
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import KEYRING, approved, cancelled, paid, records, scalar

pytestmark = pytest.mark.integration
M = TypeVar("M", bound=Message)

#: The inventory tables whose rows name a product, so must name its shop.
PRODUCT_ROWS = ("key_batches", "card_keys", "available_keys", "reservations", "stock_refusals", "key_reveals",
                "stock_counts", "stock_changes")  # fmt: skip


def in_shop(message: M, shop: uuid.UUID) -> M:
    """The message as the shop's service would produce it."""
    return message.model_copy(update={"shop_id": shop})


async def shop_product(
    sessions: SessionFactory, shop: uuid.UUID, keys: list[str], delivery_type: str = "card_key", **fields: Any
) -> uuid.UUID:
    loop_key = "LOOP-CODE" if delivery_type == "loop_key" else None
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.create_product(
            shop,
            catalog.NewProduct(
                title=f"{delivery_type} of {shop}", price=100, currency="CNY", delivery_type=delivery_type,
                loop_key=loop_key, **fields,
            ),
            uow,
            KEYRING,
        )  # fmt: skip
    if keys:
        async with InventoryUnitOfWork(sessions) as uow:
            await key_pools.import_keys(shop, product.id, "\n".join(keys), uow, KEYRING)
    return product.id


def consumer(sessions: SessionFactory) -> EventConsumer[InventoryUnitOfWork]:
    """The inventory's order-event consumer as bootstrap builds it."""
    return EventConsumer(
        "inventory",
        lambda: InventoryUnitOfWork(sessions),
        {
            OrderApproved: reservations.reserve_stock,
            OrderCancelled: reservations.release_stock,
            OrderPaid: reservations.allocate_keys,
        },
        batch_size=50,
        batch_handlers={OrderApproved: reservations.reserve_stock_many},
    )


async def messages_about(engine: AsyncEngine, *keys: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of every message staged with one of these Kafka keys, in outbox order."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT value FROM outbox WHERE key = ANY(:keys) ORDER BY id"),
            {"keys": [str(k) for k in keys]},
        )
        envelopes = [Envelope.from_bytes(bytes(value)) for (value,) in rows]
    return [(e.type, e.payload) for e in envelopes]


async def counts(
    sessions: SessionFactory, shop: uuid.UUID, product_id: uuid.UUID
) -> tuple[int | None, int, int]:
    async with InventoryUnitOfWork(sessions) as uow:
        _, found = await catalog.get_product(shop, product_id, uow)
    return found.available, found.reserved, found.sold


async def shops_of_rows(engine: AsyncEngine, product_id: uuid.UUID) -> dict[str, set[str]]:
    """Per table: the shops of the rows that name the product (the product's own row included)."""
    found: dict[str, set[str]] = {}
    async with engine.connect() as connection:
        for table in ("products", *PRODUCT_ROWS):
            column = "id" if table == "products" else "product_id"
            rows = await connection.execute(
                text(f"SELECT DISTINCT shop_id FROM {table} WHERE {column} = :p"),
                {"p": product_id},
            )
            found[table] = {str(shop) for (shop,) in rows}
    return found


async def test_every_event_and_row_of_a_shops_product_carries_that_shop(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    shop = uuid.uuid4()
    product_id = await shop_product(sessions, shop, [f"K-{i}-{uuid.uuid4().hex[:6]}" for i in range(4)])
    async with InventoryUnitOfWork(sessions) as uow:
        await catalog.update_product(shop, product_id, {"low_stock_threshold": 3}, uow)
    sold = in_shop(approved(product_id), shop)
    lapsing = in_shop(approved(product_id), shop).model_copy(
        update={"payment_expires_at": datetime.now(UTC) - timedelta(minutes=5)}
    )
    greedy = in_shop(approved(product_id, quantity=9), shop)
    events: list[Message] = [sold, in_shop(paid(sold), shop), lapsing, greedy]
    assert await consumer(sessions).consume_batch(records(events)) == ["handled"] * 4
    async with InventoryUnitOfWork(sessions) as uow:
        assert await reservations.expire_reservations(uow, grace_seconds=0) == 1
    async with InventoryUnitOfWork(sessions) as uow:
        revealed = await key_pools.reveal_keys(shop, sold.order_id, "notification", uow, KEYRING)
    assert len(revealed.keys) == 1
    assert await shops_of_rows(engine, product_id) == {
        table: {str(shop)} for table in ("products", *PRODUCT_ROWS)
    }
    async with InventoryUnitOfWork(sessions) as uow:  # 3 keys left: at the threshold
        await stock.fold_stock(uow, NoProjection())

    messages = await messages_about(engine, product_id, sold.order_id, lapsing.order_id, greedy.order_id)
    kinds = [kind for kind, _ in messages]
    for kind in ("ProductChanged", "StockReserved", "KeysAllocated", "StockUnavailable", "ReservationExpired",
                 "LowStock"):  # fmt: skip
        assert kind in kinds, kinds
    assert {payload["shop_id"] for _, payload in messages} == {str(shop)}


async def test_an_order_naming_another_shops_product_is_refused_and_the_product_untouched(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    seller, other = uuid.uuid4(), uuid.uuid4()
    card = await shop_product(sessions, seller, ["S-1", "S-2", "S-3"])
    loop = await shop_product(sessions, seller, [], delivery_type="loop_key")
    manual = await shop_product(sessions, seller, [], delivery_type="manual")
    mine = in_shop(approved(card), seller)
    strangers = [in_shop(approved(p), other) for p in (card, card, loop, manual)]
    # one batch, as the consumer gets them: the bulk path and the one-by-one path both refuse
    outcomes = await consumer(sessions).consume_batch(records([mine, *strangers]))
    assert outcomes == ["handled"] * 5

    assert [kind for kind, _ in await messages_about(engine, mine.order_id)] == ["StockReserved"]
    for event in strangers:
        (answer,) = await messages_about(engine, event.order_id)
        assert answer == (
            "StockUnavailable",
            {"order_id": str(event.order_id), "shop_id": str(other), "product_id": str(event.product_id),
             "requested": 1, "available": 0, "reason": OTHER_SHOPS_PRODUCT},
        )  # fmt: skip
        refusal = await scalar(
            engine,
            "SELECT shop_id::text || ' ' || reason FROM stock_refusals WHERE order_id = :o",
            o=event.order_id,
        )
        assert refusal == f"{other} {OTHER_SHOPS_PRODUCT}"
    assert await counts(sessions, seller, card) == (2, 1, 0)  # only the seller's own order holds a key
    assert await scalar(engine, "SELECT count(*) FROM reservations WHERE shop_id = :s", s=other) == 0


async def test_a_payment_or_cancellation_of_another_shop_never_sells_or_releases_a_shops_keys(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    seller, other = uuid.uuid4(), uuid.uuid4()
    product_id = await shop_product(sessions, seller, ["P-1", "P-2"])
    reserved = in_shop(approved(product_id), seller)
    never_reserved = in_shop(approved(product_id), other)
    events: list[Message] = [
        reserved,
        in_shop(cancelled(reserved), other),  # another shop's cancellation releases nothing
        in_shop(paid(reserved), other),  # nor does its payment buy the seller's reserved key
        in_shop(paid(never_reserved), other),  # nor a payment for an order never reserved
    ]
    assert await consumer(sessions).consume_batch(records(events)) == ["handled"] * 4

    assert [kind for kind, _ in await messages_about(engine, reserved.order_id)] == [
        "StockReserved",
        "AllocationFailed",
    ]
    for event in (reserved, never_reserved):
        _, failed = (await messages_about(engine, event.order_id))[-1]
        assert (failed["shop_id"], failed["reason"]) == (str(other), OTHER_SHOPS_PRODUCT)
    status = await scalar(engine, "SELECT status FROM reservations WHERE order_id = :o", o=reserved.order_id)
    assert status == "active"
    assert await counts(sessions, seller, product_id) == (1, 1, 0)
    assert (
        await scalar(engine, "SELECT count(*) FROM card_keys WHERE order_id = :o", o=never_reserved.order_id)
        == 0
    )

    # the seller's own payment still gets the key it reserved
    assert await consumer(sessions).consume_batch(records([in_shop(paid(reserved), seller)])) == ["handled"]
    assert [kind for kind, _ in await messages_about(engine, reserved.order_id)][-1] == "KeysAllocated"
    assert await counts(sessions, seller, product_id) == (1, 0, 1)


async def test_a_product_is_built_only_from_its_own_shops_category_and_main_product(
    sessions: SessionFactory,
) -> None:
    seller, other = uuid.uuid4(), uuid.uuid4()
    main = await shop_product(sessions, seller, [])
    async with InventoryUnitOfWork(sessions) as uow:
        category = await catalog.create_category(seller, "Cards", 0, True, uow)
    with pytest.raises(NotFound):
        await shop_product(sessions, other, [], category_id=category.id)
    with pytest.raises(NotFound):
        await shop_product(sessions, other, [], variant_of=main, variant_label="100")
    variant = await shop_product(
        sessions, seller, [], category_id=category.id, variant_of=main, variant_label="100"
    )
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.get_product(seller, variant, uow)
    assert (product.shop_id, product.category_id, product.variant_of) == (seller, category.id, main)
