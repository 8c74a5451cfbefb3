"""A buyer links a Telegram chat to an order of a shop (the order page's deep link, `/start <token>` to the
bot): the chat becomes a recipient of the order's later notices, and the bot tells the chat it worked (or why
not)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from faka_common import chat_link
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound

from notification.domain.channels import ChannelError, OutgoingMessage
from notification.domain.model import TELEGRAM, mask_recipient, pick_locale
from notification.service_layer.notifier import Notifier
from notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

LINKED = "telegram_linked"
LINK_INVALID = "telegram_link_invalid"


@dataclass(frozen=True)
class ChatLinked:
    order_id: UUID
    confirmed: bool
    """Whether the bot's confirmation reached the chat (the link holds either way)."""


async def link_chat(
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    secret: str,
    shop_id: UUID | None,
    token: str,
    chat_id: str,
    language: str | None = None,
) -> ChatLinked:
    """Verify the token, store the chat for its order (in the order's shop), then (after the commit) confirm
    in the chat. The signed token opens the order, so `shop_id` None (the platform's bot, which serves every
    shop) links an order of any shop; a shop's id links only that shop's orders. A bad or expired token
    raises InvalidChatLink after the chat was told so; an order this service does not know (in the shop),
    another shop's or one whose OrderPlaced is still on its way, raises NotFound and links nothing."""
    try:
        order_id = chat_link.verify(secret, token)
    except chat_link.InvalidChatLink as error:
        # a reply about no order, stored nowhere: the installation's own shop speaks when none is named
        speaker = shop_id or DEFAULT_SHOP_ID
        await _tell(
            notifier, LINK_INVALID, speaker, None, chat_id, pick_locale(language), {"reason": error.message}
        )
        raise
    async with uow:
        contact = await uow.contacts.get(shop_id, order_id)
        if contact is None:
            raise NotFound(f"no order {order_id}" + ("" if shop_id is None else " in this shop"))
        await uow.telegram_chats.link(contact.shop_id, order_id, chat_id)
        await uow.commit()
    log.info("order %s: Telegram chat %s linked", order_id, mask_recipient(chat_id))
    channel = notifier.channels.get(TELEGRAM)
    context = {
        "order_no": contact.order_no,
        "product_title": contact.product_title,
        "carries_keys": bool(channel is not None and channel.carries_secrets),
    }
    confirmed = await _tell(notifier, LINKED, contact.shop_id, order_id, chat_id, contact.locale, context)
    return ChatLinked(order_id, confirmed)


async def _tell(
    notifier: Notifier,
    template: str,
    shop_id: UUID,
    order_id: UUID | None,
    chat_id: str,
    locale: str,
    context: dict[str, Any],
) -> bool:
    channel = notifier.channels.get(TELEGRAM)
    if channel is None:
        return False
    subject = order_id or UUID(int=0)
    message = OutgoingMessage(
        template=template,
        order_id=subject,
        recipient=chat_id,
        locale=locale,
        content=notifier.renderer.render(template, locale, context),
        idempotency_key=f"{template}.{subject}",
        notice=template,
        shop_id=shop_id,
    )
    try:
        await channel.send(message)
    except ChannelError as error:
        log.warning("Telegram reply %s to chat %s failed: %s", template, mask_recipient(chat_id), error)
        return False
    return True
