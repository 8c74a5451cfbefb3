"""The order service's HTTP app: its internal routes on the shared app (health, metrics, error answers)."""

from __future__ import annotations

from faka_common.db.resealing import resealing_router
from faka_common.http import create_app
from fastapi import FastAPI

from order.adapters.payment_channels import SEALED
from order.bootstrap import Service
from order.entrypoints.buyer_links import buyer_links_router
from order.entrypoints.http import router
from order.entrypoints.order_history import order_history_router
from order.entrypoints.payment_channels import payment_channels_router
from order.entrypoints.pricing import pricing_router
from order.entrypoints.shop_figures import shop_figures_router


def order_app(service: Service) -> FastAPI:
    return create_app(
        service.runtime,
        [
            router(service),
            pricing_router(service),
            buyer_links_router(service),
            order_history_router(service),
            shop_figures_router(service),
            payment_channels_router(service),
            resealing_router(
                service.settings, service.runtime.sessions, service.settings.keyring(), [SEALED]
            ),
        ],
        title="faka order service",
    )
