"""The shops read model (migration 0005): each shop, by its id, as its latest ShopChanged told it (the table
belongs to no shop: it holds every shop)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Column, DateTime, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.orm import metadata
from notification.domain.model import Shop

shops = Table(
    "shops",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("slug", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("contact", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class ShopRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save(self, shop: Shop) -> None:
        """Keep the shop as it is now (its first event adds it, every later one replaces it)."""
        values = {"slug": shop.slug, "name": shop.name, "status": shop.status, "contact": shop.contact}
        statement = insert(shops).values(id=shop.shop_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[shops.c.id], set_={**values, "updated_at": func.now()}
            )
        )

    async def get(self, shop_id: UUID) -> Shop | None:
        """The shop as last told; None when no event about it has arrived yet."""
        query = select(shops.c.slug, shops.c.name, shops.c.status, shops.c.contact).where(
            shops.c.id == shop_id
        )
        row = (await self._session.execute(query)).first()
        return Shop(shop_id, row.slug, row.name, row.status, row.contact) if row else None
