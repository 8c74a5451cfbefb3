"""The seller's view of the shop's orders: a search paged by key, and one order's whole recorded history."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from faka_common.errors import NotFound

from order.domain.history import OrderSearch, cursor
from order.domain.model import Order
from order.service_layer.unit_of_work import OrderUnitOfWork


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    #: Where the next page starts; None on the last page.
    next_cursor: str | None


@dataclass(frozen=True)
class OrderHistory:
    order: Order
    transitions: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    payment_exceptions: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    releases: list[dict[str, Any]]


async def search_orders(shop_id: UUID, search: OrderSearch, uow: OrderUnitOfWork) -> OrderPage:
    """One page of the shop's matching orders, newest first (one more is read to know a next page exists)."""
    async with uow:
        found = await uow.history.search(shop_id, replace(search, limit=search.limit + 1))
    page = found[: search.limit]
    more = len(found) > search.limit
    return OrderPage(page, cursor(page[-1].created_at, page[-1].id) if more else None)


async def order_history(shop_id: UUID, order_no: str, uow: OrderUnitOfWork) -> OrderHistory:
    """The shop's order with its transitions, payments, payments set aside, refunds and release, read in one
    transaction; NotFound for an unknown order and for another shop's."""
    async with uow:
        order = await uow.orders.get_by_no(shop_id, order_no) if 0 < len(order_no) <= 64 else None
        if order is None:
            raise NotFound(f"no order {order_no[:64]!r}")
        return OrderHistory(
            order,
            await uow.history.transitions(order.id),
            await uow.history.payments(order.id),
            await uow.history.payment_exceptions(order.id),
            await uow.refunds.for_order(order.id),
            await uow.releases.for_order(order.id),
        )
