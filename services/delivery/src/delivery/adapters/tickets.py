"""After-sales tables and repositories: tickets, their messages, and replacement claims (one per key)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Table, Text, select, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.orm import metadata
from delivery.domain.tickets import ReplacementClaim, Ticket, TicketMessage

TS = DateTime(timezone=True)

tickets = Table(
    "tickets",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_no", Text, nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("category", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("key_id", PgUUID(as_uuid=True)),
    Column("reason", Text),
    Column("resolved_at", TS),
    CheckConstraint("status IN ('open', 'answered', 'resolved')", name="tickets_status"),
    CheckConstraint("level IN ('L1', 'L2')", name="tickets_level"),
    Index("tickets_shop_queue", "shop_id", "status", "level", "created_at"),
    Index("tickets_order", "order_id"),
)

ticket_messages = Table(
    "ticket_messages",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("ticket_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("author", Text, nullable=False),
    Column("author_label", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    CheckConstraint("author IN ('buyer', 'shop', 'system')", name="ticket_messages_author"),
    Index("ticket_messages_ticket", "ticket_id", "created_at"),
)

replacement_claims = Table(
    "replacement_claims",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("ticket_id", PgUUID(as_uuid=True), nullable=False),
    # one claim per delivered key, whatever runs at once: the second report of a key cannot insert
    Column("key_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("new_key_id", PgUUID(as_uuid=True)),
    Column("reason", Text),
    Column("completed_at", TS),
    CheckConstraint("status IN ('requested', 'replaced', 'refused')", name="replacement_claims_status"),
)

TICKET_FIELDS = tuple(Ticket.__dataclass_fields__)
MESSAGE_FIELDS = tuple(TicketMessage.__dataclass_fields__)
CLAIM_FIELDS = tuple(ReplacementClaim.__dataclass_fields__)
FIXED = ("id", "shop_id", "order_id", "created_at")


def _values(item: Any, fields: Sequence[str]) -> dict[str, Any]:
    return {f: getattr(item, f) for f in fields}


def _ticket(row: Any) -> Ticket:
    return Ticket(**{f: row._mapping[f] for f in TICKET_FIELDS})


class TicketRepository:
    """A shop's tickets and their messages; another shop's ticket is not found."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, ticket: Ticket) -> None:
        await self._session.execute(insert(tickets).values(**_values(ticket, TICKET_FIELDS)))

    async def save(self, ticket: Ticket) -> None:
        await self._session.execute(
            update(tickets)
            .where(tickets.c.id == ticket.id, tickets.c.shop_id == ticket.shop_id)
            .values(**_values(ticket, [f for f in TICKET_FIELDS if f not in FIXED]))
        )

    async def get(self, shop_id: UUID, ticket_id: UUID, lock: bool = False) -> Ticket | None:
        query = select(tickets).where(tickets.c.shop_id == shop_id, tickets.c.id == ticket_id)
        row = (await self._session.execute(query.with_for_update() if lock else query)).first()
        return _ticket(row) if row else None

    async def listed(
        self, shop_id: UUID, statuses: Sequence[str], levels: Sequence[str], limit: int
    ) -> list[Ticket]:
        """The shop's queue: oldest first."""
        rows = await self._session.execute(
            select(tickets)
            .where(
                tickets.c.shop_id == shop_id,
                tickets.c.status.in_(list(statuses)),
                tickets.c.level.in_(list(levels)),
            )
            .order_by(tickets.c.created_at, tickets.c.id)
            .limit(limit)
        )
        return [_ticket(r) for r in rows]

    async def of_order(self, shop_id: UUID, order_id: UUID) -> list[Ticket]:
        rows = await self._session.execute(
            select(tickets)
            .where(tickets.c.shop_id == shop_id, tickets.c.order_id == order_id)
            .order_by(tickets.c.created_at, tickets.c.id)
        )
        return [_ticket(r) for r in rows]

    async def add_message(self, message: TicketMessage) -> None:
        await self._session.execute(insert(ticket_messages).values(**_values(message, MESSAGE_FIELDS)))

    async def messages(self, shop_id: UUID, ticket_ids: Sequence[UUID]) -> dict[UUID, list[TicketMessage]]:
        """The tickets' messages, oldest first."""
        rows = await self._session.execute(
            select(ticket_messages)
            .where(ticket_messages.c.shop_id == shop_id, ticket_messages.c.ticket_id.in_(list(ticket_ids)))
            .order_by(ticket_messages.c.created_at, ticket_messages.c.id)
        )
        found: dict[UUID, list[TicketMessage]] = {ticket_id: [] for ticket_id in ticket_ids}
        for r in rows:
            found[r.ticket_id].append(TicketMessage(**{f: r._mapping[f] for f in MESSAGE_FIELDS}))
        return found


class ReplacementClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, claim: ReplacementClaim) -> bool:
        """Record the claim; False when the key has one already (a unique key, not a check first)."""
        result = await self._session.execute(
            insert(replacement_claims)
            .values(**_values(claim, CLAIM_FIELDS))
            .on_conflict_do_nothing(index_elements=[replacement_claims.c.key_id])
            .returning(replacement_claims.c.id)
        )
        return result.first() is not None

    async def lock(self, shop_id: UUID, claim_id: UUID) -> ReplacementClaim | None:
        row = (
            await self._session.execute(
                select(replacement_claims)
                .where(replacement_claims.c.shop_id == shop_id, replacement_claims.c.id == claim_id)
                .with_for_update()
            )
        ).first()
        return ReplacementClaim(**{f: row._mapping[f] for f in CLAIM_FIELDS}) if row else None

    async def save(self, claim: ReplacementClaim) -> None:
        await self._session.execute(
            update(replacement_claims)
            .where(replacement_claims.c.id == claim.id, replacement_claims.c.shop_id == claim.shop_id)
            .values(**_values(claim, [f for f in CLAIM_FIELDS if f not in FIXED]))
        )
