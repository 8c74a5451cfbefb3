"""The seller's dashboard figures of one shop over a period of days, and the same figures over every shop
for the platform console (docs/internal-api.md, order)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query

from order.bootstrap import Service
from order.domain.figures import Period, totals
from order.service_layer.shop_figures import shop_figures

First = Annotated[date, Query(description="The period's first day")]
Last = Annotated[date, Query(description="Its last day (included)")]
TimeZone = Annotated[str, Query(max_length=64, description="IANA time zone the days are cut in")]


def shop_figures_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    async def figures_of(shop: UUID | None, period: Period) -> dict[str, Any]:
        found = await shop_figures(shop, period, service.reader())
        rows = found.rows
        return {
            "time_zone": found.period.time_zone,
            "first": found.period.first.isoformat(),
            "last": found.period.last.isoformat(),
            "days": [day.view() for day in found.days],
            "totals": totals(found.days),
            "by_status": rows.by_status,
            "delivery_latency": rows.latency,
            "hot_products": [{**p, "quantity": int(p["quantity"])} for p in rows.hot_products],
            "refunds": [{**r, "amount": int(r["amount"])} for r in rows.refunds],
            "gmv_by_shop": [{**g, "amount": int(g["amount"])} for g in rows.gmv_by_shop],
        }

    @api.get(
        "/shop-figures",
        summary="The shop's sales from `first` to `last` (calendar days in `tz`, both included): orders "
        "placed and paid and GMV per day and in all, placed orders by status now, paid→delivered latency, "
        "the ten most paid-for products, refunds asked",
    )
    async def figures(shop: ShopScope, first: First, last: Last, tz: TimeZone = "UTC") -> dict[str, Any]:
        return await figures_of(shop, Period(first, last, tz))

    @api.get(
        "/platform-figures",
        summary="The same figures over every shop of the platform together (the platform console's)",
    )
    async def platform_figures(first: First, last: Last, tz: TimeZone = "UTC") -> dict[str, Any]:
        return await figures_of(None, Period(first, last, tz))

    return api
