"""In-site messages: the notice stored for the buyer's order page (never a key: it renders without them)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from notification.domain.channels import ChannelResult, OutgoingMessage, PermanentChannelError
from notification.domain.model import IN_SITE


class MessageStore(Protocol):
    async def put(
        self, shop_id: UUID, order_id: UUID, template: str, locale: str, subject: str, body: str
    ) -> UUID:
        """Store the message once per (order, template), filed under the order's shop; the stored one's id."""


class InSiteChannel:
    name = IN_SITE
    carries_secrets = False
    idempotent = True

    def __init__(self, store: MessageStore) -> None:
        self._store = store

    def accepts(self, template: str) -> bool:
        return True

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        if message.content.site is None:
            raise PermanentChannelError(f"{message.template} has no order-page text")
        stored = await self._store.put(
            message.shop_id,
            message.order_id,
            message.notice or message.template,
            message.locale,
            message.content.subject,
            message.content.site,
        )
        return ChannelResult(self.name, str(stored))
