"""The recharge worker finds due work without reading every delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from delivery.bootstrap import Service
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn
from sqlalchemy import text

pytestmark = pytest.mark.integration

FINISHED = 3000


async def test_looking_for_a_due_recharge_among_many_finished_deliveries_reads_no_table_scan(
    service: Service, database_url: str
) -> None:
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await db.executemany(
            "INSERT INTO deliveries (id, order_id, mode, item_count, status, shop_id)"
            " VALUES ($1, $2, 'recharge', 1, 'succeeded', $3)",
            [(uuid4(), uuid4(), DEFAULT_SHOP_ID) for _ in range(FINISHED)],
        )
        due_order = uuid4()
        await db.execute(
            "INSERT INTO deliveries (id, order_id, mode, item_count, status, shop_id)"
            " VALUES ($1, $2, 'recharge', 1, 'recharging', $3)",
            uuid4(),
            due_order,
            DEFAULT_SHOP_ID,
        )
        await db.execute("ANALYZE deliveries")
    finally:
        await db.close()

    async with service.uow() as uow:
        leased = await uow.deliveries.lease_due_recharge(datetime.now(UTC), timedelta(seconds=30))
        scans = (
            await uow.session.execute(
                text("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'deliveries'")
            )
        ).scalar_one()
    assert leased == (DEFAULT_SHOP_ID, due_order)
    assert scans == 0


async def test_leases_taken_at_once_on_autocommit_sessions_take_each_due_recharge_once(
    service: Service, database_url: str
) -> None:
    """The worker leases on a reader's autocommit session (one statement, no BEGIN or COMMIT around it):
    twenty leases taken at once take each of twelve due recharges exactly once, and a recharge whose lease
    is running is taken by nobody else."""
    due = [uuid4() for _ in range(12)]
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await db.execute(
            "UPDATE deliveries SET status = 'succeeded' WHERE status IN ('recharging', 'manual')"
        )
        await db.executemany(
            "INSERT INTO deliveries (id, order_id, mode, item_count, status, shop_id)"
            " VALUES ($1, $2, 'recharge', 1, 'recharging', $3)",
            [(uuid4(), order_id, DEFAULT_SHOP_ID) for order_id in due],
        )
    finally:
        await db.close()

    async def lease() -> tuple[UUID, UUID] | None:
        async with service.worker._lease_uow() as uow:
            return await uow.deliveries.lease_due_recharge(datetime.now(UTC), timedelta(seconds=30))

    leased = [got for got in await asyncio.gather(*(lease() for _ in range(8 + len(due)))) if got is not None]
    assert sorted(order_id for _, order_id in leased) == sorted(due)
    assert await lease() is None
