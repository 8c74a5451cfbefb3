"""Which committed moves of an order the order service announces to the pages watching it (Redis pub/sub,
faka_common.contracts.order_watch), on real Postgres: every move of an order already placed, after its
commit, and not the placement itself, whose order number nobody has been given yet."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from faka_common.contracts.order_watch import read_announcement
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from order.domain.model import Status, Trigger
from order.service_layer.unit_of_work import OrderUnitOfWork

from .conftest import Db, placed_order

pytestmark = pytest.mark.integration


class Recorded:
    """The order service's announcer, keeping what it was asked to announce."""

    def __init__(self) -> None:
        self.announced: list[tuple[str, str]] = []

    async def announce(self, changes: Sequence[tuple[str, str]]) -> None:
        self.announced += changes

    async def aclose(self) -> None:
        pass


async def test_a_placed_order_is_not_announced_and_its_next_move_is_after_commit(db: Db) -> None:
    changes = Recorded()
    order = placed_order()
    async with OrderUnitOfWork(db.sessions, "order", changes) as uow:
        await uow.orders.add(order)
        await uow.commit()
    assert changes.announced == []
    [(status,)] = await db.fetch("SELECT to_state FROM order_transitions WHERE order_id = $1", order.id)
    assert status == Status.PENDING_RISK.value  # the placement's own transition is still written

    async with OrderUnitOfWork(db.sessions, "order", changes) as uow:
        locked = await uow.orders.lock(DEFAULT_SHOP_ID, order.id)
        assert locked is not None
        locked.apply(Trigger.APPROVE, datetime.now(UTC))
        await uow.orders.save(locked)
        assert changes.announced == []  # not before the commit
        await uow.commit()
    [(order_no, payload)] = changes.announced
    assert order_no == order.order_no
    assert read_announcement(payload).status == locked.status.value != Status.PENDING_RISK.value


async def test_the_move_to_awaiting_payment_is_announced_with_the_end_of_its_payment_window(db: Db) -> None:
    """The page's stream shows the payment link it was given before (`once_awaiting_payment`) when the
    window is the one its view showed; an approval after review moves the window, and the stream reads."""
    changes = Recorded()
    order = placed_order()
    async with OrderUnitOfWork(db.sessions, "order", changes) as uow:
        await uow.orders.add(order)
        await uow.commit()
    async with OrderUnitOfWork(db.sessions, "order", changes) as uow:
        locked = await uow.orders.lock(DEFAULT_SHOP_ID, order.id)
        assert locked is not None
        locked.apply(Trigger.APPROVE, datetime.now(UTC))
        locked.apply(Trigger.STOCK_RESERVED, datetime.now(UTC))
        await uow.orders.save(locked)
        await uow.commit()
    [(_, payload)] = changes.announced
    assert locked.status is Status.AWAITING_PAYMENT and locked.expires_at is not None
    told = read_announcement(payload)
    assert (told.status, told.at) == ("awaiting_payment", locked.expires_at.isoformat())
