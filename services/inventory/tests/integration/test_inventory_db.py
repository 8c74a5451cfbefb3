"""The inventory against a real Postgres: concurrent reservations, the claim query plan, and the order
life cycle (reserve, release, pay, late pay, reveal) through the service-layer handlers and a real unit
of work. Needs DATABASE_URL (a server URL, e.g. postgresql://postgres@127.0.0.1:15432/postgres); each
run creates and drops its own database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from faka_common.contracts import Envelope, Message, OrderApproved, OrderCancelled, OrderPaid
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing
from faka_common.db.uow import SessionFactory
from faka_common.errors import DomainError, NotFound
from faka_common.messaging.consumer import Delivery, EventConsumer
from inventory.adapters.key_pools import claim_statement
from inventory.domain.stock import IssueOrder
from inventory.service_layer import catalog, key_pools
from inventory.service_layer import reservations as reservation_ops
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

KEYRING = KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET)
M = TypeVar("M", bound=Message)


async def run(
    sessions: SessionFactory, message: M, handler: Callable[[M, InventoryUnitOfWork], Awaitable[None]]
) -> None:
    """What the consumer does around a handler: one unit of work, committed."""
    async with InventoryUnitOfWork(sessions) as uow:
        await handler(message, uow)
        await uow.commit()


async def card_product(sessions: SessionFactory, keys: list[str], title: str = "Steam 50") -> uuid.UUID:
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.create_product(
            DEFAULT_SHOP_ID,
            catalog.NewProduct(title=title, price=4800, currency="CNY", delivery_type="card_key"),
            uow,
            KEYRING,
        )
    if keys:
        async with InventoryUnitOfWork(sessions) as uow:
            await key_pools.import_keys(DEFAULT_SHOP_ID, product.id, "\n".join(keys), uow, KEYRING)
    return product.id


async def loop_key_product(sessions: SessionFactory, loop_key: str, title: str = "Loop") -> uuid.UUID:
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.create_product(
            DEFAULT_SHOP_ID,
            catalog.NewProduct(
                title=title, price=100, currency="CNY", delivery_type="loop_key", loop_key=loop_key
            ),
            uow,
            KEYRING,
        )
    return product.id


def approved(product_id: uuid.UUID, quantity: int = 1, order_id: uuid.UUID | None = None) -> OrderApproved:
    return OrderApproved(
        order_id=order_id or uuid.uuid4(),
        order_no=f"F{uuid.uuid4().hex[:20].upper()}",
        product_id=product_id,
        quantity=quantity,
        payment_expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )


def paid(event: OrderApproved) -> OrderPaid:
    return OrderPaid(
        order_id=event.order_id,
        order_no=event.order_no,
        product_id=event.product_id,
        quantity=event.quantity,
        amount=4800 * event.quantity,
        currency="CNY",
        provider="sandbox",
        trade_no=f"SBX{uuid.uuid4().hex}",
        paid_at=datetime.now(UTC),
    )


def cancelled(event: OrderApproved) -> OrderCancelled:
    return OrderCancelled(order_id=event.order_id, order_no=event.order_no, reason="expired")


async def published(engine: AsyncEngine, order_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """The (type, payload) of every message staged for an order, in outbox order."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT value FROM outbox WHERE key = :key ORDER BY id"), {"key": str(order_id)}
        )
        envelopes = [Envelope.from_bytes(bytes(value)) for (value,) in rows]
    return [(e.type, e.payload) for e in envelopes]


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()


async def stock(sessions: SessionFactory, product_id: uuid.UUID) -> tuple[int | None, int, int]:
    async with InventoryUnitOfWork(sessions) as uow:
        _, counts = await catalog.get_product(DEFAULT_SHOP_ID, product_id, uow)
    return counts.available, counts.reserved, counts.sold


