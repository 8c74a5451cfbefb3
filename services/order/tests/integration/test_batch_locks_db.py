"""Two batches of the order consumer that share orders, handled side by side (two topics' lanes), on real
Postgres: each locks every order it is about in the order of their ids before its handlers run, so the
second waits for the first instead of the two deadlocking (Postgres would abort one and its records would
be redone one at a time). Each batch's handlers are made to pause after their first lock until the other
batch has one too: the moment two batches locking [A, B] and [B, A] record by record deadlock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import Envelope, RiskDecided, StockReserved
from faka_common.contracts.order import OrderLinkRequested
from faka_common.db.uow import execute, outbox_insert
from faka_common.messaging.consumer import Delivery
from faka_common.testing import statements_run
from order.adapters import orders as order_ops
from order.adapters.orders import OrderRepository
from order.bootstrap import Service
from order.domain.model import Status

from .conftest import Db, ShopCatalog, awaiting_payment_order, order_service
from .test_shop_lifecycle_db import PRODUCT, SHOP

pytestmark = pytest.mark.integration


def reserved(order_id: UUID) -> Delivery:
    event = StockReserved(
        order_id=order_id, shop_id=SHOP, product_id=PRODUCT.product_id, quantity=1,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )  # fmt: skip
    envelope = Envelope.wrap(event, "inventory")
    return Delivery(event.topic, 0, 0, str(order_id).encode(), envelope.to_bytes())


def approved(order_id: UUID) -> Delivery:
    envelope = Envelope.wrap(RiskDecided(order_id=order_id, shop_id=SHOP, verdict="approve"), "risk")
    return Delivery(RiskDecided.topic, 0, 0, str(order_id).encode(), envelope.to_bytes())


@pytest.fixture
async def service(db: Db) -> AsyncIterator[Service]:
    async with order_service(db, ShopCatalog(PRODUCT, shop_id=SHOP)) as made:
        yield made


async def test_two_batches_sharing_orders_in_opposite_order_wait_for_each_other_without_deadlock(
    db: Db, service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = (await awaiting_payment_order(db, shop_id=SHOP), await awaiting_payment_order(db, shop_id=SHOP))
    meet = asyncio.Barrier(2)
    first_lock_of: set[int] = set()
    lock = OrderRepository.lock

    async def lock_then_meet(self: OrderRepository, *args: Any) -> Any:
        found = await lock(self, *args)
        if id(self) not in first_lock_of:  # each transaction's first lock: wait (a while) for the other's
            first_lock_of.add(id(self))
            with contextlib.suppress(TimeoutError, asyncio.BrokenBarrierError):
                async with asyncio.timeout(3):
                    await meet.wait()
        return found

    monkeypatch.setattr(OrderRepository, "lock", lock_then_meet)
    caplog.set_level(logging.WARNING, logger="faka_common.messaging.consumer")
    consumer = service.consumer()

    outcomes = await asyncio.gather(
        consumer.consume_batch([reserved(a.id), reserved(b.id)]),
        consumer.consume_batch([reserved(b.id), reserved(a.id)]),
    )

    assert outcomes == [["handled", "handled"], ["handled", "handled"]], outcomes
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == [], "no batch may fail (a deadlock) and be redone one record at a time"


async def test_a_batchs_handlers_take_the_rows_its_lock_read_and_a_second_record_takes_the_firsts_move(
    db: Db, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, other = [await awaiting_payment_order(db, shop_id=SHOP, status=Status.PENDING_RISK) for _ in "ab"]
    reads: list[UUID] = []
    read = order_ops._LOCK.first

    async def counted(session: Any, params: Any) -> Any:
        reads.append(params["order_id"])
        return await read(session, params)

    monkeypatch.setattr(order_ops._LOCK, "first", counted)
    outcomes = await service.consumer().consume_batch(
        [approved(one.id), approved(other.id), reserved(one.id)]  # one's approval, then its stock
    )

    assert outcomes == ["handled", "handled", "handled"]
    # the batch's lock read both rows; one's second record took the order its first record moved
    assert reads == []
    async with db.uow() as uow:
        moved = [await uow.orders.get_by_no(SHOP, order.order_no) for order in (one, other)]
        audited = [await uow.orders.transitions(order.id) for order in (one, other)]
    assert [order.status if order else None for order in moved] == [Status.AWAITING_PAYMENT, Status.RESERVING]
    assert [[(f, t) for f, t, _ in moves] for moves in audited] == [
        [(None, "pending_risk"), ("pending_risk", "reserving"), ("reserving", "awaiting_payment")],
        [(None, "pending_risk"), ("pending_risk", "reserving")],
    ], "every move audited once, in its order, the first batch's two moves of one order included"


async def test_a_batch_writes_the_moves_of_all_its_orders_in_one_statement(db: Db, service: Service) -> None:
    orders = [await awaiting_payment_order(db, shop_id=SHOP, status=Status.PENDING_RISK) for _ in range(5)]
    async with statements_run(service.runtime.engine) as sent:
        outcomes = await service.consumer().consume_batch(
            [approved(order.id) for order in orders] + [reserved(order.id) for order in orders[:2]]
        )

    assert outcomes == ["handled"] * 7
    writes = [statement for statement in sent if "UPDATE orders" in statement]
    assert len(writes) == 1, f"one write for the batch's seven moves of five orders, not {len(writes)}"
    # the messages the moves announce ride in the same statement: no outbox insert of its own
    assert "INSERT INTO outbox" in writes[0]
    assert [s for s in sent if s.startswith("INSERT INTO outbox")] == []
    assert await approvals(db, orders) == [1] * 5
    async with db.uow() as uow:
        after = [await uow.orders.get_by_no(SHOP, order.order_no) for order in orders]
        audited = [len(await uow.orders.transitions(order.id)) for order in orders]
    assert [order.status if order else None for order in after] == [Status.AWAITING_PAYMENT] * 2 + [
        Status.RESERVING
    ] * 3
    assert audited == [3, 3, 2, 2, 2]


async def test_a_batch_that_fails_after_its_moves_writes_none_of_them_and_its_records_go_one_by_one(
    db: Db, service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run whose commit fails keeps nothing of its kept saves; each record is then handled alone (its
    save written at once), so every order ends moved once."""
    orders = [await awaiting_payment_order(db, shop_id=SHOP, status=Status.PENDING_RISK) for _ in range(3)]
    flush = OrderRepository.flush
    failed: list[int] = []

    async def fail_first_batch(self: OrderRepository, outbox: list[list[Any]] | None = None) -> None:
        kept = len(self._deferred or {})
        await flush(self, outbox)
        if kept > 1 and not failed:
            failed.append(kept)
            raise RuntimeError("the batch failed after its moves were written")

    monkeypatch.setattr(OrderRepository, "flush", fail_first_batch)
    caplog.set_level(logging.WARNING, logger="faka_common.messaging.consumer")
    outcomes = await service.consumer().consume_batch([approved(order.id) for order in orders])

    assert failed == [3]
    assert outcomes == ["handled"] * 3
    assert any("handling its records one at a time" in r.getMessage() for r in caplog.records)
    async with db.uow() as uow:
        audited = [await uow.orders.transitions(order.id) for order in orders]
    assert [[t for _, t, _ in moves] for moves in audited] == [["pending_risk", "reserving"]] * 3
    assert await approvals(db, orders) == [1] * 3  # the failed run's outbox rows went with its moves


