"""The one-statement card-key reservation (`RESERVE_KEYS`) against a real Postgres: its plan claims through
the issue-order index of the product (the other order's scan is gated off by a one-time filter), and a
reservation moves exactly its keys. Needs DATABASE_URL (fixtures: conftest.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from inventory.adapters.key_pools import RESERVE_KEYS
from inventory.domain import stock
from inventory.domain.stock import IssueOrder
from inventory.service_layer import catalog, reservations
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import SessionFactory, approved, card_product, paid, run

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("issue_order", "index", "gated_off"),
    [
        (IssueOrder.FIFO, "available_keys_fifo", "available_keys_random"),
        (IssueOrder.RANDOM, "available_keys_random", "available_keys_fifo"),
    ],
)
async def test_the_reserve_statement_claims_through_the_issue_order_index(
    engine: AsyncEngine,
    sessions: SessionFactory,
    issue_order: IssueOrder,
    index: str,
    gated_off: str,
) -> None:
    await card_product(sessions, [f"OTHER-{i}-{uuid.uuid4().hex}" for i in range(3000)], "crowded")
    product_id = await card_product(sessions, [f"MINE-{i}-{uuid.uuid4().hex}" for i in range(3000)], "mine")
    async with InventoryUnitOfWork(sessions) as uow:
        await catalog.update_product(DEFAULT_SHOP_ID, product_id, {"issue_order": issue_order}, uow)
    for event in [approved(product_id, quantity=50) for _ in range(10)]:  # 500 keys leave the queue
        await run(sessions, event, reservations.reserve_stock)
        await run(sessions, paid(event), reservations.allocate_keys)
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
        change = stock.reserved(5)
        params = (uuid.uuid4(), product_id, 5, datetime.now(UTC) + timedelta(minutes=15))
        plan = "\n".join(
            row[0]
            for row in await connection.exec_driver_sql(
                "EXPLAIN " + RESERVE_KEYS,
                (*params, change.available, change.reserved, change.sold, DEFAULT_SHOP_ID),
            )
        )
        await connection.rollback()
    assert f"Index Scan using {index} on available_keys" in plan, plan
    assert "Seq Scan on available_keys" not in plan, plan
    assert "Seq Scan on card_keys" not in plan, plan
    assert "One-Time Filter" in plan, plan  # each claim scan runs only when its gate is open
    # the other issue order's scan is in the plan but gated off: measured by running it
    event = approved(product_id, quantity=5)
    async with InventoryUnitOfWork(sessions) as uow:
        await uow.reservations.lock_order(event.order_id)
        attempt = await uow.keys.reserve(
            event.order_id, DEFAULT_SHOP_ID, product_id, 5, event.payment_expires_at, stock.reserved(5)
        )
        assert (attempt.delivery_type, attempt.existing, attempt.refused) == ("card_key", None, False)
        assert (attempt.claimed, attempt.reserved) == (5, True)
        held = await uow.session.execute(
            text(
                "SELECT count(*) FILTER (WHERE c.status = 'reserved' AND c.order_id = :o), "
                "count(a.key_id) FROM card_keys c LEFT JOIN available_keys a ON a.key_id = c.id "
                "WHERE c.order_id = :o"
            ),
            {"o": event.order_id},
        )
        assert held.one() == (5, 0)  # the five keys are the order's and out of the queue
        again = await uow.keys.reserve(
            event.order_id, DEFAULT_SHOP_ID, product_id, 5, event.payment_expires_at, stock.reserved(5)
        )
        assert (again.existing, again.claimed, again.reserved) == ("active", 0, False)
        await uow.rollback()
    assert gated_off in plan, plan
