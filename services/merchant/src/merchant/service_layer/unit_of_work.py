"""The merchant unit of work: shops and their outgoing events in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.adapters.orm import ShopRepository


class MerchantUnitOfWork(UnitOfWork):
    shops: ShopRepository

    def bind(self, session: AsyncSession) -> None:
        self.shops = ShopRepository(session)
