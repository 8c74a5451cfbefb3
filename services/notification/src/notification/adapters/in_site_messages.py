"""In-site messages, the notices stored for the buyer's order page: an order's messages, a batch stored in
the notice's transaction, and the in-site channel's store (SqlMessageStore), each message committed on its
own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from faka_common.db.uow import SessionFactory, UnitOfWork, fetch_row, fetch_rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from notification.adapters.tables import in_site_messages
from notification.domain.model import InSiteMessage

# the reads and writes of every notice, on the driver as SQL text (SQLAlchemy's statement building and
# result handling were most of their CPU): see faka_common.db.uow.fetch_rows
# the message's id, whether this statement stored it or found it stored (in its snapshot)
IN_SITE_PUT = (
    "WITH stored AS (INSERT INTO in_site_messages (id, shop_id, order_id, template, locale, subject, body) "
    "VALUES ($1::uuid, $2::uuid, $3::uuid, $4::text, $5::text, $6::text, $7::text) "
    "ON CONFLICT (order_id, template) DO NOTHING RETURNING id) "
    "SELECT id FROM stored UNION ALL SELECT id FROM in_site_messages "
    "WHERE shop_id = $2::uuid AND order_id = $3::uuid AND template = $4::text LIMIT 1"
)
IN_SITE_STORED = (
    "SELECT id FROM in_site_messages WHERE shop_id = $1::uuid AND order_id = $2::uuid AND template = $3::text"
)

# The same reads and writes for a batch of notices, one statement each whatever their number (the paid
# notice on the order page alone took five statements a sale: see `Notifier.notify_many`)
# each message's id, stored now or found stored (in the statement's snapshot; the caller reads again for
# one stored by a transaction that committed while the statement waited for it)
_IN_SITE_PUT_MANY = (
    "WITH given AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], "
    "$6::text[], $7::text[]) AS g(id, shop_id, order_id, template, locale, subject, body)), "
    "stored AS (INSERT INTO in_site_messages (id, shop_id, order_id, template, locale, subject, body) "
    "SELECT * FROM given ON CONFLICT (order_id, template) DO NOTHING RETURNING order_id, template, id) "
    "SELECT order_id, template, id FROM stored UNION ALL "
    "SELECT m.order_id, m.template, m.id FROM in_site_messages m JOIN given g "
    "ON m.order_id = g.order_id AND m.template = g.template AND m.shop_id = g.shop_id"
)


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

    async def put_many(self, messages: Sequence[StoredMessage]) -> dict[tuple[UUID, str], UUID]:
        """Store each message once per (order, template) in this transaction, in one statement: the stored
        one's id by (order id, template). LookupError when one is another shop's."""
        columns: list[list[Any]] = [[] for _ in range(7)]
        for message in messages:
            for column, value in zip(columns, (uuid7(), *message), strict=True):
                column.append(value)
        rows = await fetch_rows(self._session, _IN_SITE_PUT_MANY, *columns)
        ids = {(order, template): UUID(str(id_)) for order, template, id_ in rows}
        for shop_id, order_id, template, *_ in messages:
            if (order_id, template) not in ids:  # stored by a transaction that committed meanwhile
                row = await fetch_row(self._session, IN_SITE_STORED, shop_id, order_id, template)
                if row is None:
                    raise LookupError(f"the {template} message of order {order_id} is another shop's")
                ids[order_id, template] = UUID(str(row[0]))
        return ids


class StoredMessage(NamedTuple):
    """An in-site message to store: its shop, order, template, locale, subject and body."""

    shop_id: UUID
    order_id: UUID
    template: str
    locale: str
    subject: str
    body: str


class SqlMessageStore:
    """Stores in-site messages outside the notice's transaction, each by one statement committed on its own
    (`sessions`: a `reader_factory`'s, so no BEGIN and COMMIT round trips; two a sale): idempotent on
    (order, template), so a notice retried after a rollback finds its message already there."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def put(
        self, shop_id: UUID, order_id: UUID, template: str, locale: str, subject: str, body: str
    ) -> UUID:
        # a unit of work for its connection straight from the pool (no session transaction); nothing to commit
        async with UnitOfWork(self._sessions, "notification") as statements:
            session = statements.session
            row = await fetch_row(
                session, IN_SITE_PUT, uuid7(), shop_id, order_id, template, locale, subject, body
            )
            if row is None:  # stored by a transaction that committed while this statement waited for it
                row = await fetch_row(session, IN_SITE_STORED, shop_id, order_id, template)
            if row is None:
                raise LookupError(f"the {template} message of order {order_id} is another shop's")
            return UUID(str(row[0]))
