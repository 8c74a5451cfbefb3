"""The browser pages: the shop, the order page and the sandbox provider's checkout."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from faka_common.errors import DomainError
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from gateway.bootstrap import Gateway
from gateway.entrypoints import pages, telegram
from gateway.entrypoints.http import PRIVATE, checked_order_no, client_ip, order_payload, read_body
from gateway.entrypoints.schemas import NewOrder
from gateway.service_layer import edge

MAX_FORM_BYTES = 16 * 1024

Token = Annotated[str | None, Query(description="The order's access token")]


def html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers=PRIVATE)


def html_error(error: DomainError) -> HTMLResponse:
    return html(pages.error_page(error.status_code, error.message), error.status_code)


def form_errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


def web_router(gw: Gateway) -> APIRouter:
    web = APIRouter(tags=["pages"], include_in_schema=False)

    @web.get("/")
    async def shop() -> HTMLResponse:
        try:
            return HTMLResponse(pages.shop_page(await edge.catalog(gw)))
        except DomainError as error:
            return html_error(error)

    @web.post("/shop/orders")
    async def shop_order(request: Request) -> Any:
        try:
            body = await read_body(request, MAX_FORM_BYTES)
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v and v[0]}
            try:
                order = NewOrder.model_validate(form)
            except ValidationError as error:
                raise DomainError(form_errors(error)) from error
            placed = await edge.place_order(
                gw,
                order_payload(order, request.headers.get("accept-language")),
                client_ip(request),
            )
        except DomainError as error:
            return html_error(error)
        return RedirectResponse(pages.order_page_path(placed["order_no"], placed["token"]), status_code=303)

    @web.get("/orders/{order_no}")
    async def order_page(
        request: Request, order_no: str, token: Token = None, password: Token = None
    ) -> HTMLResponse:
        try:
            view = await edge.buyer_order(
                gw, checked_order_no(order_no), edge.OrderSecret(token, password), client_ip(request)
            )
        except DomainError as error:
            return html_error(error)
        return html(pages.order_page(view, telegram.deep_link(gw, view.get("order_id"))))

    @web.get("/pay/sandbox/{order_no}")
    async def sandbox_checkout(order_no: str, token: Token = None) -> HTMLResponse:
        try:
            order = await edge.fetch_order(gw, checked_order_no(order_no), edge.OrderSecret(token=token))
        except DomainError as error:
            return html_error(error)
        return html(pages.sandbox_checkout_page(order, token or ""))

    @web.post("/pay/sandbox/{order_no}/complete")
    async def sandbox_complete(order_no: str, token: Token = None) -> HTMLResponse:
        try:
            order = await edge.complete_sandbox_payment(gw, checked_order_no(order_no), token)
        except DomainError as error:
            return html_error(error)
        return html(pages.payment_received_page(order, token or ""))

    return web
