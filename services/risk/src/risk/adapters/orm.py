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
    Column("verdict", Text, nullable=False),
    Column("reasons", ARRAY(Text), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class DecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order_id: UUID, decision: Decision) -> bool:
        """Record the decision; False when the order already has one."""
        result = await self._session.execute(
            insert(decisions)
            .values(order_id=order_id, verdict=decision.verdict, reasons=decision.reasons)
            .on_conflict_do_nothing()
            .returning(decisions.c.order_id)
        )
        return result.first() is not None

    async def get(self, order_id: UUID) -> Decision | None:
        row = (await self._session.execute(select(decisions).where(decisions.c.order_id == order_id))).first()
        return Decision(row.verdict, list(row.reasons)) if row else None
