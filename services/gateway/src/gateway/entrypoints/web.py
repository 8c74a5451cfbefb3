"""The storefront's pages in the buyer's language: the shop's home, a product with its checkout, the order
page (pay, cancel, live status, keys), the order lookup, the pages' static files and, when the sandbox
provider is enabled, its checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from faka_common.errors import DomainError, NotFound, Unavailable
from faka_common.rate_limits import RateLimited
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from gateway.bootstrap import Gateway
from gateway.domain.shops import Shop
from gateway.domain.views import catalog_product
from gateway.entrypoints import pages, telegram
from gateway.entrypoints.access import client_ip
from gateway.entrypoints.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_SECONDS, gettext, language, negotiate
from gateway.entrypoints.requests import (
    PRIVATE,
    PROVIDER,
    checked_order_no,
    place_requested_order,
    read_body,
)
from gateway.entrypoints.schemas import NewOrder, OrderLookup
from gateway.entrypoints.shops import served, storefront_root, storefront_shop
from gateway.service_layer import buyer_secrets, edge
from gateway.service_layer.buyer_secrets import OrderSecret
from gateway.service_layer.challenges import ChallengeRequired, Solution
from gateway.service_layer.paused_products import PAUSED_PRODUCTS
from gateway.service_layer.product_quality import product_quality
from gateway.service_layer.storefront_categories import CATEGORY_NAMES

MAX_FORM_BYTES = 16 * 1024
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The pages' own files, read once: only these names are served (no path from a request reaches the disk).
STATIC_FILES = {
    path.name: (path.read_bytes(), media_type)
    for path, media_type in (
        (STATIC_DIR / "storefront.css", "text/css; charset=utf-8"),
        (STATIC_DIR / "storefront.js", "text/javascript; charset=utf-8"),
    )
}
#: The checkout form's fields as NewOrder names them; `account` is what a recharge asks (a buyer field).
ORDER_FIELDS = (
    "product_id", "quantity", "email", "query_password", "coupon_code", "locale", "phone", "device_id",
)  # fmt: skip
#: What a field's error says, next to the field, in the buyer's language.
FIELD_ERRORS = {
    "product_id": pages.N_("Choose one of the options."),
    "quantity": pages.N_("Enter a whole number from 1 to 1000."),
    "email": pages.N_("Enter a valid e-mail address, like name@example.com."),
    "query_password": pages.N_("Use 6 to 64 characters, or leave it empty."),
    "coupon_code": pages.N_("A coupon has letters, digits, - and _ only."),
    "account": pages.N_("Enter the account to top up."),
    "phone": pages.N_("Enter a phone number with at least 5 digits."),
    # the storefront's script fills it: a bad one was not made by the script; the form says so as a whole
    "device_id": pages.N_("This browser sent a malformed device id: reload the page and buy again."),
}

Token = Annotated[str | None, Query(description="The order's access token")]


def page_context(request: Request) -> pages.PageContext:
    """The request's language (the switch's ?lang=, its cookie, Accept-Language, the shop's default) and
    where the page is."""
    shop: Shop | None = getattr(request.state, "shop", None)
    languages = shop.languages if shop is not None else ()
    lang = negotiate(
        languages,
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
    )
    root = storefront_root(request)
    path = request.url.path.removeprefix(root) or "/"
    query = request.url.query
    if shop is None:
        return pages.PageContext(lang, root, "", path + (f"?{query}" if query else ""))
    return pages.for_shop(shop, lang, root, path + (f"?{query}" if query else ""))


def html(request: Request, content: str, status_code: int = 200, private: bool = True) -> HTMLResponse:
    """A page; a language chosen with the switch is remembered in a cookie."""
    headers = {**(PRIVATE if private else {}), "Vary": "Accept-Language, Cookie"}
    response = HTMLResponse(content, status_code=status_code, headers=headers)
    chosen = language(request.query_params.get("lang"))
    if chosen is not None and chosen != request.cookies.get(LANGUAGE_COOKIE):
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_SECONDS, samesite="lax", httponly=True
        )
    return response


def html_error(request: Request, error: DomainError) -> HTMLResponse:
    ctx = page_context(request)
    response = html(request, pages.error_page(error.status_code, error.message, ctx=ctx), error.status_code)
    if isinstance(error, RateLimited | Unavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def form_fields(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v and v[0]}


def field_errors(error: ValidationError, lang: pages.Language) -> dict[str, str]:
    """Each field's error in the buyer's language (the first one of a field)."""
    found: dict[str, str] = {}
    for detail in error.errors():
        name = str(detail["loc"][0]) if detail["loc"] else "_form"
        name = "account" if name == "buyer_fields" else name
        message = FIELD_ERRORS.get(name)
        found.setdefault(name, gettext(lang, message) if message else str(detail["msg"]))
    return found


def new_order(form: dict[str, str]) -> NewOrder:
    fields: dict[str, Any] = {name: form[name] for name in ORDER_FIELDS if name in form}
    if form.get("account"):
        fields["buyer_fields"] = {"account": form["account"]}
    return NewOrder.model_validate(fields)


def web_router(gw: Gateway) -> APIRouter:
    web = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[storefront_shop(gw)])

    async def product_view(request: Request, product_id: str) -> dict[str, Any]:
        product = catalog_product(await edge.catalog(gw, served(request)), product_id)
        if product is None:
            raise NotFound(gettext(page_context(request).lang, pages.N_("This product is not on sale.")))
        return product

    @web.get("/")
    async def shop(request: Request) -> HTMLResponse:
        try:
            shop = served(request)
            products = await edge.catalog(gw, shop) if shop.takes_orders else []
            categories = await CATEGORY_NAMES.of(gw, shop.id) if products else []
            paused = await PAUSED_PRODUCTS.of(gw, shop.id) if products else frozenset()
        except DomainError as error:
            return html_error(request, error)
        ctx = page_context(request)
        content = pages.shop_page(shop, products, ctx=ctx, categories=categories, paused=paused)
        return html(request, content, private=False)

    @web.get("/products/{product_id}")
    async def product(request: Request, product_id: str) -> HTMLResponse:
        try:
            found = await product_view(request, product_id)
        except DomainError as error:
            return html_error(request, error)
        found["quality"] = await product_quality(gw, served(request).id, product_id, family=True)
        content = pages.product_page(served(request), found, page_context(request), chosen=product_id)
        return html(request, content, private=False)

    @web.post("/shop/orders")
    async def shop_order(request: Request) -> Any:
        ctx = page_context(request)
        try:
            form = form_fields(await read_body(request, MAX_FORM_BYTES))
            try:
                order = new_order(form)
            except ValidationError as error:
                errors = field_errors(error, ctx.lang)
                found = await product_view(request, form.get("product_id", ""))
                content = pages.product_page(served(request), found, ctx, errors, form)
                return html(request, content, 400)
            quality = await product_quality(gw, served(request).id, str(order.product_id))
            if quality is not None and quality["paused"]:  # the page names why it is not sold
                found = {**await product_view(request, str(order.product_id)), "quality": quality}
                return html(request, pages.product_page(served(request), found, ctx, form=form), 409)
            answer = None if "captcha_refresh" in form else form.get("challenge_answer")
            solution = Solution.presented(form.get("challenge"), form.get("challenge_nonce"), answer)
            try:
                placed = await place_requested_order(gw, request, order, solution)
            except ChallengeRequired as asked:
                found = await product_view(request, form.get("product_id", ""))
                content = pages.product_page(
                    served(request), found, ctx, form=form, challenge=asked.body()["challenge"]
                )
                return html(request, content, asked.status_code)
        except DomainError as error:
            return html_error(request, error)
        path = storefront_root(request) + pages.order_page_path(placed["order_no"], placed["token"])
        return RedirectResponse(path, status_code=303)

    @web.get("/orders/{order_no}")
    async def order_page(
        request: Request, order_no: str, token: Token = None, password: Token = None
    ) -> HTMLResponse:
        secret = OrderSecret(token, password)
        try:
            view = await edge.buyer_order(gw, checked_order_no(order_no), secret, client_ip(gw, request))
        except DomainError as error:
            return html_error(request, error)
        link = telegram.deep_link(gw, view.get("order_id"))
        return html(request, pages.order_page(view, link, secret, ctx=page_context(request)))

    @web.post("/orders/{order_no}/pay")
    async def pay(request: Request, order_no: str) -> Any:
        """The order page's pay button: the provider's pay URL (a redirect) or its QR payload (a page)."""
        try:
            form = form_fields(await read_body(request, MAX_FORM_BYTES))
            provider = form.get("provider", "")
            if not PROVIDER.fullmatch(provider):
                raise DomainError("choose one of the order's payment methods")
            secret = OrderSecret(form.get("token"), form.get("password"))
            answer = await buyer_secrets.start_payment(
                gw, checked_order_no(order_no), provider, secret, client_ip(gw, request)
            )
        except DomainError as error:
            return html_error(request, error)
        target = pages.safe_link(answer.get("pay_url")) if isinstance(answer, dict) else None
        if target:
            return RedirectResponse(target, status_code=303, headers=PRIVATE)
        found = answer if isinstance(answer, dict) else {}
        return html(request, pages.qr_payment_page(order_no, found, ctx=page_context(request)))

    @web.post("/orders/{order_no}/cancel")
    async def cancel(request: Request, order_no: str) -> Any:
        """The order page's cancel button: the unpaid order is given up, and its page says so."""
        try:
            form = form_fields(await read_body(request, MAX_FORM_BYTES))
            secret = OrderSecret(form.get("token"), form.get("password"))
            await edge.cancel_order(gw, checked_order_no(order_no), secret, client_ip(gw, request))
        except DomainError as error:
            return html_error(request, error)
        path = storefront_root(request) + pages.order_page_path(order_no, secret.token, secret.password)
        return RedirectResponse(path, status_code=303, headers=PRIVATE)

    @web.get("/lookup")
    async def lookup_page(request: Request) -> HTMLResponse:
        return html(request, pages.lookup_page(page_context(request)))

    @web.post("/lookup")
    async def lookup(request: Request) -> Any:
        """By order number and query password: that order's page, or the same "nothing found" for an
        unknown order and a wrong password. By e-mail and query password: the list of recent orders."""
        ctx = page_context(request)
        try:
            form = form_fields(await read_body(request, MAX_FORM_BYTES))
            password = form.get("password", "")[:64]
            if form.get("by") == "email":
                try:
                    query = OrderLookup(email=form.get("email", ""), password=password)
                except ValidationError:
                    return html(request, pages.lookup_page(ctx, found=[], form=form), 404)
                ip = client_ip(gw, request)
                found = await buyer_secrets.buyer_orders(gw, query.email, query.password, ip)
                items = [
                    {
                        **item,
                        "link": pages.relative(
                            pages.order_page_path(str(item["order_no"]), password=password)
                        ),
                    }
                    for item in found["items"]
                ]
                return html(request, pages.lookup_page(ctx, found=items, form=form), 200 if items else 404)
            order_no = form.get("order_no", "").strip()
            secret = OrderSecret(password=password)
            try:
                await buyer_secrets.order_for(gw, checked_order_no(order_no), secret, client_ip(gw, request))
            except DomainError as error:
                if error.status_code != 404:
                    raise
                return html(request, pages.lookup_page(ctx, not_found=True, form=form), 404)
        except DomainError as error:
            return html_error(request, error)
        path = storefront_root(request) + pages.order_page_path(order_no, password=password)
        return RedirectResponse(path, status_code=303, headers=PRIVATE)

    @web.get("/static/{name}")
    async def static(name: str) -> Response:
        found = STATIC_FILES.get(name)
        if found is None:
            raise NotFound(f"no file {name[:64]!r}")
        content, media_type = found
        return Response(content, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})

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
            return html_error(request, error)
        return html(request, pages.sandbox_checkout_page(order, token or "", ctx=page_context(request)))

    @sandbox.post("/pay/sandbox/{order_no}/complete")
    async def sandbox_complete(request: Request, order_no: str, token: Token = None) -> HTMLResponse:
        try:
            order = await edge.complete_sandbox_payment(
                gw, checked_order_no(order_no), token, client_ip(gw, request)
            )
        except DomainError as error:
            return html_error(request, error)
        return html(request, pages.payment_received_page(order, token or "", ctx=page_context(request)))

    return sandbox
