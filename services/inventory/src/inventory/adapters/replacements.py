"""Replaced keys: which delivered key of which order was voided for which new key (one row per voided key:
the primary key is what makes a key replaceable once, whatever runs concurrently)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Column, DateTime, ForeignKey, Index, Table, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.tables import card_keys, key_batches, metadata

key_replacements = Table(
    "key_replacements",
    metadata,
    Column("voided_key_id", PgUUID(as_uuid=True), ForeignKey("card_keys.id"), primary_key=True),
    Column("claim_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("key_id", PgUUID(as_uuid=True), ForeignKey("card_keys.id"), nullable=False, unique=True),
    Column("batch_id", PgUUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("key_replacements_order", "order_id"),
)


@dataclass(frozen=True)
class DeliveredKey:
    id: UUID
    product_id: UUID
    batch_id: UUID


@dataclass(frozen=True)
class Replacement:
    claim_id: UUID
    order_id: UUID
    shop_id: UUID
    product_id: UUID
    voided_key_id: UUID
    key_id: UUID
    batch_id: UUID


class ReplacementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def delivered_key(self, order_id: UUID, key_id: UUID) -> DeliveredKey | None:
        """The key, locked, when it is sold to the order right now (not void, not another order's)."""
        row = (
            await self._session.execute(
                select(card_keys.c.id, card_keys.c.product_id, card_keys.c.batch_id)
                .where(
                    card_keys.c.id == key_id, card_keys.c.order_id == order_id, card_keys.c.status == "sold"
                )
                .with_for_update()
            )
        ).first()
        return DeliveredKey(row.id, row.product_id, row.batch_id) if row else None

    async def key_of_order(self, order_id: UUID, product_id: UUID, fingerprint: bytes) -> UUID | None:
        """The product's key of this fingerprint when the order holds it or held it until it was replaced."""
        was_replaced = exists().where(
            key_replacements.c.voided_key_id == card_keys.c.id, key_replacements.c.order_id == order_id
        )
        query = select(card_keys.c.id).where(
            card_keys.c.product_id == product_id,
            card_keys.c.fingerprint == fingerprint,
            or_(card_keys.c.order_id == order_id, was_replaced),
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def replaced(self, key_id: UUID) -> bool:
        query = select(key_replacements.c.claim_id).where(key_replacements.c.voided_key_id == key_id)
        return (await self._session.execute(query)).first() is not None

    async def of_order(self, order_id: UUID) -> int:
        query = select(func.count()).where(key_replacements.c.order_id == order_id)
        return int((await self._session.execute(query)).scalar_one())

    async def add(self, replacement: Replacement) -> bool:
        """Record the replacement; False when the key (or the claim) was already replaced."""
        result = await self._session.execute(
            insert(key_replacements)
            .values(
                voided_key_id=replacement.voided_key_id,
                claim_id=replacement.claim_id,
                order_id=replacement.order_id,
                shop_id=replacement.shop_id,
                product_id=replacement.product_id,
                key_id=replacement.key_id,
                batch_id=replacement.batch_id,
            )
            .on_conflict_do_nothing()
            .returning(key_replacements.c.claim_id)
        )
        return result.first() is not None

    async def void_sold(self, key_id: UUID) -> None:
        """The sold key is void for good (it leaves its order; the replacement row keeps the link)."""
        await self._session.execute(
            update(card_keys)
            .where(card_keys.c.id == key_id, card_keys.c.status == "sold")
            .values(status="void", order_id=None, voided_at=func.now())
        )

    async def count_against_batch(self, batch_id: UUID) -> tuple[int | None, UUID | None]:
        """One more key of the batch reported invalid; returns the batch's cost per key and its supplier."""
        result = await self._session.execute(
            update(key_batches)
            .where(key_batches.c.id == batch_id)
            .values(reported_invalid=key_batches.c.reported_invalid + 1)
            .returning(key_batches.c.cost_price, key_batches.c.supplier_id)
        )
        row = result.first()
        if row is None:
            return None, None
        return (int(row.cost_price) if row.cost_price is not None else None), row.supplier_id
