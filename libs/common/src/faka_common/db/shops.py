"""The shops read model a service keeps from merchant's ShopChanged (the topic is keyed by shop and each
event is the whole shop, so the latest one wins): each shop by its id, as its last event told it. The table
belongs to no shop: it holds every shop. Each service declares the table on its own metadata with
`shops_table` and its own migration; a service that needs no contact leaves that column out."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, Table, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from faka_common.contracts.shops import KnownShop
from faka_common.db.statements import Compiled


def shops_table(metadata: MetaData, contact: bool = True) -> Table:
    columns: list[Column[Any]] = [
        Column("id", PgUUID(as_uuid=True), primary_key=True),
        Column("slug", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("status", Text, nullable=False),
        *([Column("contact", Text, nullable=False)] if contact else []),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]
    return Table("shops", metadata, *columns)


@lru_cache(maxsize=8)
def _fields_and_read(table: Table) -> tuple[list[str], Compiled]:
    """The table's shop fields and the statement reading one shop, compiled once per table: the read runs
    for every order placed and every notice sent, and building it per read was a third of its CPU."""
    fields = [name for name in ("slug", "name", "status", "contact") if name in table.c]
    read = select(*(table.c[name] for name in fields)).where(table.c.id == bindparam("shop_id"))
    return fields, Compiled(read)


class ShopRepository:
    def __init__(self, session: AsyncSession, table: Table) -> None:
        self._session = session
        self._table = table
        self._fields, self._read = _fields_and_read(table)

    async def save(self, shop: KnownShop) -> None:
        """Keep the shop as it is now (its first event adds it, every later one replaces it)."""
        values = {name: getattr(shop, name) for name in self._fields}
        statement = insert(self._table).values(id=shop.shop_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[self._table.c.id], set_={**values, "updated_at": func.now()}
            )
        )

    async def get(self, shop_id: UUID) -> KnownShop | None:
        """The shop as last told; None when no event about it has arrived yet."""
        row = await self._read.first(self._session, {"shop_id": shop_id})
        return KnownShop(shop_id, **row) if row else None
