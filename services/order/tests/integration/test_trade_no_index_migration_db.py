"""Migration 0017: a payment's trade number has one index (unique on shop, trade number, provider) instead
of a unique one and a search one. What was unique stays unique, payments made before it are kept, the
console's search by trade number within a shop still reads an index, and the migration goes back to both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command
from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.testing import migrated_database
from order.config import MIGRATIONS

pytestmark = pytest.mark.integration

BEFORE = "0016"
SHOP, OTHER_SHOP = uuid.uuid4(), uuid.uuid4()
ORDER = """INSERT INTO orders (id, shop_id, order_no, status, product_id, product_title, quantity, unit_price,
   amount, currency, buyer_email, locale, created_at, updated_at)
   VALUES ($1, $2, $3, 'paid', gen_random_uuid(), 'Key', 1, 1000, 1000, 'CNY', 'b@example.com', 'en', now(),
   now())"""
PAYMENT = """INSERT INTO payments (id, shop_id, order_id, provider, trade_no, amount, currency, received_at)
   VALUES (gen_random_uuid(), $1, $2, $3, $4, 1000, 'CNY', now())"""
#: the console's search (order_history): a shop's payments by trade number, whatever the provider
SEARCH = "SELECT order_id FROM payments WHERE shop_id = $1 AND trade_no = $2"


async def migrate(url: str, revision: str, down: bool = False) -> None:
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, alembic_config(url, MIGRATIONS), revision)


async def indexes_naming_trade_no(connection: asyncpg.Connection) -> dict[str, str]:
    rows = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE tablename = 'payments' AND indexdef LIKE '%trade_no%'"
    )
    return {row["indexname"]: row["indexdef"] for row in rows}


@pytest.fixture
async def migrated() -> AsyncIterator[tuple[str, asyncpg.Connection, list[uuid.UUID]]]:
    """A database at 0016 holding payments (two providers' with one trade number, and one of another shop with
    it too), then migrated to the head."""
    async with migrated_database("t_order_trade_no") as url:
        await ensure_database(url)
        await migrate(url, BEFORE)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            orders = [uuid.uuid4() for _ in range(3)]
            for n, (order_id, shop, provider) in enumerate(
                zip(orders, (SHOP, SHOP, OTHER_SHOP), ("sandbox", "epay", "sandbox"), strict=True)
            ):
                await connection.execute(ORDER, order_id, shop, f"F2026120600000{n}")
                await connection.execute(PAYMENT, shop, order_id, provider, "T-1")
            await migrate(url, "head")
            yield url, connection, orders
        finally:
            await connection.close()


async def test_one_unique_index_names_the_trade_number_after_the_migration(
    migrated: tuple[str, asyncpg.Connection, list[uuid.UUID]],
) -> None:
    _, connection, _ = migrated
    assert await indexes_naming_trade_no(connection) == {
        "payments_trade_no": (
            "CREATE UNIQUE INDEX payments_trade_no ON public.payments "
            "USING btree (shop_id, trade_no, provider)"
        )
    }


async def test_payments_from_before_are_kept_and_a_providers_trade_number_stays_unique_per_shop(
    migrated: tuple[str, asyncpg.Connection, list[uuid.UUID]],
) -> None:
    _, connection, orders = migrated
    assert {row["order_id"] for row in await connection.fetch(SEARCH, SHOP, "T-1")} == set(orders[:2])
    with pytest.raises(asyncpg.UniqueViolationError):
        await connection.execute(PAYMENT, SHOP, orders[0], "sandbox", "T-1")
    # ON CONFLICT names the columns in their old order: the new index is found by its columns
    status = await connection.execute(
        PAYMENT + " ON CONFLICT (shop_id, provider, trade_no) DO NOTHING",
        OTHER_SHOP,
        orders[2],
        "sandbox",
        "T-1",
    )
    assert status == "INSERT 0 0"


async def test_the_search_by_trade_number_reads_the_index(
    migrated: tuple[str, asyncpg.Connection, list[uuid.UUID]],
) -> None:
    _, connection, _ = migrated
    async with connection.transaction():
        await connection.execute("SET LOCAL enable_seqscan = off")  # three rows: a scan would be cheaper
        plan = "\n".join(
            row[0]
            for row in await connection.fetch(
                "EXPLAIN " + SEARCH.replace("$1", f"'{SHOP}'").replace("$2", "'T-1'")
            )
        )
    assert "payments_trade_no" in plan


async def test_the_migration_goes_back_to_both_indexes(
    migrated: tuple[str, asyncpg.Connection, list[uuid.UUID]],
) -> None:
    url, connection, _ = migrated
    await migrate(url, BEFORE, down=True)
    assert set(await indexes_naming_trade_no(connection)) == {
        "payments_provider_trade_no",
        "payments_shop_trade_no",
    }
    await migrate(url, "head")
    assert set(await indexes_naming_trade_no(connection)) == {"payments_trade_no"}
