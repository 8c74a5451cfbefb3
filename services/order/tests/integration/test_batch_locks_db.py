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
from uuid import UUID

import pytest
from faka_common.contracts import Envelope, RiskDecided, StockReserved
from faka_common.messaging.consumer import Delivery
from order.adapters import orm
from order.adapters.orm import OrderRepository
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


async def test_a_batchs_handlers_take_the_rows_its_lock_read_and_a_second_record_sees_the_firsts_move(
    db: Db, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, other = [await awaiting_payment_order(db, shop_id=SHOP, status=Status.PENDING_RISK) for _ in "ab"]
    reads: list[UUID] = []
    read = orm._LOCK.first

    async def counted(session: Any, params: Any) -> Any:
        reads.append(params["order_id"])
        return await read(session, params)

    monkeypatch.setattr(orm._LOCK, "first", counted)
    outcomes = await service.consumer().consume_batch(
        [approved(one.id), approved(other.id), reserved(one.id)]  # one's approval, then its stock
    )

    assert outcomes == ["handled", "handled", "handled"]
    # the batch's lock read both rows; only one's second record read its (moved) row again
    assert reads == [one.id]
    async with db.uow() as uow:
        moved = [await uow.orders.get_by_no(SHOP, order.order_no) for order in (one, other)]
    assert [order.status if order else None for order in moved] == [Status.AWAITING_PAYMENT, Status.RESERVING]
