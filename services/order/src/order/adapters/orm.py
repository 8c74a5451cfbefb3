"""Order tables and repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from order.domain.model import Order, Status
from order.domain.payments import PaymentNotice

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("order_no", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_title", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("buyer_email", Text, nullable=False),
    Column("buyer_ip", Text),
    Column("locale", Text, nullable=False),
    Column("password_hash", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("paid_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("status_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("orders_expiry_sweep", "status", "expires_at"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("provider", "trade_no", name="payments_provider_trade_no"),
    Index("payments_order_id", "order_id"),
)

order_transitions = Table(
    "order_transitions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("from_state", Text),
    Column("to_state", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("order_transitions_order_id", "order_id", "id"),
)

_MUTABLE = ("status", "expires_at", "paid_at", "delivered_at", "status_reason", "updated_at")


def _row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "order_no": order.order_no,
        "status": order.status.value,
        "product_id": order.product_id,
        "product_title": order.product_title,
        "quantity": order.quantity,
        "unit_price": order.unit_price,
        "amount": order.amount,
        "currency": order.currency,
        "buyer_email": order.buyer_email,
        "buyer_ip": order.buyer_ip,
        "locale": order.locale,
        "password_hash": order.password_hash,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "delivered_at": order.delivered_at,
        "status_reason": order.status_reason,
        "updated_at": order.updated_at,
    }


def _order(row: Any) -> Order:
    values = dict(row._mapping)
    values["status"] = Status(values["status"])
    return Order(**values)


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order) -> None:
        await self._session.execute(insert(orders).values(**_row(order)))
        await self._write_transitions(order)

    async def save(self, order: Order) -> None:
        """Write the order's changed facts and its not yet audited transitions."""
        row = _row(order)
        await self._session.execute(
            update(orders).where(orders.c.id == order.id).values({name: row[name] for name in _MUTABLE})
        )
        await self._write_transitions(order)

    async def _write_transitions(self, order: Order) -> None:
        if not order.pending_transitions:
            return
        await self._session.execute(
            insert(order_transitions),
            [
                {
                    "order_id": t.order_id,
                    "from_state": t.from_state.value if t.from_state else None,
                    "to_state": t.to_state.value,
                    "trigger": t.trigger,
                    "at": t.at,
                }
                for t in order.pending_transitions
            ],
        )
        order.pending_transitions.clear()

    async def get_by_no(self, order_no: str) -> Order | None:
        row = (await self._session.execute(select(orders).where(orders.c.order_no == order_no))).first()
        return _order(row) if row else None

    async def lock(self, order_id: UUID) -> Order | None:
        """The order, its row locked until the transaction ends. FOR NO KEY UPDATE: it excludes every other
        writer but not the FOR KEY SHARE lock a payments foreign-key insert takes, so two payments for one
        order cannot deadlock."""
        query = select(orders).where(orders.c.id == order_id).with_for_update(key_share=True)
        row = (await self._session.execute(query)).first()
        return _order(row) if row else None

    async def lock_overdue(self, now: datetime, limit: int) -> list[Order]:
        """Awaiting-payment orders past their window, skipping rows another worker holds."""
        query = (
            select(orders)
            .where(orders.c.status == Status.AWAITING_PAYMENT.value, orders.c.expires_at < now)
            .order_by(orders.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )
        return [_order(row) for row in (await self._session.execute(query)).all()]

    async def transitions(self, order_id: UUID) -> list[tuple[str | None, str, str]]:
        query = (
            select(order_transitions.c.from_state, order_transitions.c.to_state, order_transitions.c.trigger)
            .where(order_transitions.c.order_id == order_id)
            .order_by(order_transitions.c.id)
        )
        return [(r.from_state, r.to_state, r.trigger) for r in (await self._session.execute(query)).all()]


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order_id: UUID, notice: PaymentNotice, received_at: datetime) -> bool:
        """Record the payment; False when this provider's trade was recorded already."""
        result = await self._session.execute(
            insert(payments)
            .values(
                id=uuid7(),
                order_id=order_id,
                provider=notice.provider,
                trade_no=notice.trade_no,
                amount=notice.amount,
                currency=notice.currency,
                received_at=received_at,
            )
            .on_conflict_do_nothing(index_elements=["provider", "trade_no"])
            .returning(payments.c.id)
        )
        return result.first() is not None

    async def count_for(self, order_id: UUID) -> int:
        rows = (
            await self._session.execute(select(payments.c.id).where(payments.c.order_id == order_id))
        ).all()
        return len(rows)
