"""The notification unit of work: contacts, notifications and outgoing messages in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.orm import BuyerContactRepository, NotificationRepository


class NotificationUnitOfWork(UnitOfWork):
    contacts: BuyerContactRepository
    notifications: NotificationRepository

    def bind(self, session: AsyncSession) -> None:
        self.contacts = BuyerContactRepository(session)
        self.notifications = NotificationRepository(session)
