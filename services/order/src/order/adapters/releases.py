"""Held orders released for delivery by a person: who, why and when (one release per order)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, ForeignKey, Table, Text, insert, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.tables import metadata, shop_id_column

order_releases = Table(
    "order_releases",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    shop_id_column(),
    Column("held_for", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("released_by", Text, nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=False),
)


class ReleaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, shop_id: UUID, order_id: UUID, held_for: str, reason: str, by: str, at: datetime
    ) -> None:
        values = {"held_for": held_for, "reason": reason, "released_by": by, "released_at": at}
        await self._session.execute(
            insert(order_releases).values(shop_id=shop_id, order_id=order_id, **values)
        )

    async def for_order(self, order_id: UUID) -> list[dict[str, Any]]:
        table = order_releases
        query = select(table.c.held_for, table.c.reason, table.c.released_by, table.c.released_at)
        rows = (await self._session.execute(query.where(table.c.order_id == order_id))).all()
        return [dict(row._mapping) for row in rows]