async def approvals(db: Db, orders: list[Any]) -> list[int]:
    """How many OrderApproved each order has in the outbox."""
    query = "SELECT count(*) FROM outbox WHERE type = 'OrderApproved' AND key = $1"
    return [(await db.fetch(query, str(order.id)))[0][0] for order in orders]


async def test_messages_staged_after_a_statement_took_the_outbox_are_written_by_the_commit_each_once(
    db: Db,
) -> None:
    orders = [uuid4(), uuid4(), uuid4()]

    def asked(order_id: UUID) -> OrderLinkRequested:
        return OrderLinkRequested(
            order_id=order_id, shop_id=SHOP, order_no=f"N{order_id.hex[:8]}", requested_at=datetime.now(UTC)
        )

    async with db.uow() as uow:
        uow.publish(asked(orders[0]))
        uow.publish(asked(orders[1]))
        taken = uow.take_outbox()
        assert taken is not None and [len(column) for column in taken] == [2] * 6
        await execute(uow.session, outbox_insert(), *taken)
        assert uow.take_outbox() is None  # nothing staged since
        uow.publish(asked(orders[2]))
        await uow.commit()

    keys = [str(order) for order in orders]
    rows = await db.fetch("SELECT key FROM outbox WHERE key = ANY($1::text[]) ORDER BY id", keys)
    assert [row["key"] for row in rows] == keys
