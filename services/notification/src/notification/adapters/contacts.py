"""Buyers' contacts (the read model of placed orders' contacts) and whom a buyer notice goes to: the
contact, its shop as last told, the Telegram chat the buyer linked and, when asked, the shop's own sending
settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faka_common.contracts.shops import KnownShop
from faka_common.db.statements import Compiled
from faka_common.db.uow import fetch_row, fetch_rows
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.shop_channels import ShopChannelRepository
from notification.adapters.tables import SHOP_CHANNEL_COLUMNS, buyer_contacts
from notification.domain.model import NOT_READ, Addressee, BuyerContact, NotRead
from notification.domain.shop_channels import ShopChannels

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
#: ADDRESSEE with the shop's own sending settings (ch.shop_id NULL: it set none), for a notice sent on a
#: channel that uses them (the delivered e-mail): by its primary key in the same statement, instead of a
#: second one (`ShopChannelRepository.get`) a notice
ADDRESSEE_SENDING = (
    f"SELECT {_ADDRESSEE_COLUMNS}, ch.shop_id, {', '.join(f'ch.{name}' for name in SHOP_CHANNEL_COLUMNS)} "
    f"{_ADDRESSEE_FROM} LEFT JOIN shop_channels ch ON ch.shop_id = c.shop_id {_ADDRESSEE_WHERE}"
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
