"""The public API's Idempotency-Key records."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from order.adapters.tables import idempotency_keys


def _idempotency_key(shop_id: UUID, key: str) -> ColumnElement[bool]:
    return and_(idempotency_keys.c.shop_id == shop_id, idempotency_keys.c.key == key)


class IdempotencyRepository:
    """Public Idempotency-Key records: claimed before the work, completed with its answer."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, shop_id: UUID, key: str, fingerprint: str, at: datetime, expired_before: datetime
    ) -> Any | None:
        """None when this request now owns the shop's `key`; otherwise the row another request holds."""
        mine = _idempotency_key(shop_id, key)
        await self._session.execute(
            delete(idempotency_keys).where(mine, idempotency_keys.c.created_at < expired_before)
        )
        inserted = await self._session.execute(
            insert(idempotency_keys)
            .values(shop_id=shop_id, key=key, fingerprint=fingerprint, created_at=at)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        )
        if inserted.first() is not None:
            return None
        return (await self._session.execute(select(idempotency_keys).where(mine))).first()

    async def complete(self, shop_id: UUID, key: str, status_code: int, response: dict[str, Any]) -> None:
        await self._session.execute(
            update(idempotency_keys)
            .where(_idempotency_key(shop_id, key))
            .values(status_code=status_code, response=response)
        )

    async def release(self, shop_id: UUID, key: str) -> None:
        await self._session.execute(delete(idempotency_keys).where(_idempotency_key(shop_id, key)))