async def test_fifty_concurrent_reservations_of_twenty_keys(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"KEY-{i:04d}-{uuid.uuid4().hex[:8]}" for i in range(20)])
    events = [approved(product_id) for _ in range(50)]

    results = await asyncio.gather(
        *(run(sessions, e, reservation_ops.reserve_stock) for e in events), return_exceptions=True
    )

    assert [r for r in results if isinstance(r, BaseException)] == []
    outcomes = [(await published(engine, e.order_id)) for e in events]
    assert all(len(o) == 1 for o in outcomes), outcomes
    kinds = [o[0][0] for o in outcomes]
    assert kinds.count("StockReserved") == 20
    assert kinds.count("StockUnavailable") == 30
    refusals = [o[0][1] for o in outcomes if o[0][0] == "StockUnavailable"]
    assert {(refusal["available"], refusal["reason"]) for refusal in refusals} == {(0, "out_of_stock")}

    reserved_orders = {e.order_id for e, kind in zip(events, kinds, strict=True) if kind == "StockReserved"}
    async with engine.connect() as connection:
        reservations = set(
            (
                await connection.execute(
                    text("SELECT order_id FROM reservations WHERE product_id = :p AND status = 'active'"),
                    {"p": product_id},
                )
            ).scalars()
        )
        per_order = (
            await connection.execute(
                text(
                    "SELECT order_id, count(*), count(DISTINCT id) FROM card_keys "
                    "WHERE product_id = :p AND status = 'reserved' GROUP BY order_id"
                ),
                {"p": product_id},
            )
        ).all()
        keys_reserved = await connection.scalar(
            text("SELECT count(DISTINCT id) FROM card_keys WHERE product_id = :p AND status = 'reserved'"),
            {"p": product_id},
        )
        still_queued = await connection.scalar(
            text("SELECT count(*) FROM available_keys WHERE product_id = :p"), {"p": product_id}
        )
    assert reservations == reserved_orders
    assert len(reservations) == 20
    assert {row[0] for row in per_order} == reserved_orders
    assert all(count == 1 for _, count, _ in per_order), "an order holds more than its one key"
    assert keys_reserved == 20, "a key was reserved twice, or a reserved key went missing"
    assert still_queued == 0
    assert await stock(sessions, product_id) == (0, 20, 0)


@pytest.mark.parametrize(
    ("issue_order", "index"),
    [(IssueOrder.FIFO, "available_keys_fifo"), (IssueOrder.RANDOM, "available_keys_random")],
)
async def test_claim_reads_the_issue_order_index_not_card_keys(
    engine: AsyncEngine, sessions: SessionFactory, issue_order: IssueOrder, index: str
) -> None:
    crowded = await card_product(sessions, [f"OTHER-{i}-{uuid.uuid4().hex}" for i in range(3000)], "crowded")
    product_id = await card_product(sessions, [f"MINE-{i}-{uuid.uuid4().hex}" for i in range(3000)], "mine")
    async with InventoryUnitOfWork(sessions) as uow:
        await catalog.update_product(DEFAULT_SHOP_ID, product_id, {"issue_order": issue_order}, uow)
    for event in [approved(product_id, quantity=50) for _ in range(20)]:  # 1000 keys leave the queue
        await run(sessions, event, reservation_ops.reserve_stock)
        await run(sessions, paid(event), reservation_ops.allocate_keys)
    assert await stock(sessions, product_id) == (2000, 0, 1000)
    assert await stock(sessions, crowded) == (3000, 0, 0)
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE available_keys"))
        await connection.execute(text("ANALYZE card_keys"))
    sql = str(
        claim_statement(product_id, 5, issue_order).compile(
            dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
            compile_kwargs={"literal_binds": True},
        )
    )
    async with engine.connect() as connection:
        plan = "\n".join((await connection.execute(text(f"EXPLAIN {sql}"))).scalars())
    assert f"Index Scan using {index} on available_keys" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "card_keys" not in plan, plan
    assert "Sort" not in plan, plan


