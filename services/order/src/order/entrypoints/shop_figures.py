"""The seller's dashboard figures of one shop over a period of days (docs/internal-api.md, order)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query

from order.bootstrap import Service
from order.domain.figures import Period, totals
from order.service_layer.shop_figures import shop_figures


def shop_figures_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    @api.get(
        "/shop-figures",
        summary="The shop's sales from `first` to `last` (calendar days in `tz`, both included): orders "
        "placed and paid and GMV per day and in all, placed orders by status now, paid→delivered latency, "
        "the ten most paid-for products, refunds asked",
    )
    async def figures(
        shop: ShopScope,
        first: Annotated[date, Query(description="The period's first day")],
        last: Annotated[date, Query(description="Its last day (included)")],
        tz: Annotated[str, Query(max_length=64, description="IANA time zone the days are cut in")] = "UTC",
    ) -> dict[str, Any]:
        found = await shop_figures(shop, Period(first, last, tz), service.reader())
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
        }

    return api
