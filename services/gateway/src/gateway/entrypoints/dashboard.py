"""The seller's dashboard figures (GET /api/admin/dashboard) and their daily series as CSV; the platform
console's figures over every shop (GET /api/platform/figures)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from gateway.adapters.owners import served_shop
from gateway.bootstrap import Gateway
from gateway.domain.access import Principal
from gateway.domain.dashboard import daily_csv, delivery_csv
from gateway.entrypoints.access import admin_api, platform_api, requires
from gateway.entrypoints.requests import PRIVATE
from gateway.service_layer.shop_figures import dashboard, delivery_figures, platform_figures

Days = Annotated[int, Query(ge=1, le=90, description="Days up to today (included): 7 or 30 on the page")]
CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "One row a day", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


def dashboard_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin"])

    @api.get(
        "/dashboard",
        summary="The shop's sales of the last days (UTC days): orders, paid orders and GMV by currency per "
        "day, today and in all; placed orders by status; paid->delivered latency p50/p95; the ten most "
        "paid-for products; refunds; products low on stock",
        dependencies=[requires(gw, "orders:read")],
    )
    async def figures(request: Request, days: Days = 7) -> JSONResponse:
        """Low stock is shown to whom the shop lets read the catalog (null for the others)."""
        principal: Principal = request.state.principal
        with_stock = "catalog:read" in principal.permissions_in(served_shop.get().shop_id)
        return JSONResponse(await dashboard(gw, days, with_stock), headers=PRIVATE)

    @api.get(
        "/dashboard/daily.csv",
        summary="The dashboard's daily series as CSV: day, orders, paid_orders, gmv_<currency> (major units)",
        response_class=Response,
        responses=CSV,
        dependencies=[requires(gw, "orders:read")],
    )
    async def daily(days: Days = 7) -> Response:
        found: dict[str, Any] = await dashboard(gw, days, with_stock=False)
        name = f"daily-{found['first']}-{found['last']}.csv"
        headers = {**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(daily_csv(found["days"]), media_type="text/csv; charset=utf-8", headers=headers)

    @api.get(
        "/dashboard/deliveries",
        summary="The shop's delivery success of the last days (UTC days): deliveries by mode, attempts by "
        "channel and by supplier (succeeded, failed, open), and `rows`, one table of them with each "
        "success rate among the finished",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def deliveries(days: Days = 7) -> JSONResponse:
        return JSONResponse(await delivery_figures(gw, days), headers=PRIVATE)

    @api.get(
        "/dashboard/deliveries.csv",
        summary="The delivery success table as CSV: group (mode, channel, supplier), name, total, succeeded, "
        "failed, success_rate (0-1, empty when nothing finished)",
        response_class=Response,
        responses={200: {"description": "One row a mode, channel or supplier",
                         "content": {"text/csv": {"schema": {"type": "string"}}}}},
        dependencies=[requires(gw, "delivery:read")],
    )  # fmt: skip
    async def deliveries_csv(days: Days = 7) -> Response:
        found = await delivery_figures(gw, days)
        name = f"deliveries-{found['first']}-{found['last']}.csv"
        headers = {**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(delivery_csv(found["rows"]), media_type="text/csv; charset=utf-8", headers=headers)

    platform = platform_api(gw)

    @platform.get(
        "/figures",
        summary="The whole platform's sales of the last days: the dashboard's figures over every shop "
        "together (no low stock)",
        dependencies=[requires(gw, "platform:read")],
    )
    async def every_shops_figures(days: Days = 7) -> JSONResponse:
        return JSONResponse(await platform_figures(gw, days), headers=PRIVATE)

    router = APIRouter()
    router.include_router(api)
    router.include_router(platform)
    return router
