"""The buyer's lost order link: `POST /api/v1/orders/{order_no}/link-emails` e-mails it again to the address
the order was placed with, answering the same 202 whatever the order and the address."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse

from gateway.bootstrap import Gateway
from gateway.entrypoints.access import client_ip
from gateway.entrypoints.requests import ORDER_NO, PRIVATE
from gateway.entrypoints.responses import BUYER
from gateway.entrypoints.schemas import LinkEmailAccepted, LinkEmailRequest
from gateway.entrypoints.shops import storefront_shop
from gateway.service_layer import order_links


def order_links_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/v1", tags=["storefront"], responses=BUYER, dependencies=[storefront_shop(gw)]
    )

    @api.post(
        "/orders/{order_no}/link-emails",
        status_code=202,
        summary="E-mail the order's link again to the address the order was placed with",
        description="For a buyer who lost the link. When `email` is the order's address (case does not "
        "matter), a link holding a fresh token is e-mailed to it within seconds; the answer is the same "
        "202 for any order number and any address, and says nothing about either. Every request counts "
        "per client address and per order number (429 with Retry-After when a window is full).",
        response_model=LinkEmailAccepted,
        responses={
            429: {**BUYER[429], "description": "Too many link requests from this address or for this order"}
        },
    )
    async def request_link_email(
        order_no: str, body: LinkEmailRequest, request: Request, background: BackgroundTasks
    ) -> JSONResponse:
        number = order_no if ORDER_NO.fullmatch(order_no) else None
        await order_links.count_request(gw, number, client_ip(gw, request))
        if number is not None:
            background.add_task(order_links.pass_on, gw, number, body.email)
        return JSONResponse(order_links.ACCEPTED, status_code=202, headers=PRIVATE, background=background)

    return api
