"""The ticket_attachments table (bytes in Postgres, bytea) and its repository."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import metadata
from delivery.adapters.tickets import tickets
from delivery.domain.attachments import Attachment, AttachmentContent

ticket_attachments = Table(
    "ticket_attachments",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("ticket_id", PgUUID(as_uuid=True), nullable=False),
    Column("message_id", PgUUID(as_uuid=True), nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "media_type IN ('image/png', 'image/jpeg', 'image/webp')", name="ticket_attachments_media_type"
    ),
    CheckConstraint(
        "size > 0 AND size <= 2097152 AND size = octet_length(content)", name="ticket_attachments_size"
    ),
    Index("ticket_attachments_ticket", "shop_id", "ticket_id"),
)

META = (
    ticket_attachments.c.id,
    ticket_attachments.c.shop_id,
    ticket_attachments.c.ticket_id,
    ticket_attachments.c.message_id,
    ticket_attachments.c.media_type,
    ticket_attachments.c.size,
    ticket_attachments.c.name,
    ticket_attachments.c.created_at,
)


def _attachment(row: Any) -> Attachment:
    return Attachment(**{c.name: row._mapping[c.name] for c in META})


class AttachmentRepository:
    """A shop's ticket images; another shop's (or another order's) image is not found."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, attachment: Attachment, data: bytes) -> None:
        values = {c.name: getattr(attachment, c.name) for c in META}
        await self._session.execute(insert(ticket_attachments).values(**values, content=data))

    async def of_tickets(self, shop_id: UUID, ticket_ids: Sequence[UUID]) -> list[Attachment]:
        rows = await self._session.execute(
            select(*META)
            .where(
                ticket_attachments.c.shop_id == shop_id,
                ticket_attachments.c.ticket_id.in_(list(ticket_ids)),
            )
            .order_by(ticket_attachments.c.created_at, ticket_attachments.c.id)
        )
        return [_attachment(r) for r in rows]

    async def of_order(self, shop_id: UUID, order_id: UUID) -> list[Attachment]:
        rows = await self._session.execute(
            select(*META)
            .join(tickets, tickets.c.id == ticket_attachments.c.ticket_id)
            .where(ticket_attachments.c.shop_id == shop_id, tickets.c.order_id == order_id)
            .order_by(ticket_attachments.c.created_at, ticket_attachments.c.id)
        )
        return [_attachment(r) for r in rows]

    async def content(
        self, shop_id: UUID, ticket_id: UUID, attachment_id: UUID, order_id: UUID | None = None
    ) -> AttachmentContent | None:
        """The image with its bytes; with `order_id`, only when its ticket is that order's."""
        query = (
            select(*META, ticket_attachments.c.content)
            .join(tickets, tickets.c.id == ticket_attachments.c.ticket_id)
            .where(
                ticket_attachments.c.shop_id == shop_id,
                ticket_attachments.c.ticket_id == ticket_id,
                ticket_attachments.c.id == attachment_id,
            )
        )
        if order_id is not None:
            query = query.where(tickets.c.order_id == order_id)
        row = (await self._session.execute(query)).first()
        return AttachmentContent(_attachment(row), bytes(row.content)) if row else None

    async def closed_tickets_with_images(
        self, closed_before: datetime, limit: int
    ) -> list[tuple[UUID, UUID]]:
        """(shop, ticket) of tickets resolved before `closed_before` that still hold images, each locked; a
        ticket another sweeper holds is skipped (it removes those), and one reopened meanwhile no longer
        matches (its status is read again under the lock). Driven by the images, which are few: a ticket
        whose images are gone is never looked at again."""
        holds_images = exists().where(
            ticket_attachments.c.shop_id == tickets.c.shop_id, ticket_attachments.c.ticket_id == tickets.c.id
        )
        rows = await self._session.execute(
            select(tickets.c.shop_id, tickets.c.id)
            .where(tickets.c.status == "resolved", tickets.c.resolved_at < closed_before, holds_images)
            .order_by(tickets.c.resolved_at, tickets.c.id)
            .limit(limit)
            .with_for_update(of=tickets, skip_locked=True)
        )
        return [(shop_id, ticket_id) for shop_id, ticket_id in rows]

    async def remove_of_ticket(self, shop_id: UUID, ticket_id: UUID) -> list[str]:
        """Delete the ticket's images; their names, oldest first."""
        rows = await self._session.execute(
            delete(ticket_attachments)
            .where(ticket_attachments.c.shop_id == shop_id, ticket_attachments.c.ticket_id == ticket_id)
            .returning(ticket_attachments.c.name, ticket_attachments.c.created_at, ticket_attachments.c.id)
        )
        return [name for name, _, _ in sorted(rows, key=lambda r: (r[1], r[2]))]
