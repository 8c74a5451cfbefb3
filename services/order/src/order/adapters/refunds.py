"""Refunds asked of a provider, and the automatic refunds the late-payment policy owes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.tables import auto_refunds, orders, refunds
from order.domain.model import Order


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, refund: dict[str, Any]) -> None:
        await self._session.execute(insert(refunds).values(**refund))

    async def pending_total(self, order_id: UUID) -> int:
        query = select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.order_id == order_id, refunds.c.status == "pending"
        )
        return int((await self._session.execute(query)).scalar_one())

    async def finish(
        self,
        refund_no: str,
        status: str,
        at: datetime,
        provider_refund_id: str | None = None,
        error: str | None = None,
    ) -> None:
        await self._session.execute(
            update(refunds)
            .where(refunds.c.refund_no == refund_no)
            .values(status=status, completed_at=at, provider_refund_id=provider_refund_id, error=error)
        )

    async def by_no(self, refund_no: str) -> dict[str, Any] | None:
        query = select(refunds).where(refunds.c.refund_no == refund_no)
        row = (await self._session.execute(query)).first()
        return dict(row._mapping) if row is not None else None

    async def for_order(self, order_id: UUID) -> list[dict[str, Any]]:
        query = (
            select(
                refunds.c.refund_no,
                refunds.c.provider,
                refunds.c.amount,
                refunds.c.currency,
                refunds.c.reason,
                refunds.c.status,
                refunds.c.error,
                refunds.c.requested_at,
                refunds.c.completed_at,
            )
            .where(refunds.c.order_id == order_id)
            .order_by(refunds.c.requested_at)
        )
        return [dict(r._mapping) for r in (await self._session.execute(query)).all()]


class AutoRefundRepository:
    """Automatic refunds owed by the late-payment policy: one per order, claimed with SKIP LOCKED."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order, refund_no: str, reason: str, at: datetime) -> bool:
        """Owe the order an automatic refund under `refund_no`; False when one is owed already."""
        result = await self._session.execute(
            insert(auto_refunds)
            .values(
                order_id=order.id,
                shop_id=order.shop_id,
                refund_no=refund_no,
                reason=reason,
                state="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing()
            .returning(auto_refunds.c.order_id)
        )
        return result.first() is not None

    async def claim_due(self, at: datetime) -> dict[str, Any] | None:
        """One pending automatic refund that is due, locked for this transaction; others skip it."""
        query = (
            select(auto_refunds, orders.c.order_no)
            .join(orders, orders.c.id == auto_refunds.c.order_id)
            .where(auto_refunds.c.state == "pending", auto_refunds.c.next_attempt_at <= at)
            .order_by(auto_refunds.c.next_attempt_at)
            .limit(1)
            .with_for_update(of=auto_refunds, skip_locked=True)
        )
        row = (await self._session.execute(query)).first()
        return dict(row._mapping) if row is not None else None

    async def update(self, order_id: UUID, at: datetime, **values: Any) -> None:
        await self._session.execute(
            update(auto_refunds).where(auto_refunds.c.order_id == order_id).values(updated_at=at, **values)
        )

    async def get(self, order_id: UUID) -> dict[str, Any] | None:
        row = (
            await self._session.execute(select(auto_refunds).where(auto_refunds.c.order_id == order_id))
        ).first()
        return dict(row._mapping) if row is not None else None
