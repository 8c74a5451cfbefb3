"""The owners the gateway calls: their internal HTTP APIs, reached through faka_common's InternalClient."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote
from uuid import UUID

import httpx
from faka_common.errors import Unavailable
from faka_common.http import ANSWERED_BY, InternalClient
from faka_common.service_auth import ServiceCredential


class Owner(Protocol):
    """What the gateway needs of an owner's client: a request whose 4xx come back as DomainErrors."""

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...

    async def aclose(self) -> None: ...


def owner_client(base_url: str, credential: ServiceCredential) -> Owner:
    return InternalClient(base_url, credential)


@dataclass(frozen=True)
class ServedShop:
    """The shop a request is served for: `named` when the request said which (its /s/<slug> path, its
    host, an admin's X-Shop-Id), not when the platform's root served it as the default shop."""

    shop_id: UUID
    named: bool


served_shop: ContextVar[ServedShop] = ContextVar("served_shop")
"""Set once per request by the entrypoints' shop dependency, before any owner is called."""


class ShopOwner:
    """An owner's client whose every call names the shop of the request being served (X-Shop-Id), so no
    route can forget it; a call made outside a shop's request fails instead of acting for some shop.
    `platform=True` marks the calls that serve the whole platform when the request named no shop (a
    buyer's order opened by its secret from an e-mailed link, a signed payment notification) or is none
    of a shop's (a platform route)."""

    def __init__(self, client: Owner) -> None:
        self._client = client

    async def request(
        self,
        method: str,
        path: str,
        *,
        platform: bool = False,
        shop: UUID | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """`shop`: a thing of that shop, found by this request (the buyer's order it opened), is fetched."""
        served = served_shop.get(None)
        if served is None and not platform:
            raise RuntimeError(f"{method} {path} called outside a shop's request")
        if shop is None and served is not None:
            shop = None if platform and not served.named else served.shop_id
        return await self._client.request(method, path, shop=shop, **kwargs)

    async def aclose(self) -> None:
        await self._client.aclose()


def provider_client(timeout: float = 10.0) -> httpx.AsyncClient:
    """How the sandbox provider reaches the gateway's public notify URL (real HTTP, as a provider would)."""
    return httpx.AsyncClient(timeout=timeout)


def segment(value: str) -> str:
    """A path segment for an internal URL; never lets a caller steer the path."""
    return quote(value, safe="")


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        service = response.extensions.get(ANSWERED_BY, "an internal service")
        raise Unavailable(f"{service} answered with a body that is not JSON") from error
