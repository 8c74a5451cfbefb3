"""Migration 0006 (shops) against a real Postgres: an installation's rows from before it belong to the default
shop and keep serving it, the column has no default afterwards (a write that names no shop fails), the
database refuses a key filed under another shop than its product's, and the migration goes down and up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from alembic import command
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import asyncpg_dsn, create_engine, session_factory
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.errors import NotFound
from faka_common.testing import migrated_database
from inventory.config import MIGRATIONS
from inventory.domain.keys import seal_context
from inventory.service_layer import catalog, key_pools
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

from .test_inventory_db import KEYRING

pytestmark = pytest.mark.integration

SHOP_OWNED = ("categories", "products", "key_batches", "card_keys", "available_keys", "reservations",
              "stock_refusals", "key_reveals", "stock_counts", "stock_changes")  # fmt: skip
BEFORE_SHOPS = "0005"


async def upgrade(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url, MIGRATIONS), revision)


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url, MIGRATIONS), revision)


@pytest.fixture
async def before_shops() -> AsyncIterator[str]:
    """A database at the revision before shops."""
    async with migrated_database("faka_inventory_shops_migration") as url:
        await ensure_database(url)
        await upgrade(url, BEFORE_SHOPS)
        yield url


async def columns(connection: asyncpg.Connection, table: str) -> dict[str, tuple[str, str | None]]:
    rows = await connection.fetch(
        "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_name = $1",
        table,
    )
    return {r["column_name"]: (r["is_nullable"], r["column_default"]) for r in rows}


@dataclass(frozen=True)
class OldRows:
    """What an installation held before shops: a category, a product with a sold and an unsold key, the
    paid order's reservation and reveal, a refusal, the stock rows."""

    category: uuid.UUID = field(default_factory=uuid.uuid4)
    product: uuid.UUID = field(default_factory=uuid.uuid4)
    batch: uuid.UUID = field(default_factory=uuid.uuid4)
    sold: uuid.UUID = field(default_factory=uuid.uuid4)
    unsold: uuid.UUID = field(default_factory=uuid.uuid4)
    order: uuid.UUID = field(default_factory=uuid.uuid4)
    refused: uuid.UUID = field(default_factory=uuid.uuid4)

    async def write(self, connection: asyncpg.Connection) -> None:
        p = self.product
        await connection.execute("INSERT INTO categories (id, name) VALUES ($1, 'Cards')", self.category)
        await connection.execute(
            "INSERT INTO products (id, title, price, currency, delivery_type, category_id) "
            "VALUES ($1, 'Steam 50', 4800, 'CNY', 'card_key', $2)",
            p,
            self.category,
        )
        await connection.execute("INSERT INTO stock_counts (product_id, available) VALUES ($1, 1)", p)
        await connection.execute("INSERT INTO key_batches (id, product_id) VALUES ($1, $2)", self.batch, p)
        keys = [(self.sold, "OLD-SOLD", "sold", self.order), (self.unsold, "OLD-FREE", "available", None)]
        for key_id, content, status, owner in keys:
            sealed = KEYRING.seal(content, seal_context(p, key_id))
            await connection.execute(
                "INSERT INTO card_keys (id, product_id, batch_id, fingerprint, key_id, sealed, status, "
                "order_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                key_id, p, self.batch, KEYRING.fingerprint(content, p.bytes), sealed.key_id, sealed.blob,
                status, owner,
            )  # fmt: skip
        await connection.execute(
            "INSERT INTO available_keys (key_id, product_id) VALUES ($1, $2)", self.unsold, p
        )
        await connection.execute(
            "INSERT INTO reservations (order_id, product_id, quantity, status) "
            "VALUES ($1, $2, 1, 'allocated')",
            self.order,
            p,
        )
        await connection.execute(
            "INSERT INTO stock_refusals (order_id, product_id, requested, available) VALUES ($1, $2, 9, 1)",
            self.refused,
            p,
        )
        await connection.execute(
            "INSERT INTO key_reveals (order_id, product_id, key_id, reader) VALUES ($1, $2, $3, 'gateway')",
            self.order,
            p,
            self.sold,
        )
        await connection.execute("INSERT INTO stock_changes (product_id, sold) VALUES ($1, 1)", p)


async def test_rows_from_before_shops_belong_to_the_default_shop_and_keep_serving_it(
    before_shops: str,
) -> None:
    old = OldRows()
    product = old.product
    connection = await asyncpg.connect(asyncpg_dsn(before_shops))
    try:
        await old.write(connection)
        await upgrade(before_shops)

        for table in SHOP_OWNED:
            shops = await connection.fetch(f"SELECT shop_id, count(*) FROM {table} GROUP BY shop_id")
            rows = 2 if table == "card_keys" else 1
            assert [tuple(row) for row in shops] == [(DEFAULT_SHOP_ID, rows)], table
            assert (await columns(connection, table))["shop_id"] == ("NO", None), table
        with pytest.raises(asyncpg.NotNullViolationError):
            await connection.execute("INSERT INTO categories (id, name) VALUES ($1, 'No shop')", uuid.uuid4())
        with pytest.raises(asyncpg.ForeignKeyViolationError):  # a batch of another shop than its product's
            await connection.execute(
                "INSERT INTO key_batches (id, product_id, shop_id) VALUES ($1, $2, $3)",
                uuid.uuid4(), product, uuid.uuid4(),
            )  # fmt: skip

        await downgrade(before_shops, BEFORE_SHOPS)
        assert "shop_id" not in await columns(connection, "card_keys")
        await upgrade(before_shops)
    finally:
        await connection.close()

    engine = create_engine(before_shops)
    sessions = session_factory(engine)
    try:
        async with InventoryUnitOfWork(sessions) as uow:
            found, counts = await catalog.get_product(DEFAULT_SHOP_ID, product, uow)
            assert (found.title, found.category_id, counts.available) == ("Steam 50", old.category, 1)
            with pytest.raises(NotFound):
                await catalog.get_product(uuid.uuid4(), product, uow)
        async with InventoryUnitOfWork(sessions) as uow:
            revealed = await key_pools.reveal_keys(DEFAULT_SHOP_ID, old.order, "notification", uow, KEYRING)
        assert [k.content for k in revealed.keys] == ["OLD-SOLD"]
        async with InventoryUnitOfWork(sessions) as uow:  # the old pool still deduplicates per product
            result = await key_pools.import_keys(DEFAULT_SHOP_ID, product, "OLD-FREE\nNEW-1\n", uow, KEYRING)
        assert (result.imported, result.duplicates) == (1, 1)
        async with InventoryUnitOfWork(sessions) as uow:  # a category name is the shop's own
            other = await catalog.create_category(uuid.uuid4(), "Cards", 0, True, uow)
        assert other.name == "Cards"
    finally:
        await engine.dispose()
