"""The audit_entries table and its repository: entries are added (once per request id) and searched, never
changed (the table's triggers refuse it; its constraints and indexes are migration 0004's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, SmallInteger, Table, Text, select, tuple_
from sqlalchemy.dialects.postgresql import INET, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.adapters.orm import metadata
from merchant.domain.audit import AuditEntry, AuditPage, AuditSearch, Cursor

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("request_id", Text, nullable=False, unique=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_kind", Text, nullable=False),
    Column("actor_id", PgUUID(as_uuid=True)),
    Column("actor_label", Text, nullable=False),
    Column("shop_id", PgUUID(as_uuid=True)),
    Column("action", Text, nullable=False),
    Column("target", Text),
    Column("client_ip", INET),
    Column("user_agent", Text),
    Column("summary", Text, nullable=False),
    Column("outcome", SmallInteger, nullable=False),
)


def _entry(row: Any) -> AuditEntry:
    fields = dict(row._mapping)
    address = fields["client_ip"]
    return AuditEntry(**{**fields, "client_ip": None if address is None else str(address)})


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: AuditEntry) -> tuple[AuditEntry, bool]:
        """Store the entry, once per request id: the stored entry, and whether it was stored now (False: an
        entry of that request id was there already, and it is the one answered; the first write wins)."""
        stored = await self._session.execute(
            insert(audit_entries)
            .values(**vars(entry))
            .on_conflict_do_nothing(index_elements=[audit_entries.c.request_id])
            .returning(*audit_entries.c)
        )
        row = stored.first()
        if row is not None:
            return _entry(row), True
        # Another transaction's insert of this request id waited on above has committed: this statement,
        # newer than it, reads it.
        query = select(audit_entries).where(audit_entries.c.request_id == entry.request_id)
        return _entry((await self._session.execute(query)).one()), False

    async def search(self, search: AuditSearch) -> AuditPage:
        c = audit_entries.c
        query = select(audit_entries).order_by(c.occurred_at.desc(), c.id.desc()).limit(search.limit + 1)
        for column, wanted in (
            (c.shop_id, search.shop_id),
            (c.actor_id, search.actor_id),
            (c.action, search.action),
            (c.target, search.target),
        ):
            if wanted is not None:
                query = query.where(column == wanted)
        if search.since is not None:
            query = query.where(c.occurred_at >= search.since)
        if search.until is not None:
            query = query.where(c.occurred_at < search.until)
        if search.before is not None:
            query = query.where(
                tuple_(c.occurred_at, c.id) < tuple_(search.before.occurred_at, search.before.entry_id)
            )
        found = [_entry(row) for row in (await self._session.execute(query)).all()]
        entries = found[: search.limit]
        more = len(found) > search.limit
        return AuditPage(entries, Cursor.after(entries[-1]) if more else None)
