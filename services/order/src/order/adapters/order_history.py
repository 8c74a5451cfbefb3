"""The seller's reads of a shop's orders: search with keyset paging, and everything recorded about one order
(its transitions, payments and payments set aside for a refund; its refunds are
`RefundRepository.for_order`'s) for its timeline."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from order.adapters.orders import order_of_row
from order.adapters.tables import order_transitions, orders, payment_exceptions, payments
from order.domain.history import OrderSearch
from order.domain.model import Order

#: What a payment and a payment set aside both record of the money received.
MONEY_RECEIVED = ("provider", "trade_no", "amount", "currency", "received_at")


class OrderHistory:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def search(self, shop_id: UUID, search: OrderSearch) -> list[Order]:
        """The shop's orders that match, newest first, after `search.after` (created_at, id); `search.limit`
        of them at most."""
        where: list[ColumnElement[bool]] = [orders.c.shop_id == shop_id]
        if search.text:
            paid_with = select(payments.c.order_id).where(
                payments.c.shop_id == shop_id, payments.c.trade_no == search.text
            )
            where.append(
                or_(
                    orders.c.order_no == search.text,
                    func.lower(orders.c.buyer_email) == search.text.lower(),
                    orders.c.id.in_(paid_with),
                )
            )
        if search.statuses:
            where.append(orders.c.status.in_(search.statuses))
        if search.created_from is not None:
            where.append(orders.c.created_at >= search.created_from)
        if search.created_before is not None:
            where.append(orders.c.created_at < search.created_before)
        if search.after is not None:
            where.append(tuple_(orders.c.created_at, orders.c.id) < tuple_(*search.after))
        query = (
            select(orders)
            .where(*where)
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(search.limit)
        )
        return [order_of_row(row) for row in (await self._session.execute(query)).all()]

    async def transitions(self, order_id: UUID) -> list[dict[str, Any]]:
        table = order_transitions
        return await self._of_order(order_id, table, ("from_state", "to_state", "trigger", "at"), table.c.id)

    async def payments(self, order_id: UUID) -> list[dict[str, Any]]:
        names = (*MONEY_RECEIVED, "collected_by")
        return await self._of_order(order_id, payments, names, payments.c.received_at, payments.c.id)

    async def payment_exceptions(self, order_id: UUID) -> list[dict[str, Any]]:
        table = payment_exceptions
        return await self._of_order(order_id, table, (*MONEY_RECEIVED, "reason"), table.c.received_at)

    async def _of_order(
        self, order_id: UUID, table: Table, names: tuple[str, ...], *order_by: ColumnElement[Any]
    ) -> list[dict[str, Any]]:
        query = select(*(table.c[name] for name in names)).where(table.c.order_id == order_id)
        rows = (await self._session.execute(query.order_by(*order_by))).all()
        return [dict(row._mapping) for row in rows]
