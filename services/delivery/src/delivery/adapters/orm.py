"""Delivery tables and repository."""

from dataclasses import asdict
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, Column, DateTime, Integer, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.domain.model import Delivery

metadata = MetaData()

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("order_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("mode", Text, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    Column("latency_ms", Integer),
    CheckConstraint("status IN ('succeeded', 'failed')", name="deliveries_status"),
)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, delivery: Delivery) -> bool:
        """Record the delivery; False when the order already has one."""
        result = await self._session.execute(
            insert(deliveries)
            .values(**asdict(delivery))
            .on_conflict_do_nothing(index_elements=[deliveries.c.order_id])
            .returning(deliveries.c.id)
        )
        return result.first() is not None

    async def get(self, order_id: UUID) -> Delivery | None:
        row = (
            await self._session.execute(select(deliveries).where(deliveries.c.order_id == order_id))
        ).first()
        return _to_delivery(row._mapping) if row else None


def _to_delivery(row: Any) -> Delivery:
    return Delivery(
        id=row["id"],
        order_id=row["order_id"],
        mode=row["mode"],
        item_count=row["item_count"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        latency_ms=row["latency_ms"],
        reason=row["reason"],
    )
