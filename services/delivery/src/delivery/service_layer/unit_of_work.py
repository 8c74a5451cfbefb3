"""The delivery unit of work: deliveries and outgoing messages in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.orm import DeliveryRepository


class DeliveryUnitOfWork(UnitOfWork):
    deliveries: DeliveryRepository

    def bind(self, session: AsyncSession) -> None:
        self.deliveries = DeliveryRepository(session)
