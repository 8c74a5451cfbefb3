"""Notification tables (buyer contacts read model, notifications, in-site messages, webhook delivery log)
and their repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from faka_common.db.uow import SessionFactory
from sqlalchemy import (
    BigInteger,
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

from notification.adapters.channels.webhook import WebhookAttempt
from notification.domain.model import BuyerContact, InSiteMessage, Notification

metadata = MetaData()

buyer_contacts = Table(
    "buyer_contacts",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_no", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("product_title", Text, nullable=False),
    Column("phone", Text),
    Column("quantity", Integer),
    Column("amount", BigInteger),
    Column("currency", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("provider_message_id", Text),
    Column("latency_ms", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("order_id", "template", "channel", name="notifications_once"),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notifications_status"),
)

in_site_messages = Table(
    "in_site_messages",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("order_id", "template", name="in_site_messages_once"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("outcome", Text, nullable=False),
    Column("error", Text),
    Column("latency_ms", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

telegram_chats = Table(
    "telegram_chats",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


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

    async def get(self, shop_id: UUID, order_id: UUID) -> str | None:
        result = await self._session.execute(
            select(telegram_chats.c.chat_id).where(
                telegram_chats.c.shop_id == shop_id, telegram_chats.c.order_id == order_id
            )
        )
        return result.scalar_one_or_none()


class BuyerContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, contact: BuyerContact) -> bool:
        """Remember whom to write to about the order; False when it is already known."""
        result = await self._session.execute(
            insert(buyer_contacts)
            .values(
                order_id=contact.order_id,
                shop_id=contact.shop_id,
                order_no=contact.order_no,
                email=contact.email,
                locale=contact.locale,
                product_title=contact.product_title,
                phone=contact.phone,
                quantity=contact.quantity,
                amount=contact.amount,
                currency=contact.currency,
            )
            .on_conflict_do_nothing()
            .returning(buyer_contacts.c.order_id)
        )
        return result.first() is not None

    async def get(self, shop_id: UUID | None, order_id: UUID) -> BuyerContact | None:
        """The order's contact if the order is the shop's (None: whichever shop's it is, for what a signed
        token names)."""
        query = select(buyer_contacts).where(buyer_contacts.c.order_id == order_id)
        if shop_id is not None:
            query = query.where(buyer_contacts.c.shop_id == shop_id)
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        return BuyerContact(
            row.order_id,
            row.order_no,
            row.email,
            row.locale,
            row.product_title,
            phone=row.phone,
            quantity=row.quantity,
            amount=row.amount,
            currency=row.currency,
            shop_id=row.shop_id,
        )


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, order_id: UUID, template: str) -> None:
        """Serialize everything about one notice until this transaction ends: two deliveries of it (two
        events, a rebalance) cannot both find it unsent and both send."""
        await self._session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"notice:{order_id}:{template}", 0)))
        )

    async def for_notice(self, shop_id: UUID, order_id: UUID, template: str) -> dict[str, Notification]:
        rows = await self._session.execute(
            select(notifications).where(
                notifications.c.shop_id == shop_id,
                notifications.c.order_id == order_id,
                notifications.c.template == template,
            )
        )
        return {row.channel: _to_notification(row._mapping) for row in rows}

    async def claim(
        self, shop_id: UUID, order_id: UUID, template: str, channel: str, recipient: str
    ) -> Notification:
        """The (order, template, channel) notification, inserted as pending unless it exists, and locked
        for this transaction: a concurrent claim waits until this one commits or rolls back."""
        await self._session.execute(
            insert(notifications)
            .values(
                id=uuid7(),
                shop_id=shop_id,
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
                    notifications.c.shop_id == shop_id,
                    notifications.c.order_id == order_id,
                    notifications.c.template == template,
                    notifications.c.channel == channel,
                )
                .with_for_update()
            )
        ).one()
        return _to_notification(row._mapping)

    async def mark_sent(
        self,
        notification_id: UUID,
        attempts: int,
        sent_at: datetime,
        provider_message_id: str | None = None,
        latency_ms: int | None = None,
    ) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(
                status="sent",
                attempts=attempts,
                error=None,
                sent_at=sent_at,
                provider_message_id=provider_message_id,
                latency_ms=latency_ms,
                updated_at=func.now(),
            )
        )

    async def mark_failed(
        self, notification_id: UUID, attempts: int, error: str, latency_ms: int | None = None
    ) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(
                status="failed",
                attempts=attempts,
                error=error[:2000],
                latency_ms=latency_ms,
                updated_at=func.now(),
            )
        )

    async def record_failure(
        self, shop_id: UUID, order_id: UUID, template: str, channel: str, recipient: str, error: str
    ) -> None:
        """After the last retry: the notice's channel is failed with the error (a sent one stays sent)."""
        statement = insert(notifications).values(
            id=uuid7(),
            shop_id=shop_id,
            order_id=order_id,
            template=template,
            channel=channel,
            recipient=recipient,
            status="failed",
            attempts=1,
            error=error[:2000],
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["order_id", "template", "channel"],
                set_={
                    "status": "failed",
                    "attempts": notifications.c.attempts + 1,
                    "error": statement.excluded.error,
                    "updated_at": func.now(),
                },
                where=(notifications.c.status != "sent") & (notifications.c.shop_id == shop_id),
            )
        )

    async def for_order(self, shop_id: UUID, order_id: UUID) -> list[Notification]:
        rows = await self._session.execute(
            select(notifications)
            .where(notifications.c.shop_id == shop_id, notifications.c.order_id == order_id)
            .order_by(notifications.c.created_at, notifications.c.id)
        )
        return [_to_notification(row._mapping) for row in rows]


class InSiteMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_order(self, shop_id: UUID, order_id: UUID) -> list[InSiteMessage]:
        rows = await self._session.execute(
            select(in_site_messages)
            .where(in_site_messages.c.shop_id == shop_id, in_site_messages.c.order_id == order_id)
            .order_by(in_site_messages.c.created_at, in_site_messages.c.id)
        )
        return [
            InSiteMessage(row.id, row.order_id, row.template, row.subject, row.body, row.created_at)
            for row in rows
        ]


class SqlMessageStore:
    """Stores in-site messages in a transaction of its own: idempotent on (order, template), so a notice
    retried after a rollback finds its message already there."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def put(
        self, shop_id: UUID, order_id: UUID, template: str, locale: str, subject: str, body: str
    ) -> UUID:
        async with self._sessions() as session, session.begin():
            await session.execute(
                insert(in_site_messages)
                .values(
                    id=uuid7(),
                    shop_id=shop_id,
                    order_id=order_id,
                    template=template,
                    locale=locale,
                    subject=subject,
                    body=body,
                )
                .on_conflict_do_nothing(index_elements=["order_id", "template"])
            )
            stored = await session.execute(
                select(in_site_messages.c.id).where(
                    in_site_messages.c.shop_id == shop_id,
                    in_site_messages.c.order_id == order_id,
                    in_site_messages.c.template == template,
                )
            )
            return UUID(str(stored.scalar_one()))


class SqlWebhookLog:
    """Each webhook attempt, committed on its own: the log keeps what was tried even when the notice's
    transaction rolls back."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, attempt: WebhookAttempt) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                insert(webhook_deliveries).values(
                    shop_id=attempt.shop_id,
                    event_id=attempt.event_id,
                    order_id=attempt.order_id,
                    template=attempt.template,
                    url=attempt.url,
                    attempt=attempt.attempt,
                    status_code=attempt.status_code,
                    outcome=attempt.outcome,
                    error=attempt.error[:2000] if attempt.error else None,
                    latency_ms=attempt.latency_ms,
                )
            )


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
        provider_message_id=row["provider_message_id"],
        latency_ms=row["latency_ms"],
        shop_id=row["shop_id"],
    )
