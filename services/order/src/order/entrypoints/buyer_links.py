"""The buyer's lost order link (docs/internal-api.md, order): the gateway passes on a buyer's request for it,
and notification, about to e-mail it, has a token issued now. The token travels in a response body only."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from faka_common.fields import Line
from faka_common.http import OptionalShopScope, ShopScope, combined, internal_router
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from order.bootstrap import Service
from order.domain.model import Order
from order.entrypoints.http import order_tokens
from order.service_layer import services

#: An order number as issued (a NUL or a bidirectional control here would reach Postgres or the logs: 422).
OrderNo = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
#: The one answer to a link request, whether or not the order exists and the address is its buyer's.
ACCEPTED = {"status": "accepted"}


class LinkEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Line = Field(min_length=1, max_length=254, examples=["buyer@example.com"])


class LinkEmailAccepted(BaseModel):
    status: str = Field(examples=["accepted"])


class OrderLink(BaseModel):
    order_no: str
    url: str = Field(description="The buyer's order page, holding a token issued now")
    token_expires_at: str | None


async def order_page_url(service: Service, order: Order, token: str) -> str:
    """The order's page in its shop's storefront (/s/<slug>/orders/…), at the root for the default shop
    and for a shop not known yet (the root opens any shop's order)."""
    root = await services.shop_root(order.shop_id, service.uow())
    base = service.settings.public_base_url.rstrip("/") + root
    return f"{base}/orders/{quote(order.order_no, safe='')}?{urlencode({'token': token})}"


def buyer_links_router(service: Service) -> APIRouter:
    tokens = order_tokens(service)
    requests = internal_router(service.settings, callers={"gateway"})
    links = internal_router(service.settings, callers={"notification"})

    @requests.post(
        "/orders/{order_no}/link-emails",
        status_code=202,
        summary="A buyer asks for the order's link by e-mail; the same 202 whatever the address",
        response_model=LinkEmailAccepted,
    )
    async def request_link_email(
        shop: OptionalShopScope, order_no: OrderNo, body: LinkEmailRequest
    ) -> dict[str, str]:
        await services.request_order_link(shop, order_no, body.email, service.uow())
        return ACCEPTED

    @links.post(
        "/orders/{order_no}/links",
        summary="The order page's URL with a token issued now (for the e-mail the buyer asked for)",
    )
    async def issue_link(shop: ShopScope, order_no: OrderNo) -> OrderLink:
        issued = await services.fresh_token(shop, order_no, service.uow(), tokens)
        expiry = tokens.expires_at(issued.token)
        return OrderLink(
            order_no=issued.order.order_no,
            url=await order_page_url(service, issued.order, issued.token),
            token_expires_at=expiry.isoformat() if expiry else None,
        )

    return combined(requests, links)
