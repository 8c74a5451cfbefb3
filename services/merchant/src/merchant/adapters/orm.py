"""Merchant tables and the shop repository."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from faka_common.contracts.shops import ShopStatus
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.domain.shops import DomainTaken, Shop, SlugTaken

metadata = MetaData()

shops = Table(
    "shops",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("languages", ARRAY(Text), nullable=False),
    Column("contact", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("fee_rate_bps", Integer),
    CheckConstraint("status IN ('pending', 'active', 'suspended', 'closed')", name="shops_status"),
    CheckConstraint("fee_rate_bps BETWEEN 0 AND 10000", name="shops_fee_rate"),
)

shop_domains = Table(
    "shop_domains",
    metadata,
    Column("host", Text, primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), ForeignKey("shops.id"), nullable=False),
    CheckConstraint("host = lower(host)", name="shop_domains_lower_case"),
    Index("shop_domains_shop", "shop_id"),
)

#: A shop's hosts in one array column of the shop's row ({} without any).
_domains = func.array(
    select(shop_domains.c.host).where(shop_domains.c.shop_id == shops.c.id).scalar_subquery(),
    type_=ARRAY(Text),
).label("domains")


def _shop(row: Any) -> Shop:
    fields = row._mapping
    return Shop(
        **{**fields, "languages": tuple(fields["languages"]), "domains": tuple(sorted(fields["domains"]))}
    )


def _values(shop: Shop) -> dict[str, Any]:
    return {
        "name": shop.name,
        "status": shop.status,
        "currency": shop.currency,
        "languages": list(shop.languages),
        "contact": shop.contact,
        "updated_at": shop.updated_at,
        "fee_rate_bps": shop.fee_rate_bps,
    }


class ShopRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, shop: Shop) -> None:
        """Store a new shop; SlugTaken or DomainTaken when another shop holds its slug or a domain."""
        stored = await self._session.execute(
            insert(shops)
            .values(id=shop.id, slug=shop.slug, created_at=shop.created_at, **_values(shop))
            .on_conflict_do_nothing(index_elements=[shops.c.slug])
            .returning(shops.c.id)
        )
        if stored.first() is None:
            raise SlugTaken(f"slug {shop.slug!r} belongs to another shop")
        await self._claim_domains(shop.id, shop.domains)

    async def get(self, shop_id: UUID, *, for_update: bool = False) -> Shop | None:
        """The shop; with `for_update`, locked until the transaction ends, so changes to one shop (and
        their events) follow one another."""
        if for_update:
            # Locked first, read after: a statement that waited for the lock still reads the other tables
            # as they were when it began, so it would miss the domains of the change it waited for.
            lock = select(shops.c.id).where(shops.c.id == shop_id).with_for_update()
            if (await self._session.execute(lock)).first() is None:
                return None
        row = (await self._session.execute(select(shops, _domains).where(shops.c.id == shop_id))).first()
        return _shop(row) if row else None

    async def by_slug(self, slug: str) -> Shop | None:
        row = (await self._session.execute(select(shops, _domains).where(shops.c.slug == slug))).first()
        return _shop(row) if row else None

    async def by_host(self, host: str) -> Shop | None:
        owner = select(shop_domains.c.shop_id).where(shop_domains.c.host == host).scalar_subquery()
        row = (await self._session.execute(select(shops, _domains).where(shops.c.id == owner))).first()
        return _shop(row) if row else None

    async def page(self, *, after: str | None, limit: int, statuses: Collection[ShopStatus]) -> list[Shop]:
        """Up to `limit` shops in slug order, after the slug `after`, of the given statuses (all: empty)."""
        query = select(shops, _domains).order_by(shops.c.slug).limit(limit)
        if after is not None:
            query = query.where(shops.c.slug > after)
        if statuses:
            query = query.where(shops.c.status.in_(sorted(statuses)))
        return [_shop(row) for row in (await self._session.execute(query)).all()]

    async def fee_rates(self, shop_ids: Collection[UUID] | None) -> dict[UUID, int | None]:
        """The fee rate of each of `shop_ids` that exists (None: the platform's default); without ids,
        of every shop whose rate is set."""
        query = select(shops.c.id, shops.c.fee_rate_bps)
        if shop_ids is None:
            query = query.where(shops.c.fee_rate_bps.is_not(None))
        else:
            query = query.where(shops.c.id.in_(sorted(shop_ids)))
        return {row.id: row.fee_rate_bps for row in await self._session.execute(query)}

    async def update(self, before: Shop, after: Shop) -> None:
        """Store `after` over `before` (the same shop, read under lock); DomainTaken when a new domain
        belongs to another shop."""
        await self._session.execute(update(shops).where(shops.c.id == after.id).values(**_values(after)))
        dropped = set(before.domains) - set(after.domains)
        if dropped:
            await self._session.execute(
                delete(shop_domains).where(
                    shop_domains.c.shop_id == after.id, shop_domains.c.host.in_(sorted(dropped))
                )
            )
        await self._claim_domains(after.id, sorted(set(after.domains) - set(before.domains)))

    async def _claim_domains(self, shop_id: UUID, hosts: Sequence[str]) -> None:
        if not hosts:
            return
        claimed = await self._session.execute(
            insert(shop_domains)
            .values([{"host": host, "shop_id": shop_id} for host in hosts])
            .on_conflict_do_nothing(index_elements=[shop_domains.c.host])
            .returning(shop_domains.c.host)
        )
        taken = sorted(set(hosts) - set(claimed.scalars()))
        if taken:
            raise DomainTaken(f"another shop already has the domain {', '.join(taken)}")
