"""Risk tables and repository."""

from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from risk.domain.rules import Decision

metadata = MetaData()

decisions = Table(
    "risk_decisions",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("verdict", Text, nullable=False),
    Column("reasons", ARRAY(Text), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class DecisionRepository:
    """Decisions by order, each scoped by the shop: another shop's order has none."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, shop_id: UUID, order_id: UUID, decision: Decision) -> bool:
        """Record the decision on the shop's order; False when the order already has one."""
        result = await self._session.execute(
            insert(decisions)
            .values(shop_id=shop_id, order_id=order_id, verdict=decision.verdict, reasons=decision.reasons)
            .on_conflict_do_nothing()
            .returning(decisions.c.order_id)
        )
        return result.first() is not None

    async def get(self, shop_id: UUID, order_id: UUID) -> Decision | None:
        row = (
            await self._session.execute(
                select(decisions).where(decisions.c.shop_id == shop_id, decisions.c.order_id == order_id)
            )
        ).first()
        return Decision(row.verdict, list(row.reasons)) if row else None
