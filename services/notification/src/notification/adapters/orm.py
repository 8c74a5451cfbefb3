"""Notification tables (buyer contacts read model, notifications, in-site messages, webhook delivery log)
and their repositories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from faka_common.contracts.shops import KnownShop
from faka_common.db.statements import Compiled
from faka_common.db.uow import SessionFactory, UnitOfWork, execute, fetch_row, fetch_rows
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
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from notification.adapters.channels.webhook import WebhookAttempt
from notification.domain.model import (
    NOT_READ,
    Addressee,
    BuyerContact,
    InSiteMessage,
    Notification,
    NotRead,
    Try,
)
from notification.domain.shop_channels import ShopChannels

if TYPE_CHECKING:  # that module defines its table on this one's metadata
    from notification.adapters.shop_channels import ShopChannelRepository

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


# the reads and writes of every notice, on the driver as SQL text (SQLAlchemy's statement building and
# result handling were most of their CPU): see faka_common.db.uow.fetch_rows
CONTACT = (
    "SELECT order_id, order_no, email, locale, product_title, phone, quantity, amount, currency, shop_id "
    "FROM buyer_contacts WHERE order_id = $1::uuid AND ($2::uuid IS NULL OR shop_id = $2::uuid)"
)
_ADDRESSEE_COLUMNS = (
    "c.order_id, c.order_no, c.email, c.locale, c.product_title, c.phone, c.quantity, c.amount, "
    "c.currency, c.shop_id, s.slug, s.name, s.status, s.contact, t.chat_id"
)
_ADDRESSEE_FROM = (
    "FROM buyer_contacts c LEFT JOIN shops s ON s.id = c.shop_id "
    "LEFT JOIN telegram_chats t ON t.order_id = c.order_id AND t.shop_id = c.shop_id"
)
_ADDRESSEE_WHERE = "WHERE c.order_id = $1::uuid AND c.shop_id = $2::uuid"
#: A buyer notice's one read: the order's contact, its shop as last told (shops read model) and the Telegram
#: chat the buyer linked, if any; three statements a notice before
ADDRESSEE = f"SELECT {_ADDRESSEE_COLUMNS} {_ADDRESSEE_FROM} {_ADDRESSEE_WHERE}"
#: The columns of a shop's own settings (adapters/shop_channels.py: all but its key and updated_at) that
#: `ShopChannelRepository.opened` turns into ShopChannels; the table is defined there, on this module's
#: metadata, so this module names them (a test holds the two together)
SHOP_CHANNEL_COLUMNS = (
    "from_name",
    "from_address",
    "reply_to",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password_key_id",
    "smtp_password",
    "alert_emails",
    "webhook_url",
    "webhook_secret_key_id",
    "webhook_secret",
    "aliyun_access_key_id",
    "aliyun_secret_key_id",
    "aliyun_secret",
    "aliyun_sign_name",
    "aliyun_templates",
    "twilio_account_sid",
    "twilio_token_key_id",
    "twilio_token",
    "twilio_from",
    "alert_telegram_chat",
)
#: ADDRESSEE with the shop's own sending settings (ch.shop_id NULL: it set none), for a notice sent on a
#: channel that uses them (the delivered e-mail): by its primary key in the same statement, instead of a
#: second one (`ShopChannelRepository.get`) a notice
ADDRESSEE_SENDING = (
    f"SELECT {_ADDRESSEE_COLUMNS}, ch.shop_id, {', '.join(f'ch.{name}' for name in SHOP_CHANNEL_COLUMNS)} "
    f"{_ADDRESSEE_FROM} LEFT JOIN shop_channels ch ON ch.shop_id = c.shop_id {_ADDRESSEE_WHERE}"
)
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
# what one try on a channel came to, in one statement: the notice's advisory lock (NOTICE_LOCK) already
# serializes its senders, so no row is claimed and locked before the send (that was one more statement
# each); the row commits with the rest of the notice's transaction or not at all
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
_CONTACTS_ADD = (
    "INSERT INTO buyer_contacts (order_id, shop_id, order_no, email, locale, product_title, phone, quantity, "
    "amount, currency) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8::int[], $9::bigint[], $10::text[]) "
    "ON CONFLICT (order_id) DO NOTHING RETURNING order_id"
)
_ADDRESSEES_FROM = (
    "FROM buyer_contacts c JOIN unnest($1::uuid[], $2::uuid[]) AS w(order_id, shop_id) "
    "ON c.order_id = w.order_id AND c.shop_id = w.shop_id "
    "LEFT JOIN shops s ON s.id = c.shop_id "
    "LEFT JOIN telegram_chats t ON t.order_id = c.order_id AND t.shop_id = c.shop_id"
)
_ADDRESSEES = f"SELECT {_ADDRESSEE_COLUMNS} {_ADDRESSEES_FROM}"
#: _ADDRESSEES with the shops' own sending settings, as ADDRESSEE_SENDING is ADDRESSEE with them
_ADDRESSEES_SENDING = (
    f"SELECT {_ADDRESSEE_COLUMNS}, ch.shop_id, {', '.join(f'ch.{name}' for name in SHOP_CHANNEL_COLUMNS)} "
    f"{_ADDRESSEES_FROM} LEFT JOIN shop_channels ch ON ch.shop_id = c.shop_id"
)
# in the order given (sorted by the caller), so two batches sharing notices wait instead of deadlocking
_NOTICES_LOCK = "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest($1::text[]) AS k"
_NOTICES_ROWS = (
    "SELECT n.id, n.order_id, n.template, n.channel, n.recipient, n.status, n.attempts, n.error, "
    "n.created_at, n.sent_at, n.provider_message_id, n.latency_ms, n.shop_id FROM notifications n "
    "JOIN unnest($1::uuid[], $2::text[]) AS w(order_id, template) "
    "ON n.order_id = w.order_id AND n.template = w.template"
)
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


CONTACT_FIELDS = (
    "order_id",
    "shop_id",
    "order_no",
    "email",
    "locale",
    "product_title",
    "phone",
    "quantity",
    "amount",
    "currency",
)
#: Every placed order's contact (one a sale): compiled once, run on the driver.
_ADD_CONTACT = Compiled(
    insert(buyer_contacts).on_conflict_do_nothing().returning(buyer_contacts.c.order_id), CONTACT_FIELDS
)


class BuyerContactRepository:
    def __init__(self, session: AsyncSession, channels: ShopChannelRepository) -> None:
        self._session = session
        self._channels = channels  # turns the shop's settings `addressee` reads into ShopChannels

    async def add(self, contact: BuyerContact) -> bool:
        """Remember whom to write to about the order; False when it is already known."""
        values = {name: getattr(contact, name) for name in CONTACT_FIELDS}
        return await _ADD_CONTACT.first(self._session, values) is not None

    async def add_many(self, contacts: Sequence[BuyerContact]) -> set[UUID]:
        """`add` for many contacts in one statement: the orders whose contact this stored."""
        columns = [[getattr(contact, name) for contact in contacts] for name in CONTACT_FIELDS]
        return {row[0] for row in await fetch_rows(self._session, _CONTACTS_ADD, *columns)}

    async def get(self, shop_id: UUID | None, order_id: UUID) -> BuyerContact | None:
        """The order's contact if the order is the shop's (None: whichever shop's it is, for what a signed
        token names)."""
        row = await fetch_row(self._session, CONTACT, order_id, shop_id)
        return None if row is None else _contact(row)

    async def addressee(self, shop_id: UUID, order_id: UUID, channels: bool = False) -> Addressee | None:
        """Whom a notice of the shop's order goes to, in one statement: its contact, the shop as last told
        (None: not yet) and the buyer's linked Telegram chat (None: none); None when the order's contact
        is not known (or is another shop's). `channels`: with the shop's own sending settings too, their
        secrets opened as `ShopChannelRepository.get` opens them (None: it set none); otherwise they are
        NOT_READ."""
        if not channels:
            row = await fetch_row(self._session, ADDRESSEE, order_id, shop_id)
            return None if row is None else _addressee(row)
        row = await fetch_row(self._session, ADDRESSEE_SENDING, order_id, shop_id)
        return None if row is None else self._sending(row)

    async def addressees(
        self, orders: Sequence[tuple[UUID, UUID]], channels: bool = False
    ) -> dict[UUID, Addressee]:
        """`addressee` of many (shop id, order id) in one statement, by order id (the unknown left out);
        `channels` as there (the paid notice on the order page sends nothing through them, so its
        statement does not join them)."""
        shops, order_ids = [shop for shop, _ in orders], [order for _, order in orders]
        if not channels:
            rows = await fetch_rows(self._session, _ADDRESSEES, order_ids, shops)
            return {found.contact.order_id: found for found in map(_addressee, rows)}
        rows = await fetch_rows(self._session, _ADDRESSEES_SENDING, order_ids, shops)
        return {found.contact.order_id: found for found in map(self._sending, rows)}

    def _sending(self, row: Sequence[Any]) -> Addressee:
        """An addressee read with its shop's own sending settings (None: the shop set none)."""
        head, own, settings = row[:_ADDRESSEE_WIDTH], row[_ADDRESSEE_WIDTH], row[_ADDRESSEE_WIDTH + 1 :]
        if own is None:
            return _addressee(head, None)
        by_name = dict(zip(SHOP_CHANNEL_COLUMNS, settings, strict=True))
        return _addressee(head, self._channels.opened(own, by_name))


#: The columns `_addressee` reads: ADDRESSEE's, the head of ADDRESSEE_SENDING's
_ADDRESSEE_WIDTH = len(_ADDRESSEE_COLUMNS.split(", "))


def _addressee(row: Sequence[Any], channels: ShopChannels | NotRead | None = NOT_READ) -> Addressee:
    *contact, slug, name, status, shop_contact, chat = row
    found = _contact(contact)
    shop = None if slug is None else KnownShop(found.shop_id, slug, name, status, shop_contact)
    return Addressee(found, shop, chat, channels)


def _contact(row: Sequence[Any]) -> BuyerContact:
    order, order_no, email, locale, title, phone, quantity, amount, currency, shop = row
    return BuyerContact(
        order,
        order_no,
        email,
        locale,
        title,
        phone=phone,
        quantity=quantity,
        amount=amount,
        currency=currency,
        shop_id=shop,
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


class SqlWebhookLog:
    """Each webhook attempt, committed on its own (`sessions`: a `reader_factory`'s, one statement without
    BEGIN and COMMIT): the log keeps what was tried even when the notice's transaction rolls back."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, attempt: WebhookAttempt) -> None:
        async with self._sessions() as session:
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
            await session.commit()  # nothing to send for an autocommit session's statement


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
