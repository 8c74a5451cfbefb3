"""The notification unit of work: contacts, linked Telegram chats, the shops read model, their own channels
and e-mail wording, tickets' e-mail threads, notifications and outgoing messages in one transaction."""

from faka_common.crypto import KeyRing
from faka_common.db.uow import SessionFactory, UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.contacts import BuyerContactRepository
from notification.adapters.in_site_messages import InSiteMessageRepository
from notification.adapters.notices import NotificationRepository
from notification.adapters.shop_channels import ShopChannelRepository
from notification.adapters.shop_templates import ShopTemplateRepository
from notification.adapters.shops import ShopRepository
from notification.adapters.telegram_chats import TelegramChatRepository
from notification.adapters.ticket_mail import TicketMailRepository


class NotificationUnitOfWork(UnitOfWork):
    contacts: BuyerContactRepository
    notifications: NotificationRepository
    messages: InSiteMessageRepository
    telegram_chats: TelegramChatRepository
    shops: ShopRepository
    shop_channels: ShopChannelRepository
    shop_templates: ShopTemplateRepository
    ticket_mail: TicketMailRepository

    def __init__(self, sessions: SessionFactory, producer: str, keyring: KeyRing) -> None:
        super().__init__(sessions, producer)
        self._keyring = keyring

    def bind(self, session: AsyncSession) -> None:
        self.shop_channels = ShopChannelRepository(session, self._keyring)
        # an addressee read with the shop's sending settings opens them as shop_channels does
        self.contacts = BuyerContactRepository(session, self.shop_channels)
        self.notifications = NotificationRepository(session)
        self.messages = InSiteMessageRepository(session)
        self.telegram_chats = TelegramChatRepository(session)
        self.shops = ShopRepository(session)
        self.shop_templates = ShopTemplateRepository(session)
        self.ticket_mail = TicketMailRepository(session)
