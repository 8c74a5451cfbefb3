"""The Telegram chats buyers linked to their orders."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.tables import telegram_chats


class TelegramChatRepository:
    """The Telegram chat a buyer linked to an order of a shop (the latest link wins)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def link(self, shop_id: UUID, order_id: UUID, chat_id: str) -> None:
        statement = insert(telegram_chats).values(shop_id=shop_id, order_id=order_id, chat_id=chat_id)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[telegram_chats.c.order_id],
                set_={"chat_id": statement.excluded.chat_id, "linked_at": func.now()},
                where=(telegram_chats.c.chat_id != statement.excluded.chat_id)
                & (telegram_chats.c.shop_id == statement.excluded.shop_id),
            )
        )