async def test_reserve_is_all_or_none_and_once_per_order(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, ["A", "B", "C"])
    greedy = approved(product_id, quantity=4)
    await run(sessions, greedy, reservation_ops.reserve_stock)
    await run(sessions, greedy, reservation_ops.reserve_stock)  # answered once per order
    assert await published(engine, greedy.order_id) == [
        (
            "StockUnavailable",
            {
                "order_id": str(greedy.order_id),
                "shop_id": str(DEFAULT_SHOP_ID),
                "product_id": str(product_id),
                "requested": 4,
                "available": 3,
                "reason": "out_of_stock",
            },
        )
    ]
    assert await stock(sessions, product_id) == (3, 0, 0)

    event = approved(product_id, quantity=2)
    await run(sessions, event, reservation_ops.reserve_stock)
    await run(sessions, event, reservation_ops.reserve_stock)  # a redelivery under a new event id
    messages = await published(engine, event.order_id)
    assert [kind for kind, _ in messages] == ["StockReserved"]
    assert messages[0][1]["quantity"] == 2
    assert datetime.fromisoformat(messages[0][1]["expires_at"]) == event.payment_expires_at
    assert await stock(sessions, product_id) == (1, 2, 0)


async def test_cancel_releases_and_payment_allocates_and_reveals(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    keys = ["K-ONE", "K-TWO", "K-THREE"]
    product_id = await card_product(sessions, keys)
    lapsed = approved(product_id, quantity=2)
    await run(sessions, lapsed, reservation_ops.reserve_stock)
    assert await stock(sessions, product_id) == (1, 2, 0)
    await run(sessions, cancelled(lapsed), reservation_ops.release_stock)
    await run(sessions, cancelled(lapsed), reservation_ops.release_stock)  # already released: no-op
    assert await stock(sessions, product_id) == (3, 0, 0)
    assert (
        await scalar(engine, "SELECT count(*) FROM available_keys WHERE product_id = :p", p=product_id) == 3
    )

    buyer = approved(product_id, quantity=2)
    await run(sessions, buyer, reservation_ops.reserve_stock)
    await run(sessions, paid(buyer), reservation_ops.allocate_keys)
    await run(sessions, paid(buyer), reservation_ops.allocate_keys)  # already allocated: no-op
    assert await stock(sessions, product_id) == (1, 0, 2)
    messages = await published(engine, buyer.order_id)
    assert [kind for kind, _ in messages] == ["StockReserved", "KeysAllocated"]
    allocation = messages[1][1]
    assert allocation["delivery_type"] == "card_key"
    assert len(allocation["key_ids"]) == 2
    assert not any(k in str(messages) for k in keys), "plaintext leaked into an event"

    async with InventoryUnitOfWork(sessions) as uow:
        revealed = await key_pools.reveal_keys(DEFAULT_SHOP_ID, buyer.order_id, "delivery", uow, KEYRING)
    assert [str(k.key_id) for k in revealed.keys] == allocation["key_ids"]
    assert {k.content for k in revealed.keys} <= set(keys)
    assert len({k.content for k in revealed.keys}) == 2
    assert await scalar(engine, "SELECT count(*) FROM key_reveals WHERE order_id = :o", o=buyer.order_id) == 2
    assert (
        await scalar(engine, "SELECT DISTINCT reader FROM key_reveals WHERE order_id = :o", o=buyer.order_id)
        == "delivery"
    )

    async with InventoryUnitOfWork(sessions) as uow:
        with pytest.raises(NotFound):
            await key_pools.reveal_keys(DEFAULT_SHOP_ID, lapsed.order_id, "delivery", uow, KEYRING)


async def test_late_payment_reclaims_if_stock_is_left_else_fails(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, ["L-1", "L-2"])
    late = approved(product_id)
    await run(sessions, late, reservation_ops.reserve_stock)
    await run(sessions, cancelled(late), reservation_ops.release_stock)
    await run(sessions, paid(late), reservation_ops.allocate_keys)
    assert [kind for kind, _ in await published(engine, late.order_id)] == ["StockReserved", "KeysAllocated"]
    assert await stock(sessions, product_id) == (1, 0, 1)

    other = approved(product_id)
    await run(sessions, other, reservation_ops.reserve_stock)
    too_late = approved(product_id)
    await run(sessions, too_late, reservation_ops.reserve_stock)
    await run(sessions, cancelled(too_late), reservation_ops.release_stock)
    await run(sessions, paid(too_late), reservation_ops.allocate_keys)
    messages = await published(engine, too_late.order_id)
    assert [kind for kind, _ in messages] == ["StockUnavailable", "AllocationFailed"]
    assert [payload["reason"] for _, payload in messages] == ["out_of_stock", "out_of_stock"]
    assert await stock(sessions, product_id) == (0, 1, 1)


async def test_late_payment_after_a_lapsed_reservation_says_out_of_stock_after_expiry(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, ["X-1"])
    late = approved(product_id)
    await run(sessions, late, reservation_ops.reserve_stock)
    await run(sessions, cancelled(late), reservation_ops.release_stock)
    await run(sessions, approved(product_id), reservation_ops.reserve_stock)  # someone else takes the key
    await run(sessions, paid(late), reservation_ops.allocate_keys)
    messages = await published(engine, late.order_id)
    assert [kind for kind, _ in messages] == ["StockReserved", "AllocationFailed"]
    assert messages[-1][1]["reason"] == "out_of_stock_after_expiry"


async def test_import_dedupes_against_stored_keys_in_one_transaction(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])
    async with InventoryUnitOfWork(sessions) as uow:
        first = await key_pools.import_keys(
            DEFAULT_SHOP_ID, product_id, "\ufeffA\r\nB\r\n\r\nB\r\nbad\x00key\r\n", uow, KEYRING
        )
    assert (first.imported, first.duplicates, first.invalid) == (2, 1, 1)
    async with InventoryUnitOfWork(sessions) as uow:
        second = await key_pools.import_keys(
            DEFAULT_SHOP_ID, product_id, "B\nC\nA\n" + "x" * 1001, uow, KEYRING
        )
    assert (second.imported, second.duplicates, second.invalid) == (1, 2, 1)
    assert await stock(sessions, product_id) == (3, 0, 0)
    batch = await scalar(
        engine, "SELECT imported || '/' || duplicates || '/' || invalid FROM key_batches WHERE id = :b",
        b=second.batch_id,
    )  # fmt: skip
    assert batch == "1/2/1"
    sealed = await scalar(
        engine, "SELECT count(*) FROM card_keys WHERE product_id = :p AND sealed = 'A'", p=product_id
    )
    assert sealed == 0


