"""Migration 0009 (shops): an installation's existing rows become the default shop's, nothing is written
without a shop afterwards, and what a seller sees as unique is unique per shop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.testing import migrated_database
from order.adapters.tables import metadata
from order.config import MIGRATIONS

pytestmark = pytest.mark.integration

BEFORE_SHOPS = "0008"
#: Tables made after shops, each with a shop_id from its first row (nothing there from before to move).
BORN_WITH_SHOPS = {"payment_channels", "order_releases"}
#: Every table whose rows belong to a shop, as the service's tables declare them.
SHOP_OWNED = [
    table.name
    for table in metadata.sorted_tables
    if "shop_id" in table.c and table.name not in BORN_WITH_SHOPS
]
ORDER_ID, PRODUCT_ID = uuid.uuid4(), uuid.uuid4()
#: One row in every shop-owned table, as the service wrote them before shops.
OLD_ROWS = [
    """INSERT INTO orders (id, order_no, status, product_id, product_title, quantity, unit_price, amount,
       currency, buyer_email, locale, created_at, updated_at)
       VALUES ($1, 'F20260101000000OLD001', 'paid', $2, 'Key', 1, 1000, 900, 'CNY', 'b@example.com', 'en',
       now(), now())""",
    """INSERT INTO order_transitions (order_id, from_state, to_state, trigger, at)
       VALUES ($1, NULL, 'pending_risk', 'place', now())""",
    """INSERT INTO payments (id, order_id, provider, trade_no, amount, currency, received_at)
       VALUES (gen_random_uuid(), $1, 'sandbox', 'T-1', 900, 'CNY', now())""",
    "INSERT INTO payment_attempts (order_id, provider, created_at) VALUES ($1, 'sandbox', now())",
    """INSERT INTO payment_exceptions (id, order_id, provider, trade_no, amount, currency, reason,
       received_at) VALUES (gen_random_uuid(), $1, 'epay', 'T-2', 1, 'CNY', 'amount', now())""",
    """INSERT INTO payment_checks (provider, order_no, reason, created_at)
       VALUES ('sandbox', 'F20260101000000OLD001', 'transient', now())""",
    """INSERT INTO refunds (id, refund_no, order_id, provider, trade_no, amount, currency, reason, status,
       requested_at)
       VALUES (gen_random_uuid(), 'R-1', $1, 'sandbox', 'T-1', 100, 'CNY', 'r', 'succeeded', now())""",
    """INSERT INTO auto_refunds (order_id, refund_no, reason, state, next_attempt_at, created_at, updated_at)
       VALUES ($1, 'R-2', 'out_of_stock', 'pending', now(), now(), now())""",
    "INSERT INTO idempotency_keys (key, fingerprint, created_at) VALUES ('k-1', 'f', now())",
    "INSERT INTO order_price_tiers (product_id, min_quantity, unit_price) VALUES ($2, 5, 800)",
    "INSERT INTO coupons (code, kind, value, created_at) VALUES ('OLD10', 'percent', 10, now())",
    """INSERT INTO coupon_redemptions (order_id, code, buyer_email, discount, redeemed_at)
       VALUES ($1, 'OLD10', 'b@example.com', 100, now())""",
]

SHOP_COUPON = (
    "INSERT INTO coupons (shop_id, code, kind, value, created_at) VALUES ($1, 'OLD10', 'fixed', 5, now())"
)


async def migrate(url: str, revision: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url, MIGRATIONS), revision)


@pytest.fixture
async def before_shops() -> AsyncIterator[asyncpg.Connection]:
    """A database at the revision before shops, holding one row in every shop-owned table."""
    async with migrated_database("t_order_shops") as url:
        await ensure_database(url)
        await migrate(url, BEFORE_SHOPS)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for statement in OLD_ROWS:
                named = [value for n, value in ((1, ORDER_ID), (2, PRODUCT_ID)) if f"${n}" in statement]
                await connection.execute(statement.replace("$2", f"${len(named)}"), *named)
            await migrate(url, "head")
            yield connection
        finally:
            await connection.close()


async def test_every_existing_row_becomes_the_default_shops(before_shops: asyncpg.Connection) -> None:
    assert len(SHOP_OWNED) == len(OLD_ROWS) == 12
    for table in SHOP_OWNED:
        shops = await before_shops.fetch(f"SELECT shop_id FROM {table}")
        assert [row["shop_id"] for row in shops] == [DEFAULT_SHOP_ID], table


async def test_a_row_written_without_its_shop_is_refused(before_shops: asyncpg.Connection) -> None:
    defaults = await before_shops.fetch(
        "SELECT table_name FROM information_schema.columns "
        "WHERE column_name = 'shop_id' AND (column_default IS NOT NULL OR is_nullable = 'YES')"
    )
    assert defaults == []
    with pytest.raises(asyncpg.NotNullViolationError):
        await before_shops.execute(
            "INSERT INTO coupons (code, kind, value, created_at) VALUES ('X', 'fixed', 1, now())"
        )


async def test_coupon_codes_idempotency_keys_and_trade_numbers_are_unique_per_shop(
    before_shops: asyncpg.Connection,
) -> None:
    other = uuid.uuid4()
    await before_shops.execute(
        SHOP_COUPON,
        other,
    )
    await before_shops.execute(
        "INSERT INTO idempotency_keys (shop_id, key, fingerprint, created_at) VALUES ($1, 'k-1', 'g', now())",
        other,
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await before_shops.execute(
            SHOP_COUPON,
            DEFAULT_SHOP_ID,
        )
    codes = await before_shops.fetch("SELECT shop_id FROM coupons WHERE code = 'OLD10' ORDER BY value")
    assert [row["shop_id"] for row in codes] == [other, DEFAULT_SHOP_ID]
    with pytest.raises(asyncpg.UniqueViolationError):
        await before_shops.execute(
            "INSERT INTO payments (id, shop_id, order_id, provider, trade_no, amount, currency, received_at) "
            "VALUES (gen_random_uuid(), $1, $2, 'sandbox', 'T-1', 900, 'CNY', now())",
            DEFAULT_SHOP_ID,
            ORDER_ID,
        )


async def test_a_redemption_names_a_coupon_of_its_own_shop(before_shops: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await before_shops.execute(
            "UPDATE coupon_redemptions SET shop_id = $1 WHERE order_id = $2", uuid.uuid4(), ORDER_ID
        )


async def test_the_migration_goes_back_to_one_shop_and_forward_again() -> None:
    async with migrated_database("t_order_shops", MIGRATIONS) as url:
        config = alembic_config(url, MIGRATIONS)
        await asyncio.to_thread(command.downgrade, config, BEFORE_SHOPS)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            columns = await connection.fetch(
                "SELECT 1 FROM information_schema.columns WHERE column_name = 'shop_id'"
            )
            assert columns == []
        finally:
            await connection.close()
        await migrate(url, "head")
