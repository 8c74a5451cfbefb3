"""The notification unit of work: contacts, linked Telegram chats, the shops read model, notifications and
outgoing messages in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.orm import (
    BuyerContactRepository,
    InSiteMessageRepository,
    NotificationRepository,
    TelegramChatRepository,
)
from notification.adapters.shops import ShopRepository


class NotificationUnitOfWork(UnitOfWork):
    contacts: BuyerContactRepository
    notifications: NotificationRepository
    messages: InSiteMessageRepository
    telegram_chats: TelegramChatRepository
    shops: ShopRepository

    def bind(self, session: AsyncSession) -> None:
        self.contacts = BuyerContactRepository(session)
        self.notifications = NotificationRepository(session)
        self.messages = InSiteMessageRepository(session)
        self.telegram_chats = TelegramChatRepository(session)
        self.shops = ShopRepository(session)
