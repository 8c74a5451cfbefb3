"""Delivery's shop migration on a database that already holds rows: they become the default shop's."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from alembic import command
from delivery.config import MIGRATIONS
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.testing import migrated_database

from .conftest import SHOP_TABLES

pytestmark = pytest.mark.integration

BEFORE_SHOPS = "0002"
#: Shop-owned tables made after the shop migration: there are no rows of a single-shop install in them.
BORN_WITH_SHOPS = frozenset(
    {
        "tickets",
        "ticket_messages",
        "ticket_attachments",
        "replacement_claims",
        "supplier_ledger",
        "supplier_policies",
        "ticket_sla_policies",
        "canned_replies",
        "supplier_key_batches",
    }
)


async def migrate(url: str, revision: str, down: bool = False) -> None:
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, alembic_config(url, MIGRATIONS), revision)


async def rows_of_a_single_shop_install(db: asyncpg.Connection) -> None:
    """One row in every table the shop migration touches, written as the service did before shops."""
    order, delivery, supplier = uuid4(), uuid4(), uuid4()
    await db.execute(
        "INSERT INTO deliveries (id, order_id, mode, item_count, status)"
        " VALUES ($1, $2, 'manual', 0, 'manual')",
        delivery,
        order,
    )
    await db.execute(
        "INSERT INTO delivery_attempts (id, delivery_id, order_id, channel, started_at, outcome)"
        " VALUES ($1, $2, $3, 'operator', now(), 'succeeded')",
        uuid4(),
        delivery,
        order,
    )
    await db.execute(
        "INSERT INTO manual_tasks (id, order_id, delivery_id, reason, status)"
        " VALUES ($1, $2, $3, 'x', 'open')",
        uuid4(),
        order,
        delivery,
    )
    await db.execute(
        "INSERT INTO delivery_contents (order_id, delivery_id, source, key_id, blob)"
        " VALUES ($1, $2, 'operator', 'k', 'x')",
        order,
        delivery,
    )
    await db.execute("INSERT INTO content_reveals (order_id, reader) VALUES ($1, 'gateway')", order)
    await db.execute(
        "INSERT INTO suppliers (id, name, kind, base_url, secret_key_id, secret_blob)"
        " VALUES ($1, 'up', 'http_json', 'https://up.example', 'k', 'x')",
        supplier,
    )
    await db.execute(
        "INSERT INTO supplier_routes (id, product_id, supplier_id, supplier_sku, cost, currency)"
        " VALUES ($1, $2, $3, 'sku', 1, 'CNY')",
        uuid4(),
        uuid4(),
        supplier,
    )
    await db.execute(
        "INSERT INTO supplier_claims (id, supplier_id, order_id, amount, currency, reason, recorded_by)"
        " VALUES ($1, $2, $3, 1, 'CNY', 'x', 'ann')",
        uuid4(),
        supplier,
        order,
    )


async def test_existing_rows_become_the_default_shops_and_a_write_without_a_shop_is_refused() -> None:
    async with migrated_database("faka_delivery_migration") as url:
        await ensure_database(url)
        await migrate(url, BEFORE_SHOPS)
        db = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await rows_of_a_single_shop_install(db)
            await migrate(url, "head")
            for table in sorted(set(SHOP_TABLES) - BORN_WITH_SHOPS):
                shops = await db.fetch(f"SELECT DISTINCT shop_id FROM {table}")
                assert [r["shop_id"] for r in shops] == [DEFAULT_SHOP_ID], table
            with pytest.raises(asyncpg.NotNullViolationError, match="shop_id"):
                await db.execute(
                    "INSERT INTO suppliers (id, name, kind, base_url, secret_key_id, secret_blob)"
                    " VALUES ($1, 'other', 'http_json', 'https://up.example', 'k', 'x')",
                    uuid4(),
                )
            await migrate(url, BEFORE_SHOPS, down=True)
            assert await db.fetchval("SELECT count(*) FROM supplier_routes") == 1
            await migrate(url, "head")
        finally:
            await db.close()
