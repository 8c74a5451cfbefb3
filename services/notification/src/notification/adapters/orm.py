"""Notification tables (buyer contacts read model, notifications) and repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from notification.domain.model import BuyerContact, Notification

metadata = MetaData()

buyer_contacts = Table(
    "buyer_contacts",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("order_no", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("product_title", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("order_id", "template", "channel", name="notifications_once"),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notifications_status"),
)


class BuyerContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, contact: BuyerContact) -> bool:
        """Remember whom to write to about the order; False when it is already known."""
        result = await self._session.execute(
            insert(buyer_contacts)
            .values(
                order_id=contact.order_id,
                order_no=contact.order_no,
                email=contact.email,
                locale=contact.locale,
                product_title=contact.product_title,
            )
            .on_conflict_do_nothing()
            .returning(buyer_contacts.c.order_id)
        )
        return result.first() is not None

    async def get(self, order_id: UUID) -> BuyerContact | None:
        row = (
            await self._session.execute(select(buyer_contacts).where(buyer_contacts.c.order_id == order_id))
        ).first()
        if row is None:
            return None
        return BuyerContact(row.order_id, row.order_no, row.email, row.locale, row.product_title)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, order_id: UUID, template: str, channel: str, recipient: str) -> Notification:
        """The (order, template, channel) notification, inserted as pending unless it exists, and locked
        for this transaction: a concurrent claim waits until this one commits or rolls back."""
        await self._session.execute(
            insert(notifications)
            .values(
                id=uuid7(),
                order_id=order_id,
                template=template,
                channel=channel,
                recipient=recipient,
                status="pending",
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["order_id", "template", "channel"])
        )
        row = (
            await self._session.execute(
                select(notifications)
                .where(
                    notifications.c.order_id == order_id,
                    notifications.c.template == template,
                    notifications.c.channel == channel,
                )
                .with_for_update()
            )
        ).one()
        return _to_notification(row._mapping)

    async def mark_sent(self, notification_id: UUID, attempts: int, sent_at: datetime) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(status="sent", attempts=attempts, error=None, sent_at=sent_at)
        )

    async def for_order(self, order_id: UUID) -> list[Notification]:
        rows = await self._session.execute(
            select(notifications)
            .where(notifications.c.order_id == order_id)
            .order_by(notifications.c.created_at)
        )
        return [_to_notification(row._mapping) for row in rows]


def _to_notification(row: Any) -> Notification:
    return Notification(
        id=row["id"],
        order_id=row["order_id"],
        template=row["template"],
        channel=row["channel"],
        recipient=row["recipient"],
        status=row["status"],
        attempts=row["attempts"],
        error=row["error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )
