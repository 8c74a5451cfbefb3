"""After-sales tables and repositories: tickets (with their SLA deadlines), their messages, replacement claims
(one per key), the shops' and the platform's ticket timers, and the shops' canned replies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import metadata
from delivery.domain.tickets import (
    DEFAULT_PLATFORM_SLA,
    DEFAULT_SHOP_SLA,
    CannedReply,
    ReplacementClaim,
    SlaTimers,
    Ticket,
    TicketMessage,
)

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
    Column("response_due", TS),
    Column("resolution_due", TS),
    Column("escalation_due", TS),
    Column("overdue_at", TS),
    Column("next_due_at", TS),
    Column("escalated_at", TS),
    Column("escalated_by", Text),
    CheckConstraint("status IN ('open', 'answered', 'resolved')", name="tickets_status"),
    CheckConstraint("level IN ('L1', 'L2', 'L3')", name="tickets_level"),
    Index("tickets_shop_queue", "shop_id", "status", "level", "created_at"),
    Index("tickets_order", "order_id"),
    Index("tickets_next_due", "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
    Index("tickets_level_queue", "level", "status", "created_at"),
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
    CheckConstraint("author IN ('buyer', 'shop', 'platform', 'system')", name="ticket_messages_author"),
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

ticket_sla_policies = Table(
    "ticket_sla_policies",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), primary_key=True),
    Column("first_response_minutes", Integer, nullable=False),
    Column("resolution_minutes", Integer, nullable=False),
    Column("escalation_minutes", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", Text, nullable=False),
)

platform_ticket_sla = Table(
    "platform_ticket_sla",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("first_response_minutes", Integer, nullable=False),
    Column("resolution_minutes", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", Text, nullable=False),
    CheckConstraint("id = 1", name="platform_ticket_sla_one_row"),
)

canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("language", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", Text, nullable=False),
    CheckConstraint("language IN ('zh-CN', 'en')", name="canned_replies_language"),
    UniqueConstraint("shop_id", "language", "title", name="canned_replies_title"),
)

TICKET_FIELDS = tuple(Ticket.__dataclass_fields__)
MESSAGE_FIELDS = tuple(TicketMessage.__dataclass_fields__)
CLAIM_FIELDS = tuple(ReplacementClaim.__dataclass_fields__)
CANNED_FIELDS = tuple(CannedReply.__dataclass_fields__)
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

    async def listed(self, shop_id: UUID | None, query: TicketQuery) -> list[Ticket]:
        """A shop's queue (None: every shop's, the platform's), oldest first."""
        where: list[ColumnElement[bool]] = [
            tickets.c.status.in_(list(query.statuses)),
            tickets.c.level.in_(list(query.levels)),
        ]
        if shop_id is not None:
            where.append(tickets.c.shop_id == shop_id)
        if query.categories:
            where.append(tickets.c.category.in_(list(query.categories)))
        if query.overdue is not None:
            where.append(
                tickets.c.overdue_at.is_not(None) if query.overdue else tickets.c.overdue_at.is_(None)
            )
        rows = await self._session.execute(
            select(tickets).where(*where).order_by(tickets.c.created_at, tickets.c.id).limit(query.limit)
        )
        return [_ticket(r) for r in rows]

    async def find(self, ticket_id: UUID) -> Ticket | None:
        """A ticket of any shop (the platform's read of its L3 queue)."""
        row = (await self._session.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        return _ticket(row) if row else None

    async def due(self, now: datetime, limit: int) -> list[Ticket]:
        """Tickets with a deadline passed, locked; those another sweeper holds are skipped (it acts on
        them), and one it finished no longer matches (its next deadline moved)."""
        rows = await self._session.execute(
            select(tickets)
            .where(tickets.c.next_due_at <= now)
            .order_by(tickets.c.next_due_at, tickets.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_ticket(r) for r in rows]

    async def overdue_counts(self) -> dict[str, int]:
        """Open overdue tickets by level, over every shop."""
        rows = await self._session.execute(
            select(tickets.c.level, func.count())
            .where(tickets.c.overdue_at.is_not(None), tickets.c.status == "open")
            .group_by(tickets.c.level)
        )
        return {level: count for level, count in rows}

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


@dataclass(frozen=True)
class TicketQuery:
    statuses: Sequence[str]
    levels: Sequence[str]
    categories: Sequence[str] = ()
    overdue: bool | None = None
    limit: int = 100


def _timers(row: Any, escalation: bool) -> SlaTimers:
    return SlaTimers(
        timedelta(minutes=row.first_response_minutes),
        timedelta(minutes=row.resolution_minutes),
        timedelta(minutes=row.escalation_minutes) if escalation else None,
    )


class TicketSlaRepository:
    """The shops' L2 timers and the platform's L3 timers (the defaults until they are set)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def shop(self, shop_id: UUID) -> SlaTimers:
        row = (
            await self._session.execute(
                select(ticket_sla_policies).where(ticket_sla_policies.c.shop_id == shop_id)
            )
        ).first()
        return _timers(row, escalation=True) if row else DEFAULT_SHOP_SLA

    async def platform(self) -> SlaTimers:
        row = (await self._session.execute(select(platform_ticket_sla))).first()
        return _timers(row, escalation=False) if row else DEFAULT_PLATFORM_SLA

    async def set_shop(self, shop_id: UUID, timers: SlaTimers, by: str, now: datetime) -> None:
        values = {**_minutes(timers), "updated_at": now, "updated_by": by}
        await self._session.execute(
            insert(ticket_sla_policies)
            .values(shop_id=shop_id, **values)
            .on_conflict_do_update(index_elements=[ticket_sla_policies.c.shop_id], set_=values)
        )

    async def set_platform(self, timers: SlaTimers, by: str, now: datetime) -> None:
        values = {**_minutes(timers), "updated_at": now, "updated_by": by}
        values.pop("escalation_minutes")
        await self._session.execute(
            insert(platform_ticket_sla)
            .values(id=1, **values)
            .on_conflict_do_update(index_elements=[platform_ticket_sla.c.id], set_=values)
        )


def _minutes(timers: SlaTimers) -> dict[str, int]:
    def of(span: timedelta | None) -> int:
        return int(span.total_seconds() // 60) if span is not None else 0

    return {
        "first_response_minutes": of(timers.first_response),
        "resolution_minutes": of(timers.resolution),
        "escalation_minutes": of(timers.escalation),
    }


class CannedReplyRepository:
    """A shop's canned replies; another shop's are not found."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_shop(self, shop_id: UUID, language: str | None) -> list[CannedReply]:
        query = select(canned_replies).where(canned_replies.c.shop_id == shop_id)
        if language is not None:
            query = query.where(canned_replies.c.language == language)
        rows = await self._session.execute(query.order_by(canned_replies.c.language, canned_replies.c.title))
        return [CannedReply(**{f: r._mapping[f] for f in CANNED_FIELDS}) for r in rows]

    async def get(self, shop_id: UUID, reply_id: UUID) -> CannedReply | None:
        row = (
            await self._session.execute(
                select(canned_replies).where(
                    canned_replies.c.shop_id == shop_id, canned_replies.c.id == reply_id
                )
            )
        ).first()
        return CannedReply(**{f: row._mapping[f] for f in CANNED_FIELDS}) if row else None

    async def add(self, reply: CannedReply) -> bool:
        """Record the reply; False when the shop has one of that title in that language."""
        result = await self._session.execute(
            insert(canned_replies)
            .values(**_values(reply, CANNED_FIELDS))
            .on_conflict_do_nothing(constraint="canned_replies_title")
            .returning(canned_replies.c.id)
        )
        return result.first() is not None

    async def save(self, reply: CannedReply) -> bool:
        """Store the changes; False when its new title is another reply's in that language."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(canned_replies)
                    .where(canned_replies.c.id == reply.id, canned_replies.c.shop_id == reply.shop_id)
                    .values(**_values(reply, ("language", "title", "body", "updated_at", "updated_by")))
                )
        except IntegrityError as error:
            if "canned_replies_title" in str(error.orig):
                return False
            raise
        return True

    async def remove(self, shop_id: UUID, reply_id: UUID) -> bool:
        result = await self._session.execute(
            delete(canned_replies)
            .where(canned_replies.c.shop_id == shop_id, canned_replies.c.id == reply_id)
            .returning(canned_replies.c.id)
        )
        return result.first() is not None
