"""The buyer's order link, issued by the order service at send time (never stored, logged or published here):
`POST /internal/orders/{order_no}/links`, the token in the response body, never in a URL between services."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote
from uuid import UUID

from faka_common.http import InternalClient
from pydantic import BaseModel

from notification.adapters.answers import parse_answer
from notification.domain.model import NotificationError


class LinkSource(Protocol):
    async def order_link(self, shop_id: UUID, order_no: str) -> str:
        """The shop's order page URL with a token issued now; raises (NotFound, Unavailable, ...)
        otherwise."""


class _LinkBody(BaseModel):
    order_no: str
    url: str


class OrderLinks:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def order_link(self, shop_id: UUID, order_no: str) -> str:
        response = await self._client.request(
            "POST", f"/internal/orders/{quote(order_no, safe='')}/links", shop=shop_id
        )
        body = parse_answer(_LinkBody, response, "order answered an unexpected link body")
        if body.order_no != order_no:
            raise NotificationError(f"order answered a link for another order than {order_no}")
        return body.url