async def test_loop_key_product_reserves_without_keys_and_reveals_once_per_unit(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    async with InventoryUnitOfWork(sessions) as uow:
        product, counts = await catalog.create_product(
            DEFAULT_SHOP_ID,
            catalog.NewProduct(
                title="Shared VPN",
                price=100,
                currency="CNY",
                delivery_type="loop_key",
                loop_key="vpn.example.com / guest / s3cret",
                usage_instructions="Connect with any client",
            ),
            uow,
            KEYRING,
        )
    assert counts.available is None
    stored = await scalar(engine, "SELECT loop_key_sealed FROM products WHERE id = :p", p=product.id)
    assert b"s3cret" not in bytes(stored)
    async with InventoryUnitOfWork(sessions) as uow:
        with pytest.raises(DomainError):
            await key_pools.import_keys(DEFAULT_SHOP_ID, product.id, "K1\n", uow, KEYRING)

    event = approved(product.id, quantity=3)
    async with InventoryUnitOfWork(sessions) as uow:
        with pytest.raises(NotFound):
            await key_pools.reveal_keys(DEFAULT_SHOP_ID, event.order_id, "delivery", uow, KEYRING)
    await run(sessions, event, reservation_ops.reserve_stock)
    await run(sessions, paid(event), reservation_ops.allocate_keys)
    messages = await published(engine, event.order_id)
    assert [kind for kind, _ in messages] == ["StockReserved", "KeysAllocated"]
    assert messages[0][1]["expires_at"] is None
    assert messages[1][1]["key_ids"] == []
    assert messages[1][1]["delivery_type"] == "loop_key"
    assert await stock(sessions, product.id) == (None, 0, 3)

    async with InventoryUnitOfWork(sessions) as uow:
        revealed = await key_pools.reveal_keys(DEFAULT_SHOP_ID, event.order_id, "buyer-page", uow, KEYRING)
    assert [k.content for k in revealed.keys] == ["vpn.example.com / guest / s3cret"] * 3
    assert revealed.usage_instructions == "Connect with any client"
    assert await scalar(engine, "SELECT count(*) FROM key_reveals WHERE order_id = :o", o=event.order_id) == 3


async def test_unknown_product_is_unavailable_not_an_error(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    event = approved(uuid.uuid4(), quantity=2)
    await run(sessions, event, reservation_ops.reserve_stock)
    messages = await published(engine, event.order_id)
    assert [(kind, payload["reason"]) for kind, payload in messages] == [
        ("StockUnavailable", "unknown_product")
    ]


async def new_product(sessions: SessionFactory, **fields: Any) -> Any:
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.create_product(
            DEFAULT_SHOP_ID,
            catalog.NewProduct(**{"price": 4800, "currency": "CNY", "delivery_type": "card_key", **fields}),
            uow,
            KEYRING,
        )
    return product


async def test_a_variant_is_a_product_of_its_own_under_its_main_product(sessions: SessionFactory) -> None:
    main = await new_product(sessions, title="Steam card", variant_label="¥50")
    variant = await new_product(sessions, title="Steam card ¥100", price=9500, variant_of=main.id,
                                variant_label="¥100")  # fmt: skip
    async with InventoryUnitOfWork(sessions) as uow:
        await key_pools.import_keys(DEFAULT_SHOP_ID, variant.id, "V100-A\nV100-B\n", uow, KEYRING)
    async with InventoryUnitOfWork(sessions) as uow:
        stored, counts = await catalog.get_product(DEFAULT_SHOP_ID, variant.id, uow)
        main_stored, main_counts = await catalog.get_product(DEFAULT_SHOP_ID, main.id, uow)
    assert (stored.variant_of, stored.variant_label, stored.price) == (main.id, "¥100", 9500)
    assert (counts.available, main_counts.available) == (2, 0)
    assert main_stored.variant_of is None

    event = approved(variant.id)
    await run(sessions, event, reservation_ops.reserve_stock)
    async with InventoryUnitOfWork(sessions) as uow:
        _, counts = await catalog.get_product(DEFAULT_SHOP_ID, variant.id, uow)
        _, main_counts = await catalog.get_product(DEFAULT_SHOP_ID, main.id, uow)
    assert (counts.available, counts.reserved, main_counts.available) == (1, 1, 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"variant_label": None}, "needs a variant_label"),
        ({"variant_label": "  "}, "needs a variant_label"),
        ({"currency": "USD"}, "main product's currency"),
        ({"of_variant": True}, "not another variant"),
        ({"of_unknown": True}, "names no product"),
    ],
)
async def test_a_variant_that_does_not_fit_its_main_product_is_refused(
    sessions: SessionFactory, fields: dict[str, Any], message: str
) -> None:
    main = await new_product(sessions, title="Main")
    sibling = await new_product(sessions, title="Sibling", variant_of=main.id, variant_label="B")
    target = sibling.id if fields.pop("of_variant", False) else main.id
    target = uuid.uuid4() if fields.pop("of_unknown", False) else target
    with pytest.raises(DomainError, match=message):
        await new_product(sessions, **{"title": "Bad", "variant_of": target, "variant_label": "X", **fields})


