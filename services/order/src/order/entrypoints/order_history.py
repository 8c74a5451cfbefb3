"""The seller's order search and an order's history (docs/internal-api.md, order): shop-scoped reads for the
console (through the gateway's admin API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from faka_common.fields import Line
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query
from pydantic import AfterValidator, StringConstraints

from order.bootstrap import Service
from order.domain.history import MAX_PAGE, OrderSearch, after_cursor
from order.domain.model import Order, Status
from order.entrypoints.buyer_links import OrderNo
from order.entrypoints.http import order_summary, order_view
from order.service_layer import order_history


def _aware(value: datetime | None) -> datetime | None:
    """A time with its zone, as UTC (a time whose UTC falls outside the calendar is refused, not a 500)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give a time zone (Z or +08:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


Instant = Annotated[datetime | None, AfterValidator(_aware)]
SearchText = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


def seller_summary(order: Order) -> dict[str, Any]:
    """A line of the seller's order list: the buyer's list line with the order's id and the buyer's e-mail."""
    return {**order_summary(order), "order_id": str(order.id), "buyer_email": order.buyer_email}


def order_history_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    @api.get(
        "/orders",
        summary="The shop's orders, newest first: by order number, buyer e-mail or payment trade number, "
        "status and creation time; paged by key (next_cursor -> after)",
    )
    async def search_orders(
        shop: ShopScope,
        q: Annotated[SearchText | None, Query(description="Order number, e-mail or trade number")] = None,
        status: Annotated[list[Status] | None, Query()] = None,
        created_from: Annotated[Instant, Query(alias="from")] = None,
        created_before: Annotated[Instant, Query(alias="to", description="Exclusive")] = None,
        after: Annotated[Cursor | None, Query(description="next_cursor of the page before")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        search = OrderSearch(
            text=q,
            statuses=tuple(s.value for s in status or ()),
            created_from=created_from,
            created_before=created_before,
            after=after_cursor(after) if after else None,
            limit=limit,
        )
        page = await order_history.search_orders(shop, search, service.reader())
        return {"items": [seller_summary(o) for o in page.orders], "next_cursor": page.next_cursor}

    @api.get(
        "/orders/{order_no}/history",
        summary="One of the shop's orders with everything recorded about it: transitions (with their "
        "triggers), payments, payments set aside for a refund, refunds, its release for delivery",
    )
    async def history(shop: ShopScope, order_no: OrderNo) -> dict[str, Any]:
        found = await order_history.order_history(shop, order_no, service.uow())
        order = found.order
        return {
            "order": {
                **order_view(service, order, []),
                "buyer_email": order.buyer_email,
                "buyer_ip": order.buyer_ip,
                "locale": order.locale,
                "status_reason": order.status_reason,
            },
            "transitions": found.transitions,
            "payments": found.payments,
            "payment_exceptions": found.payment_exceptions,
            "refunds": found.refunds,
            "releases": found.releases,
        }

    return api
