"""The owners the gateway calls: their internal HTTP APIs, reached through faka_common's InternalClient."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import httpx
from faka_common.errors import Unavailable
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential


class Owner(Protocol):
    """What the gateway needs of an owner's client: a request whose 4xx come back as DomainErrors."""

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...

    async def aclose(self) -> None: ...


def owner_client(base_url: str, credential: ServiceCredential) -> Owner:
    return InternalClient(base_url, credential)


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
        raise Unavailable(f"{response.request.url.host} answered with a body that is not JSON") from error