async def test_a_variant_keeps_its_label(sessions: SessionFactory) -> None:
    main = await new_product(sessions, title="Main")
    variant = await new_product(sessions, title="V", variant_of=main.id, variant_label="V")
    async with InventoryUnitOfWork(sessions) as uow:
        with pytest.raises(DomainError, match="keeps a variant_label"):
            await catalog.update_product(DEFAULT_SHOP_ID, variant.id, {"variant_label": None}, uow)
    async with InventoryUnitOfWork(sessions) as uow:
        renamed, _ = await catalog.update_product(DEFAULT_SHOP_ID, variant.id, {"variant_label": "V2"}, uow)
    assert renamed.variant_label == "V2"


def batch_consumer(sessions: SessionFactory, bulk: bool = True) -> EventConsumer[InventoryUnitOfWork]:
    """Inventory's consumer as bootstrap builds it (with the bulk reserve), or with single handlers only."""
    return EventConsumer(
        "inventory",
        lambda: InventoryUnitOfWork(sessions),
        {
            OrderApproved: reservation_ops.reserve_stock,
            OrderCancelled: reservation_ops.release_stock,
            OrderPaid: reservation_ops.allocate_keys,
        },
        batch_size=50,
        batch_handlers={
            OrderApproved: reservation_ops.reserve_stock_many,
            OrderPaid: reservation_ops.allocate_keys_many,
        }
        if bulk
        else None,
    )


