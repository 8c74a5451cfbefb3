"""Stock counts without a hot row: the repository that appends each transaction's change, folds the
appended changes into the per-product totals and reads exact counts (the totals plus what is not folded
yet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faka_common.db.statements import Compiled
from sqlalchemy import BindParameter, Select, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.tables import card_keys, stock_changes, stock_counts
from inventory.domain.model import Product
from inventory.domain.reservations import keyless
from inventory.domain.stock import Stock, StockChange


def _counts() -> Select[Any]:
    """The stock of some products: the folded totals plus the changes not folded yet."""
    ids: BindParameter[list[UUID]] = bindparam("ids", expanding=True)
    pending = (
        select(
            stock_changes.c.product_id,
            func.sum(stock_changes.c.available).label("available"),
            func.sum(stock_changes.c.reserved).label("reserved"),
            func.sum(stock_changes.c.sold).label("sold"),
        )
        .where(stock_changes.c.product_id.in_(ids))
        .group_by(stock_changes.c.product_id)
        .subquery()
    )
    return (
        select(
            stock_counts.c.product_id,
            stock_counts.c.available + func.coalesce(pending.c.available, 0),
            stock_counts.c.reserved + func.coalesce(pending.c.reserved, 0),
            stock_counts.c.sold + func.coalesce(pending.c.sold, 0),
        )
        .select_from(stock_counts.outerjoin(pending, pending.c.product_id == stock_counts.c.product_id))
        .where(stock_counts.c.product_id.in_(ids))
    )


#: Read behind every product the order service asks for when an order is placed, and every product list:
#: built once. Built per read it cost 2.3-2.7 ms of CPU against 0.39-0.43 (2,000 reads of one product).
_COUNTS = _counts()


#: Every reservation, allocation and sale appends a change of its product's counts: compiled once.
_RECORD_CHANGE = Compiled(insert(stock_changes), ["product_id", "shop_id", "available", "reserved", "sold"])


class StockRepository:
    """Exact counts without a hot row: a transaction appends its StockChange; `fold` adds the appended
    changes into stock_counts. Reading adds the not-yet-folded changes, so counts are exact at any time."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, shop_id: UUID, product_id: UUID, change: StockChange) -> None:
        """Append a change of the product's counts (`shop_id`: the product's shop)."""
        if change:
            values = {"available": change.available, "reserved": change.reserved, "sold": change.sold}
            await _RECORD_CHANGE.run(self._session, {"product_id": product_id, "shop_id": shop_id, **values})

    async def counts(self, items: Sequence[Product]) -> dict[UUID, Stock]:
        if not items:
            return {}
        rows = await self._session.execute(_COUNTS, {"ids": [p.id for p in items]})
        found = {pid: (int(a), int(r), int(s)) for pid, a, r, s in rows}
        result: dict[UUID, Stock] = {}
        for p in items:
            a, r, s = found.get(p.id, (0, 0, 0))
            result[p.id] = Stock(None if keyless(p.delivery_type) else a, r, s)
        return result

    async def fold(self, limit: int = 10_000) -> list[tuple[UUID, Stock, int]]:
        """Add up to `limit` appended changes into the totals; (product, exact counts, version) of every
        product that changed. The counts are those of this transaction's snapshot plus its own fold."""
        rows = await self._session.execute(
            text(
                """
                WITH taken AS (
                    DELETE FROM stock_changes WHERE id IN (
                        SELECT id FROM stock_changes ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
                    ) RETURNING product_id, available, reserved, sold
                ), summed AS (
                    SELECT product_id, sum(available) AS a, sum(reserved) AS r, sum(sold) AS s
                    FROM taken GROUP BY product_id
                )
                UPDATE stock_counts c
                SET available = c.available + summed.a, reserved = c.reserved + summed.r,
                    sold = c.sold + summed.s, version = c.version + 1
                FROM summed WHERE c.product_id = summed.product_id
                RETURNING c.product_id, c.available, c.reserved, c.sold, c.version
                """
            ),
            {"limit": limit},
        )
        return [(pid, Stock(int(a), int(r), int(s)), int(v)) for pid, a, r, s, v in rows]

    async def folded(self, items: Sequence[Product]) -> dict[UUID, tuple[Stock, int]]:
        """The folded totals and their version (what the last fold projected), without pending changes."""
        if not items:
            return {}
        rows = await self._session.execute(
            select(
                stock_counts.c.product_id,
                stock_counts.c.available,
                stock_counts.c.reserved,
                stock_counts.c.sold,
                stock_counts.c.version,
            ).where(stock_counts.c.product_id.in_([p.id for p in items]))
        )
        found = {pid: (int(a), int(r), int(s), int(v)) for pid, a, r, s, v in rows}
        result: dict[UUID, tuple[Stock, int]] = {}
        for p in items:
            a, r, s, v = found.get(p.id, (0, 0, 0, 0))
            result[p.id] = (Stock(None if keyless(p.delivery_type) else a, r, s), v)
        return result

    async def recount(self, product_id: UUID) -> Stock:
        """The counts straight from the keys (for checks and tests): slow on a big pool."""
        rows = await self._session.execute(
            select(card_keys.c.status, func.count())
            .where(card_keys.c.product_id == product_id)
            .group_by(card_keys.c.status)
        )
        by_status: dict[str, int] = {status: int(n) for status, n in rows}
        return Stock(by_status.get("available", 0), by_status.get("reserved", 0), by_status.get("sold", 0))
