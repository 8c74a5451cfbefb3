"""Images on ticket messages: a message and its images commit together (the ticket handlers add the message;
the repository of this call adds the images with it), and an image is read back only in its shop, and for a
buyer only on their order's ticket."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from faka_common.contracts.tickets import NewTicket, TicketReply, note_label
from faka_common.errors import NotFound
from faka_common.ticket_images import Image
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from delivery.adapters.attachments import AttachmentRepository
from delivery.adapters.tickets import TicketRepository
from delivery.domain.attachments import Attachment, AttachmentContent
from delivery.domain.tickets import TicketMessage
from delivery.service_layer import tickets
from delivery.service_layer.tickets import TicketThread
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)

SWEEP_BATCH = 100
REMOVED_NOTE = (
    "工单关闭超过 {days} 天，图片已删除：{names}\n"
    "The ticket was closed more than {days} days ago; its images were removed: {names}"
)


class AttachingTickets(TicketRepository):
    """The tickets of one call that carries images: the first message it adds that is not the system's
    gets them, in the same transaction."""

    def __init__(self, session: AsyncSession, images: Sequence[Image]) -> None:
        super().__init__(session)
        self._images = list(images)
        self._attachments = AttachmentRepository(session)

    async def add_message(self, message: TicketMessage) -> None:
        await super().add_message(message)
        if message.author == "system":
            return
        images, self._images = self._images, []
        for image in images:
            attachment = Attachment(
                uuid7(), message.shop_id, message.ticket_id, message.id, image.media_type, image.size,
                image.name, message.created_at,
            )  # fmt: skip
            await self._attachments.add(attachment, image.data)


def _carrying(uow: DeliveryUnitOfWork, images: Sequence[Image]) -> None:
    uow.tickets = AttachingTickets(uow.session, images)


async def open_ticket(
    shop_id: UUID, new: NewTicket, images: Sequence[Image], uow: DeliveryUnitOfWork
) -> TicketThread:
    """The buyer's ticket with images on its first message."""
    _carrying(uow, images)
    return await tickets.open_ticket(shop_id, new, uow)


async def reply(
    shop_id: UUID,
    ticket_id: UUID,
    body: TicketReply,
    images: Sequence[Image],
    uow: DeliveryUnitOfWork,
    order_id: UUID | None = None,
) -> TicketThread:
    """A message with images: the shop's, or (`order_id`) the buyer's on a ticket of that order."""
    _carrying(uow, images)
    return await tickets.reply(shop_id, ticket_id, body, uow, order_id=order_id)


async def of_tickets(uow: DeliveryUnitOfWork, shop_id: UUID, ticket_ids: Sequence[UUID]) -> list[Attachment]:
    return await AttachmentRepository(uow.session).of_tickets(shop_id, ticket_ids)


async def of_order(uow: DeliveryUnitOfWork, shop_id: UUID, order_id: UUID) -> list[Attachment]:
    return await AttachmentRepository(uow.session).of_order(shop_id, order_id)


async def content(
    uow: DeliveryUnitOfWork,
    shop_id: UUID,
    ticket_id: UUID,
    attachment_id: UUID,
    order_id: UUID | None = None,
) -> AttachmentContent:
    found = await AttachmentRepository(uow.session).content(shop_id, ticket_id, attachment_id, order_id)
    if found is None:
        raise NotFound(f"no image {attachment_id} on ticket {ticket_id}")
    return found


async def remove_old_images(
    uow: DeliveryUnitOfWork, now: datetime, days: int, limit: int = SWEEP_BATCH
) -> int:
    """Delete the images of tickets closed more than `days` ago, each ticket's thread saying which were
    removed (a note by the system, in the same transaction; the ticket stays closed). Tickets another
    sweeper holds are skipped. Returns how many tickets lost their images."""
    found = AttachmentRepository(uow.session)
    swept = await found.closed_tickets_with_images(now - timedelta(days=days), limit)
    for shop_id, ticket_id in swept:
        names = await found.remove_of_ticket(shop_id, ticket_id)
        note = REMOVED_NOTE.format(days=days, names=", ".join(names))
        await uow.tickets.add_message(
            TicketMessage(uuid7(), ticket_id, shop_id, "system", note_label("images_removed"), note, now)
        )
    await uow.commit()
    return len(swept)


async def remove_all_old_images(uow_factory: Callable[[], DeliveryUnitOfWork], days: int) -> None:
    """Sweep batches until no closed ticket older than `days` holds an image."""
    while True:
        async with uow_factory() as uow:
            swept = await remove_old_images(uow, tickets.now_utc(), days)
        if swept:
            log.info("ticket images: removed those of %d ticket(s) closed over %d days ago", swept, days)
        if swept < SWEEP_BATCH:
            return