def records(events: list[Message]) -> list[Delivery]:
    return [
        Delivery("order.events", 0, offset, str(e.key).encode(), Envelope.wrap(e, "order").to_bytes())
        for offset, e in enumerate(events)
    ]


async def outcome_of(engine: AsyncEngine, events: list[OrderApproved]) -> list[tuple[str, int]]:
    """Per order: what inventory answered (StockReserved / StockUnavailable) and how many keys it holds."""
    found = []
    for event in events:
        answers = [kind for kind, _ in await published(engine, event.order_id)]
        held = await scalar(engine, "SELECT count(*) FROM card_keys WHERE order_id = :o", o=event.order_id)
        found.append((",".join(answers), int(held)))
    return found


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk reserve", "one by one"])
async def test_a_batch_of_orders_is_served_in_order_each_all_or_nothing(
    engine: AsyncEngine, sessions: SessionFactory, bulk: bool
) -> None:
    product_id = await card_product(sessions, [f"B-{uuid.uuid4().hex[:8]}-{i}" for i in range(6)])
    wants = [2, 3, 2, 1, 1]  # 6 keys: 2 + 3 served, 2 refused (1 left), then 1 served, then 1 refused
    events = [approved(product_id, quantity=q) for q in wants]
    cancelled_first = OrderCancelled(order_id=events[0].order_id, order_no=events[0].order_no, reason="test")
    batch = records([*events, cancelled_first])
    outcomes = await batch_consumer(sessions, bulk).consume_batch(batch)
    assert outcomes == ["handled"] * 6
    assert await outcome_of(engine, events) == [
        ("StockReserved", 0),  # its keys went back when it was cancelled in the same batch
        ("StockReserved", 3),
        ("StockUnavailable", 0),
        ("StockReserved", 1),
        ("StockUnavailable", 0),
    ]
    refused = [(await published(engine, events[i].order_id))[0][1] for i in (2, 4)]
    assert [(r["available"], r["reason"]) for r in refused] == [(1, "out_of_stock"), (0, "out_of_stock")]
    assert await stock(sessions, product_id) == (2, 4, 0)
    distinct = await scalar(
        engine, "SELECT count(DISTINCT id) FROM card_keys WHERE product_id = :p AND status = 'reserved'",
        p=product_id,
    )  # fmt: skip
    assert distinct == 4

    assert await batch_consumer(sessions, bulk).consume_batch(batch) == ["duplicate"] * 6  # redelivered
    # the same orders approved again under new event ids: each is answered already, nothing changes
    assert await batch_consumer(sessions, bulk).consume_batch(records(events)) == ["handled"] * 5
    assert await outcome_of(engine, events) == [
        ("StockReserved", 0), ("StockReserved", 3), ("StockUnavailable", 0), ("StockReserved", 1),
        ("StockUnavailable", 0),
    ]  # fmt: skip
    assert await stock(sessions, product_id) == (2, 4, 0)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk allocation", "one by one"])
