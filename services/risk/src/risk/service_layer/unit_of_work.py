"""The risk unit of work: decisions and outgoing messages in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from risk.adapters.orm import DecisionRepository


class RiskUnitOfWork(UnitOfWork):
    decisions: DecisionRepository

    def bind(self, session: AsyncSession) -> None:
        self.decisions = DecisionRepository(session)
