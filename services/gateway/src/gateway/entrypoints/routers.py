"""Every router of the gateway, and a bare app around them (no runtime) for tests and tools."""

from __future__ import annotations

from faka_common.http import install_error_handlers
from fastapi import APIRouter, FastAPI

from gateway.bootstrap import Gateway
from gateway.entrypoints.aftersales import aftersales_router
from gateway.entrypoints.catalog_admin import catalog_admin_router
from gateway.entrypoints.console_auth import console_auth_router
from gateway.entrypoints.console_pages import console_pages_router
from gateway.entrypoints.dashboard import dashboard_router
from gateway.entrypoints.delivery_admin import delivery_admin_router
from gateway.entrypoints.http import admin_router, install_edge_handlers, payments_router, storefront_router
from gateway.entrypoints.notification_admin import notification_admin_router
from gateway.entrypoints.order_events import order_events_router
from gateway.entrypoints.order_links import order_links_router
from gateway.entrypoints.orders import orders_router
from gateway.entrypoints.payment_admin import payment_admin_router
from gateway.entrypoints.people_admin import people_admin_router
from gateway.entrypoints.risk_admin import risk_admin_router
from gateway.entrypoints.shops import ShopPaths
from gateway.entrypoints.shops_admin import shops_admin_router
from gateway.entrypoints.telegram import telegram_router
from gateway.entrypoints.tickets import tickets_router
from gateway.entrypoints.web import web_router


def routers(gw: Gateway) -> list[APIRouter]:
    """In the order a request's path is matched against them: FastAPI walks the routes one by one (route
    matching was about a tenth of the gateway's CPU per buyer request), so the buyer's hot routes come first
    (placing, the order and its event stream, the providers' notifications). No path of one router is also
    a path of another, so the order changes what is tried first, never which route answers."""
    return [
        storefront_router(gw),
        order_events_router(gw),
        payments_router(gw),
        admin_router(gw),
        shops_admin_router(gw),
        catalog_admin_router(gw),
        delivery_admin_router(gw),
        people_admin_router(gw),
        payment_admin_router(gw),
        notification_admin_router(gw),
        risk_admin_router(gw),
        orders_router(gw),
        order_links_router(gw),
        web_router(gw),
        telegram_router(gw),
        console_auth_router(gw),
        console_pages_router(gw),
        dashboard_router(gw),
        tickets_router(gw),
        aftersales_router(gw),
    ]


def edge_app(gw: Gateway) -> FastAPI:
    """The gateway's routes and error mapping without the runtime (no Kafka, no Postgres)."""
    app = FastAPI(title="faka gateway (bare)")
    install_error_handlers(app)
    install_edge_handlers(app)
    for router in routers(gw):
        app.include_router(router)
    app.add_middleware(ShopPaths)
    return app
