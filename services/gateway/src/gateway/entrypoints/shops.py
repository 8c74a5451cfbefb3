"""Which shop a request is for: /s/<slug>/… (any route, the storefront's pages and API alike), a shop's own
domain, or the platform's root, which serves the default shop (an admin route acts for the shop
`entrypoints.access.requires` says)."""

from __future__ import annotations

import re
from typing import Any

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound
from fastapi import Depends, Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.adapters.owners import ServedShop, served_shop
from gateway.bootstrap import Gateway
from gateway.domain.shops import SLUG, Shop

SHOP_PATH = re.compile(r"^/s/([^/]+)(?=/|$)")


class NoSuchShop(NotFound):
    """No shop at this path or host (a page route shows it as a page, an API route as JSON)."""


class ShopPaths:
    """Serves /s/<slug>/… as the app's own routes under that root path (links and redirects built from the
    root path stay in the shop), remembering the slug for the shop dependency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            found = SHOP_PATH.match(scope["path"])
            if found and scope["path"] == found.group(0) and scope["type"] == "http":
                # /s/<slug> is the shop's front page: its links are relative to /s/<slug>/
                await RedirectResponse(found.group(0) + "/", status_code=308)(scope, receive, send)
                return
            if found:
                state = {**scope.get("state", {}), "shop_slug": found.group(1)}
                scope = {**scope, "root_path": scope.get("root_path", "") + found.group(0), "state": state}
        await self.app(scope, receive, send)


def served(request: Request) -> Shop:
    """The shop the request's shop dependency resolved."""
    shop: Shop = request.state.shop
    return shop


def storefront_root(request: Request) -> str:
    """The path the shop's storefront lives under: "" at the root, "/s/<slug>" for a shop path."""
    return str(request.scope.get("root_path", ""))


async def shop_of_request(gw: Gateway, request: Request) -> tuple[Shop, bool]:
    slug = getattr(request.state, "shop_slug", None)
    if slug is not None:
        if not SLUG.fullmatch(slug):
            raise NoSuchShop(f"no shop at /s/{slug[:64]}")
        try:
            return await gw.shops.by_slug(slug), True
        except NotFound as error:
            raise NoSuchShop(error.message) from None
    host = (request.url.hostname or "").lower()
    if host and host not in gw.settings.own_hosts:
        shop = await gw.shops.by_host(host)
        if shop is None:
            raise NoSuchShop(f"no shop at {host}")
        return shop, True
    return await gw.shops.by_id(DEFAULT_SHOP_ID), False


def storefront_shop(gw: Gateway) -> Any:
    """A dependency: the shop a storefront request is for, which every owner call of the request names."""

    async def resolve(request: Request) -> Shop:
        shop, named = await shop_of_request(gw, request)
        served_shop.set(ServedShop(shop.id, named))
        request.state.shop = shop
        return shop

    return Depends(resolve)
