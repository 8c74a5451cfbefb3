"""The platform console (/console/platform/…, platform staff only: a shop's people get the 403 page and no
navigation to it): the shops with their status (approve a pending one, suspend and resume, open one), the
platform's sales and order health (the dashboard's figures over every shop) and the audit log across shops.
Shells of the console's own (`console_page`); static/console_admin.js and console.js's dashboard fetch
their data from the platform API, which decides again (platform:read to read, platform:write to change)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.entrypoints.console_pages import Section
from gateway.entrypoints.console_settings import admin_strings
from gateway.entrypoints.pages import N_

ConsolePage = Callable[..., Awaitable[Response]]

PLATFORM_TABS = (
    Section("shops", "console/platform/shops", "platform:read", N_("Shops")),
    Section("figures", "console/platform/figures", "platform:read", N_("Sales and health")),
    Section("audit", "console/platform/audit", "platform:read", N_("Audit log")),
)
SHOP_STATUSES = {
    "pending": N_("Waiting for approval"),
    "active": N_("Open"),
    "suspended": N_("Suspended"),
    "closed": N_("Closed"),
}
#: What the platform's pages show besides the admin script's strings.
PLATFORM_STRINGS = {
    "approve": N_("Approve"),
    "suspend": N_("Suspend"),
    "resume": N_("Resume"),
    "shop_now": N_("%(name)s: %(status)s."),
    "shop_opened": N_("The shop %(name)s is open at /s/%(slug)s/."),
    "no_shops": N_("No shops match."),
    "fee_default": N_("The platform's default"),
    "fee_rate": N_("Fee in basis points (250 is 2.5 percent)"),
    "set_fee": N_("Set the fee"),
    "fee_set": N_("%(name)s: the fee is now %(rate)s."),
    **{f"shop_{status}": label for status, label in SHOP_STATUSES.items()},
}


def add_platform_pages(web: APIRouter, console_page: ConsolePage) -> None:
    """The platform's pages on the console's router, drawn by its `console_page`."""

    async def platform_page(request: Request, key: str, template: str, **values: Any) -> Response:
        return await console_page(
            request, "platform", template, tabs=PLATFORM_TABS, tab=key, tabs_label=N_("Platform"),
            admin_strings=admin_strings(request, PLATFORM_STRINGS), **values,
        )  # fmt: skip

    @web.get("/console/platform/shops")
    async def shops(request: Request) -> Response:
        return await platform_page(request, "shops", "platform_shops.html", statuses=SHOP_STATUSES)

    @web.get("/console/platform/figures")
    async def figures(request: Request) -> Response:
        heading = N_("Sales and health")
        source = "/api/platform/figures"
        return await platform_page(request, "figures", "dashboard.html", source=source, heading=heading)

    @web.get("/console/platform/audit")
    async def audit(request: Request) -> Response:
        return await platform_page(request, "audit", "audit.html", source="/api/platform/audit")
