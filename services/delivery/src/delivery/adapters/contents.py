"""Delivered contents: an order's content as delivered (sealed; from the supplier or an operator), stored
once, and the record of each reveal."""

from __future__ import annotations

from uuid import UUID

from faka_common.crypto import Sealed
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import content_reveals, delivery_contents


class ContentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(
        self, shop_id: UUID, order_id: UUID, delivery_id: UUID, source: str, sealed: Sealed
    ) -> None:
        await self._session.execute(
            insert(delivery_contents)
            .values(
                shop_id=shop_id,
                order_id=order_id,
                delivery_id=delivery_id,
                source=source,
                key_id=sealed.key_id,
                blob=sealed.blob,
            )
            .on_conflict_do_nothing(index_elements=[delivery_contents.c.order_id])
        )

    async def get(self, shop_id: UUID, order_id: UUID) -> tuple[str, Sealed] | None:
        c = delivery_contents
        row = (
            await self._session.execute(
                select(c.c.source, c.c.key_id, c.c.blob).where(
                    c.c.shop_id == shop_id, c.c.order_id == order_id
                )
            )
        ).first()
        return (row.source, Sealed(row.key_id, row.blob)) if row else None

    async def record_reveal(self, shop_id: UUID, order_id: UUID, reader: str) -> None:
        await self._session.execute(
            insert(content_reveals).values(shop_id=shop_id, order_id=order_id, reader=reader)
        )
