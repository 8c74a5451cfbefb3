"""The recharge worker finds due work without reading every delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

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
