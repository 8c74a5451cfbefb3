"""A ticket's conversation by e-mail: the tickets whose replies were e-mailed (their shop and order), the
buyers' e-mails taken in (by Message-ID), and the delivery service's tickets (read a thread, post the
buyer's e-mailed reply)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from faka_common.http import InternalClient
from faka_common.ticket_images import Image, images_form
from sqlalchemy import Column, DateTime, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.tables import metadata

ticket_mail_threads = Table(
    "ticket_mail_threads",
    metadata,
    Column("ticket_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

ticket_inbound_mails = Table(
    "ticket_inbound_mails",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("ticket_id", PgUUID(as_uuid=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class TicketMailRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, ticket_id: UUID, shop_id: UUID, order_id: UUID) -> None:
        """The ticket's shop and order, for the buyer's e-mailed replies to it."""
        await self._session.execute(
            insert(ticket_mail_threads)
            .values(ticket_id=ticket_id, shop_id=shop_id, order_id=order_id)
            .on_conflict_do_nothing(index_elements=[ticket_mail_threads.c.ticket_id])
        )

    async def thread(self, ticket_id: UUID) -> tuple[UUID, UUID] | None:
        """(shop id, order id) of a ticket whose reply was e-mailed, else None."""
        row = (
            await self._session.execute(
                select(ticket_mail_threads.c.shop_id, ticket_mail_threads.c.order_id).where(
                    ticket_mail_threads.c.ticket_id == ticket_id
                )
            )
        ).first()
        return (row.shop_id, row.order_id) if row else None

    async def take_in(self, message_id: str, shop_id: UUID, ticket_id: UUID) -> bool:
        """Record an inbound e-mail; False when it was taken in before (the row is locked until the
        transaction ends, so a second delivery racing this one waits, then finds it)."""
        result = await self._session.execute(
            insert(ticket_inbound_mails)
            .values(message_id=message_id, shop_id=shop_id, ticket_id=ticket_id)
            .on_conflict_do_nothing(index_elements=[ticket_inbound_mails.c.message_id])
            .returning(ticket_inbound_mails.c.message_id)
        )
        return result.first() is not None


class TicketSource(Protocol):
    async def thread(self, shop_id: UUID, ticket_id: UUID) -> dict[str, Any]:
        """The ticket with its messages (delivery's thread view)."""

    async def buyer_wrote(
        self, shop_id: UUID, order_id: UUID, ticket_id: UUID, text: str, images: Sequence[Image]
    ) -> None:
        """Add the buyer's message (with images) to the ticket; raises the owner's errors."""


class DeliveryTickets:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def thread(self, shop_id: UUID, ticket_id: UUID) -> dict[str, Any]:
        answer: dict[str, Any] = (
            await self._client.request("GET", f"/internal/tickets/{ticket_id}", shop=shop_id)
        ).json()
        return answer

    async def buyer_wrote(
        self, shop_id: UUID, order_id: UUID, ticket_id: UUID, text: str, images: Sequence[Image]
    ) -> None:
        # the form route (with or without images) is the one that admits this service as the buyer's voice
        path = f"/internal/orders/{order_id}/tickets/{ticket_id}/messages/with-images"
        content, media_type = images_form({"author": "buyer", "message": text}, images)
        await self._client.request(
            "POST", path, content=content, headers={"Content-Type": media_type}, shop=shop_id
        )
