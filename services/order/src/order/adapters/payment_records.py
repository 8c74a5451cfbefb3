"""What is recorded of an order's payments: the payments received, the ones set aside (exceptions), the
attempts made at each provider, and the orders to ask a provider about (payment checks). The providers
themselves are `order.adapters.payments`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from faka_common.db.statements import Compiled
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from order.adapters.tables import orders, payment_attempts, payment_checks, payment_exceptions, payments
from order.domain.model import Order
from order.domain.payments import PaymentNotice

_PAYMENT_COLUMNS = (
    "id",
    "shop_id",
    "order_id",
    "provider",
    "trade_no",
    "amount",
    "currency",
    "received_at",
    "collected_by",
    "payer_account",
)
#: A payment is recorded once a sale, compiled once like the order's statements.
_ADD_PAYMENT = Compiled(
    insert(payments)
    .on_conflict_do_nothing(index_elements=["shop_id", "provider", "trade_no"])
    .returning(payments.c.id),
    _PAYMENT_COLUMNS,
)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order, notice: PaymentNotice, received_at: datetime) -> bool:
        """Record the order's payment; False when this provider's trade was recorded already (in its shop)."""
        added = await _ADD_PAYMENT.first(
            self._session,
            {
                "id": uuid7(),
                "shop_id": order.shop_id,
                "order_id": order.id,
                "provider": notice.provider,
                "trade_no": notice.trade_no,
                "amount": notice.amount,
                "currency": notice.currency,
                "received_at": received_at,
                "collected_by": notice.collected_by,
                "payer_account": notice.payer_account,
            },
        )
        return added is not None

    async def count_for(self, order_id: UUID) -> int:
        rows = (
            await self._session.execute(select(payments.c.id).where(payments.c.order_id == order_id))
        ).all()
        return len(rows)

    async def add_exception(self, order: Order, notice: PaymentNotice, reason: str, at: datetime) -> bool:
        """Keep a real payment we will not deliver on (wrong amount or currency); False when known already."""
        result = await self._session.execute(
            insert(payment_exceptions)
            .values(
                id=uuid7(),
                shop_id=order.shop_id,
                order_id=order.id,
                provider=notice.provider,
                trade_no=notice.trade_no,
                amount=notice.amount,
                currency=notice.currency,
                reason=reason[:500],
                received_at=at,
            )
            .on_conflict_do_nothing(index_elements=["shop_id", "provider", "trade_no"])
            .returning(payment_exceptions.c.id)
        )
        return result.first() is not None

    async def record_attempt(
        self,
        order: Order,
        provider: str,
        provider_ref: str | None,
        at: datetime,
        collected_by: str = "platform",
    ) -> None:
        statement = insert(payment_attempts).values(
            order_id=order.id,
            shop_id=order.shop_id,
            provider=provider,
            provider_ref=provider_ref,
            created_at=at,
            collected_by=collected_by,
        )
        excluded = statement.excluded
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["order_id", "provider"],
                set_={"provider_ref": excluded.provider_ref, "created_at": at, "collected_by": collected_by},
            )
        )

    async def attempts(self, order_id: UUID) -> dict[str, str | None]:
        query = select(payment_attempts.c.provider, payment_attempts.c.provider_ref).where(
            payment_attempts.c.order_id == order_id
        )
        return {r.provider: r.provider_ref for r in (await self._session.execute(query)).all()}

    async def for_order(self, order_id: UUID) -> list[PaymentNotice]:
        query = (
            select(
                payments.c.provider,
                payments.c.trade_no,
                payments.c.amount,
                payments.c.currency,
                payments.c.collected_by,
                payments.c.payer_account,
            )
            .where(payments.c.order_id == order_id)
            .order_by(payments.c.received_at, payments.c.id)
        )
        return [
            PaymentNotice(r.provider, "", r.trade_no, r.amount, r.currency, r.collected_by, r.payer_account)
            for r in (await self._session.execute(query)).all()
        ]

    async def received_between(self, shop_id: UUID, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = (
            select(
                payments.c.provider,
                payments.c.trade_no,
                payments.c.amount,
                payments.c.currency,
                payments.c.received_at,
                payments.c.collected_by,
                orders.c.order_no,
                orders.c.amount.label("order_amount"),
                orders.c.product_title,
            )
            .join(orders, orders.c.id == payments.c.order_id)
            .where(
                payments.c.shop_id == shop_id, payments.c.received_at >= start, payments.c.received_at < end
            )
            .order_by(payments.c.received_at)
        )
        return [dict(r._mapping) for r in (await self._session.execute(query)).all()]

    async def exceptions_between(self, shop_id: UUID, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = (
            select(
                payment_exceptions.c.provider,
                payment_exceptions.c.trade_no,
                payment_exceptions.c.amount,
                payment_exceptions.c.currency,
                payment_exceptions.c.reason,
                payment_exceptions.c.received_at,
                orders.c.order_no,
            )
            .join(orders, orders.c.id == payment_exceptions.c.order_id)
            .where(
                payment_exceptions.c.shop_id == shop_id,
                payment_exceptions.c.received_at >= start,
                payment_exceptions.c.received_at < end,
            )
            .order_by(payment_exceptions.c.received_at)
        )
        return [dict(r._mapping) for r in (await self._session.execute(query)).all()]


class PaymentCheckRepository:
    """Orders to ask a provider about because a notification failed verification transiently."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, shop_id: UUID, provider: str, order_no: str, reason: str, at: datetime) -> None:
        await self._session.execute(
            insert(payment_checks).values(
                shop_id=shop_id, provider=provider, order_no=order_no[:64], reason=reason[:500], created_at=at
            )
        )

    async def claim(self, limit: int, at: datetime) -> list[tuple[UUID, str, str]]:
        """Take up to `limit` open checks of any shop (marking them done): (shop, provider, order number)
        each; another worker skips the ones taken."""
        due = (
            select(payment_checks.c.id)
            .where(payment_checks.c.done_at.is_(None))
            .order_by(payment_checks.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self._session.execute(
            update(payment_checks)
            .where(payment_checks.c.id.in_(due))
            .values(done_at=at)
            .returning(payment_checks.c.shop_id, payment_checks.c.provider, payment_checks.c.order_no)
        )
        return [(r.shop_id, r.provider, r.order_no) for r in result.all()]
