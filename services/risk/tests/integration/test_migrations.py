"""Risk's shop migration on a database that already holds decisions: they become the default shop's."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from alembic import command
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.testing import migrated_database
from risk.config import MIGRATIONS

pytestmark = pytest.mark.integration


async def test_existing_decisions_become_the_default_shops_and_a_decision_without_a_shop_is_refused() -> None:
    async with migrated_database("faka_risk_migration") as url:
        await ensure_database(url)
        config = alembic_config(url, MIGRATIONS)
        await asyncio.to_thread(command.upgrade, config, "0001")
        db = await asyncpg.connect(asyncpg_dsn(url))
        try:
            insert = "INSERT INTO risk_decisions (order_id, verdict, reasons) VALUES ($1, 'approve', '{}')"
            await db.execute(insert, uuid4())
            await asyncio.to_thread(command.upgrade, config, "head")
            assert await db.fetchval("SELECT array_agg(DISTINCT shop_id) FROM risk_decisions") == [
                DEFAULT_SHOP_ID
            ]
            with pytest.raises(asyncpg.NotNullViolationError, match="shop_id"):
                await db.execute(insert, uuid4())
        finally:
            await db.close()
