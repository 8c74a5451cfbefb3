"""Notifications: a notice's rows by channel (each channel's tries, sent or failed), the advisory lock that
serializes a notice's senders, and an order's notifications as its shop sees them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faka_common.db.uow import execute, fetch_rows
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from notification.adapters.tables import notifications
from notification.domain.model import Notification, Try

# the reads and writes of every notice, on the driver as SQL text (SQLAlchemy's statement building and
# result handling were most of their CPU): see faka_common.db.uow.fetch_rows
NOTICE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))"
# the columns of a notification as the statements below return them
NOTIFICATION_COLUMNS = [
    "id",
    "order_id",
    "template",
    "channel",
    "recipient",
    "status",
    "attempts",
    "error",
    "created_at",
    "sent_at",
    "provider_message_id",
    "latency_ms",
    "shop_id",
]
# every shop's: a row of another shop under the order id is refused before anything is sent
NOTICE_ROWS = (
    "SELECT id, order_id, template, channel, recipient, status, attempts, error, created_at, sent_at, "
    "provider_message_id, latency_ms, shop_id FROM notifications "
    "WHERE order_id = $1::uuid AND template = $2::text"
)
# The same reads and writes for a batch of notices, one statement each whatever their number (the paid
# notice on the order page alone took five statements a sale: see `Notifier.notify_many`)
# in the order given (sorted by the caller), so two batches sharing notices wait instead of deadlocking
_NOTICES_LOCK = "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest($1::text[]) AS k"
_NOTICES_ROWS = (
    "SELECT n.id, n.order_id, n.template, n.channel, n.recipient, n.status, n.attempts, n.error, "
    "n.created_at, n.sent_at, n.provider_message_id, n.latency_ms, n.shop_id FROM notifications n "
    "JOIN unnest($1::uuid[], $2::text[]) AS w(order_id, template) "
    "ON n.order_id = w.order_id AND n.template = w.template"
)
# what each try of a batch on a channel came to, in one statement: the notices' advisory locks already
# serialize their senders, so no row is claimed and locked before the send; the rows commit with the rest
# of the batch's transaction or not at all
_ATTEMPTS = (
    "INSERT INTO notifications (id, shop_id, order_id, template, channel, recipient, status, attempts, "
    "error, sent_at, provider_message_id, latency_ms) SELECT i, s, o, t, c, r, st, 1, e, at, p, l "
    "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::timestamptz[], $10::text[], $11::int[]) AS w(i, s, o, t, c, r, st, e, at, p, l) "
    "ON CONFLICT (order_id, template, channel) DO UPDATE SET status = EXCLUDED.status, "
    "attempts = notifications.attempts + 1, error = EXCLUDED.error, sent_at = EXCLUDED.sent_at, "
    "provider_message_id = EXCLUDED.provider_message_id, latency_ms = EXCLUDED.latency_ms, "
    "updated_at = now() WHERE notifications.shop_id = EXCLUDED.shop_id"
)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, order_id: UUID, template: str) -> None:
        """Serialize everything about one notice until this transaction ends: two deliveries of it (two
        events, a rebalance) cannot both find it unsent and both send."""
        await execute(self._session, NOTICE_LOCK, f"notice:{order_id}:{template}")

    async def for_notice(self, shop_id: UUID, order_id: UUID, template: str) -> dict[str, Notification]:
        """The notice's rows by channel; LookupError when the order's are another shop's."""
        rows = [
            _from_columns(row) for row in await fetch_rows(self._session, NOTICE_ROWS, order_id, template)
        ]
        if any(row.shop_id != shop_id for row in rows):
            raise LookupError(f"notification {template} of order {order_id} is another shop's")
        return {row.channel: row for row in rows}

    async def record_try(self, shop_id: UUID, order_id: UUID, template: str, tried: Try) -> None:
        """One more try of the notice on `tried.channel` (its row's first, or one more attempt on it)."""
        await self.record_tries([(shop_id, order_id, template, tried)])

    async def lock_many(self, notices: Sequence[tuple[UUID, str]]) -> None:
        """`lock` of many (order id, template) in one statement, in one order whoever asks."""
        await execute(
            self._session, _NOTICES_LOCK, sorted(f"notice:{order}:{template}" for order, template in notices)
        )

    async def for_notices(
        self, notices: Sequence[tuple[UUID, UUID, str]]
    ) -> dict[tuple[UUID, str], dict[str, Notification]]:
        """`for_notice` of many (shop id, order id, template) in one statement, by (order id, template)."""
        rows = await fetch_rows(
            self._session, _NOTICES_ROWS, [order for _, order, _ in notices], [t for _, _, t in notices]
        )
        found: dict[tuple[UUID, str], dict[str, Notification]] = {}
        for row in map(_from_columns, rows):
            found.setdefault((row.order_id, row.template), {})[row.channel] = row
        shops = {(order, template): shop for shop, order, template in notices}
        for (order, template), rows_of in found.items():
            if any(row.shop_id != shops[order, template] for row in rows_of.values()):
                raise LookupError(f"notification {template} of order {order} is another shop's")
        return found

    async def record_tries(self, tries: Sequence[tuple[UUID, UUID, str, Try]]) -> None:
        """`record_try` of many (shop id, order id, template, try) in one statement (one try a notice and
        channel: a second would be the statement's conflict with itself)."""
        columns: list[list[Any]] = [[] for _ in range(11)]
        for shop_id, order_id, template, tried in tries:
            error = None if tried.error is None else tried.error[:2000]
            for column, value in zip(columns, (
                uuid7(), shop_id, order_id, template, tried.channel, tried.recipient,
                "sent" if tried.sent else "failed", error, tried.sent_at, tried.provider_message_id,
                tried.latency_ms,
            ), strict=True):  # fmt: skip
                column.append(value)
        await execute(self._session, _ATTEMPTS, *columns)

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


def _from_columns(row: Sequence[Any]) -> Notification:
    """A notification from a row of NOTIFICATION_COLUMNS."""
    return _to_notification(dict(zip(NOTIFICATION_COLUMNS, row, strict=True)))


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