async def test_a_run_of_payments_sells_each_order_its_own_reserved_keys_and_reclaims_the_lapsed(
    engine: AsyncEngine, sessions: SessionFactory, bulk: bool
) -> None:
    """Orders with an active reservation are sold the keys they hold; one whose reservation was released
    (a late payment) claims keys again, one never reserved claims its own, one already allocated is left
    as it is; the counts and announcements are those of the same payments handled one by one."""
    product_id = await card_product(sessions, [f"P-{uuid.uuid4().hex[:8]}-{i}" for i in range(10)])
    held, lapsed, done = (
        [approved(product_id, quantity=q) for q in (2, 1, 1)],
        approved(product_id),
        approved(product_id),
    )
    consumer = batch_consumer(sessions, bulk)
    cancelled = OrderCancelled(order_id=lapsed.order_id, order_no=lapsed.order_no, reason="expired")
    first = records([*held, lapsed, done, cancelled, paid(done)])
    assert await consumer.consume_batch(first) == ["handled"] * 7
    unreserved = approved(product_id, quantity=2)
    run = [paid(held[0]), paid(lapsed), paid(held[1]), paid(done), paid(unreserved), paid(held[2])]
    assert await consumer.consume_batch(records(run)) == ["handled"] * 6  # new event ids: none a duplicate

    async def allocations_of(order: OrderApproved) -> list[list[str]]:
        messages = await published(engine, order.order_id)
        return [payload["key_ids"] for kind, payload in messages if kind == "KeysAllocated"]

    sold: dict[uuid.UUID, list[str]] = {}
    for order, wanted in ((held[0], 2), (held[1], 1), (held[2], 1), (lapsed, 1), (unreserved, 2), (done, 1)):
        allocations = await allocations_of(order)
        assert len(allocations) == 1, f"{order.order_id}: {len(allocations)} allocations"
        assert len(allocations[0]) == wanted
        sold[order.order_id] = allocations[0]
        owned = await scalar(
            engine,
            "SELECT array_agg(id::text) FROM card_keys WHERE order_id = :o AND status = 'sold'",
            o=order.order_id,
        )
        assert sorted(owned) == sorted(allocations[0])
    every = [key for keys in sold.values() for key in keys]
    assert len(set(every)) == len(every) == 8  # never the same key twice
    assert await stock(sessions, product_id) == (2, 0, 8)
    assert await batch_consumer(sessions, bulk).consume_batch(records(run)) == ["handled"] * 6  # again
    assert await stock(sessions, product_id) == (2, 0, 8)
    for order in [*held, lapsed, done, unreserved]:
        assert len(await allocations_of(order)) == 1


async def test_a_batch_with_an_order_twice_or_a_keyless_product_takes_the_one_by_one_path(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"T-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)])
    loop = await new_product(sessions, title="Loop", delivery_type="loop_key", loop_key="SAME-FOR-ALL")
    first = approved(product_id, quantity=2)
    twice = first.model_copy()
    looped = approved(loop.id, quantity=4)
    outcomes = await batch_consumer(sessions).consume_batch(records([first, twice, looped]))
    assert outcomes == ["handled"] * 3
    assert await outcome_of(engine, [first]) == [("StockReserved", 2)]
    assert [kind for kind, _ in await published(engine, looped.order_id)] == ["StockReserved"]
    assert await stock(sessions, product_id) == (1, 2, 0)
