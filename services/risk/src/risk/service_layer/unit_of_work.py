"""The risk unit of work: decisions, rule sets, reviews, paid amounts and outgoing messages in one
transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from risk.adapters.repositories import (
    DecisionRepository,
    PaidAmountRepository,
    ReviewRepository,
    RuleSetRepository,
)


class RiskUnitOfWork(UnitOfWork):
    decisions: DecisionRepository
    rule_sets: RuleSetRepository
    reviews: ReviewRepository
    paid_amounts: PaidAmountRepository

    def bind(self, session: AsyncSession) -> None:
        self.decisions = DecisionRepository(session)
        self.rule_sets = RuleSetRepository(session)
        self.reviews = ReviewRepository(session)
        self.paid_amounts = PaidAmountRepository(session)
