"""The browser pages: the shop, the order page (with a pay button per offered payment method) and, when the
sandbox provider is enabled, its checkout."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from faka_common.errors import DomainError
from faka_common.rate_limits import RateLimited
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from gateway.bootstrap import Gateway
from gateway.entrypoints import pages, telegram
from gateway.entrypoints.access import client_ip
from gateway.entrypoints.requests import PRIVATE, PROVIDER, checked_order_no, order_payload, read_body
from gateway.entrypoints.schemas import NewOrder
from gateway.entrypoints.shops import served, storefront_root, storefront_shop
from gateway.service_layer import buyer_secrets, edge
from gateway.service_layer.buyer_secrets import OrderSecret

MAX_FORM_BYTES = 16 * 1024

Token = Annotated[str | None, Query(description="The order's access token")]


def html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers=PRIVATE)


def html_error(error: DomainError, root: str = "") -> HTMLResponse:
    response = html(pages.error_page(error.status_code, error.message, root), error.status_code)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def form_errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


def web_router(gw: Gateway) -> APIRouter:
    web = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[storefront_shop(gw)])

    @web.get("/")
    async def shop(request: Request) -> HTMLResponse:
        try:
            shop = served(request)
            return HTMLResponse(pages.shop_page(shop, await edge.catalog(gw, shop), storefront_root(request)))
        except DomainError as error:
            return html_error(error, storefront_root(request))

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
                served(request),
                storefront_root(request),
                order_payload(order, request.headers.get("accept-language")),
                client_ip(gw, request),
            )
        except DomainError as error:
            return html_error(error, storefront_root(request))
        path = storefront_root(request) + pages.order_page_path(placed["order_no"], placed["token"])
        return RedirectResponse(path, status_code=303)

    @web.get("/orders/{order_no}")
    async def order_page(
        request: Request, order_no: str, token: Token = None, password: Token = None
    ) -> HTMLResponse:
        try:
            view = await edge.buyer_order(
                gw, checked_order_no(order_no), OrderSecret(token, password), client_ip(gw, request)
            )
        except DomainError as error:
            return html_error(error, storefront_root(request))
        secret = OrderSecret(token, password)
        link = telegram.deep_link(gw, view.get("order_id"))
        return html(pages.order_page(view, link, secret, storefront_root(request)))

    @web.post("/orders/{order_no}/pay")
    async def pay(request: Request, order_no: str) -> Any:
        """The order page's pay button: the provider's pay URL (a redirect) or its QR payload (a page)."""
        try:
            body = await read_body(request, MAX_FORM_BYTES)
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v and v[0]}
            provider = form.get("provider", "")
            if not PROVIDER.fullmatch(provider):
                raise DomainError("choose one of the order's payment methods")
            secret = OrderSecret(form.get("token"), form.get("password"))
            answer = await buyer_secrets.start_payment(
                gw, checked_order_no(order_no), provider, secret, client_ip(gw, request)
            )
        except DomainError as error:
            return html_error(error, storefront_root(request))
        target = pages.safe_link(answer.get("pay_url")) if isinstance(answer, dict) else None
        if target:
            return RedirectResponse(target, status_code=303, headers=PRIVATE)
        found = answer if isinstance(answer, dict) else {}
        return html(pages.qr_payment_page(order_no, found, storefront_root(request)))

    if gw.settings.sandbox_enabled:
        web.include_router(sandbox_router(gw))
    return web


def sandbox_router(gw: Gateway) -> APIRouter:
    """The sandbox provider's checkout (a pretend provider: mounted only when it is enabled)."""
    sandbox = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[storefront_shop(gw)])

    @sandbox.get("/pay/sandbox/{order_no}")
    async def sandbox_checkout(request: Request, order_no: str, token: Token = None) -> HTMLResponse:
        try:
            order = await buyer_secrets.order_for(
                gw, checked_order_no(order_no), OrderSecret(token=token), client_ip(gw, request)
            )
        except DomainError as error:
            return html_error(error, storefront_root(request))
        return html(pages.sandbox_checkout_page(order, token or "", storefront_root(request)))

    @sandbox.post("/pay/sandbox/{order_no}/complete")
    async def sandbox_complete(request: Request, order_no: str, token: Token = None) -> HTMLResponse:
        try:
            order = await edge.complete_sandbox_payment(
                gw, checked_order_no(order_no), token, client_ip(gw, request)
            )
        except DomainError as error:
            return html_error(error, storefront_root(request))
        return html(pages.payment_received_page(order, token or "", storefront_root(request)))

    return sandbox
