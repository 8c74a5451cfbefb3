"""The public HTTP API: admin (a console session or an API token, see `access`), storefront, payment
webhooks; plus the JSON 404/405."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from faka_common.errors import NotFound
from faka_common.http import error_body, too_many
from faka_common.rate_limits import RateLimited
from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gateway.bootstrap import Gateway
from gateway.entrypoints.access import admin_api, client_ip, requires
from gateway.entrypoints.pages import error_page
from gateway.entrypoints.requests import (
    PRIVATE,
    PROVIDER,
    checked_order_no,
    place_requested_order,
    read_body,
)
from gateway.entrypoints.responses import BUYER, PROVIDER_ANSWER, WEBHOOK
from gateway.entrypoints.schemas import NewOrder, NewProduct, OrderSecretBody
from gateway.entrypoints.shops import NoSuchShop, served, storefront_root, storefront_shop
from gateway.service_layer import edge
from gateway.service_layer.buyer_secrets import OrderSecret
from gateway.service_layer.challenges import ChallengeAnswer, ChallengeRequired, Solution

ROUTE_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin"])

    @api.post(
        "/products", status_code=201, summary="Create a product", dependencies=[requires(gw, "catalog:write")]
    )
    async def create_product(product: NewProduct) -> Any:
        return await edge.create_product(gw, product.model_dump(mode="json"))

    @api.get("/products", summary="Every product with its stock", dependencies=[requires(gw, "catalog:read")])
    async def list_products() -> Any:
        return await edge.list_products(gw)

    @api.get(
        "/products/{product_id}",
        summary="One product with its stock",
        dependencies=[requires(gw, "catalog:read")],
    )
    async def get_product(product_id: UUID) -> Any:
        return await edge.get_product(gw, product_id)

    return api


def storefront_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/v1", tags=["storefront"], responses=BUYER, dependencies=[storefront_shop(gw)]
    )

    @api.get("/products", summary="Products on sale")
    async def products(request: Request) -> dict[str, Any]:
        return {"items": await edge.catalog(gw, served(request))}

    @api.post(
        "/orders",
        status_code=201,
        summary="Place an order; rate-limited per client address and per e-mail (429 with Retry-After)",
        description="When the shop's risk rules ask for a challenge the answer is 428 with one: solve it "
        "(SHA-256 proof of work, or a captcha's characters) and send the order again with X-Challenge and "
        "X-Challenge-Nonce (or X-Challenge-Answer).",
        responses={428: {"model": ChallengeAnswer, "description": "Solve the challenge first"}},
    )
    async def place_order(
        order: NewOrder,
        request: Request,
        x_challenge: Annotated[
            str | None, Header(max_length=200, description="The challenge a 428 gave")
        ] = None,
        x_challenge_nonce: Annotated[
            str | None, Header(max_length=40, description="The nonce that solves it")
        ] = None,
        x_challenge_answer: Annotated[
            str | None, Header(max_length=40, description="A captcha's characters")
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                min_length=1,
                max_length=255,
                description="Retry-safe creation: the same key and body get the first answer again; "
                "the same key with another body is a 409",
            ),
        ] = None,
    ) -> dict[str, Any]:
        solution = Solution.presented(x_challenge, x_challenge_nonce, x_challenge_answer)
        return await place_requested_order(gw, request, order, solution, idempotency_key)

    @api.get(
        "/orders/{order_no}",
        summary="An order (with its keys once delivered); failed attempts are rate-limited (429)",
    )
    async def get_order(
        order_no: str,
        request: Request,
        token: Annotated[
            str | None, Query(description="The token returned when the order was placed")
        ] = None,
        password: Annotated[str | None, Query(description="The query password chosen by the buyer")] = None,
    ) -> JSONResponse:
        secret = OrderSecret(token, password)
        view = await edge.buyer_order(gw, checked_order_no(order_no), secret, client_ip(gw, request))
        return JSONResponse(view, headers=PRIVATE)

    @api.post(
        "/orders/{order_no}/cancel",
        summary="Cancel an unpaid order (its stock and coupon use are given back); 409 once paid",
    )
    async def cancel_order(order_no: str, body: OrderSecretBody, request: Request) -> JSONResponse:
        secret = OrderSecret(body.token, body.password)
        view = await edge.cancel_order(gw, checked_order_no(order_no), secret, client_ip(gw, request))
        return JSONResponse(view, headers=PRIVATE)

    return api


def payments_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/v1/payments", tags=["payments"], responses=WEBHOOK, dependencies=[storefront_shop(gw)]
    )

    @api.post(
        "/{provider}/notify",
        summary="Payment provider notification (forwarded verbatim to the order service)",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        },
        responses={200: PROVIDER_ANSWER},
    )
    async def notify(provider: str, request: Request) -> Response:
        if not PROVIDER.fullmatch(provider):
            raise NotFound(f"unknown payment provider {provider[:32]!r}")
        body = await read_body(request, gw.settings.max_notification_bytes)
        status, answer, media_type = await edge.forward_notification(gw, provider, body, request.headers)
        return Response(answer, status_code=status, media_type=media_type)

    return api


def install_edge_handlers(app: FastAPI) -> None:
    """Unknown routes and wrong methods answer JSON like every other error; a rate limit is a 429 with
    Retry-After that no cache keeps."""

    @app.exception_handler(RateLimited)
    async def on_rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return too_many(exc, PRIVATE)

    @app.exception_handler(ChallengeRequired)
    async def on_challenge_required(request: Request, exc: ChallengeRequired) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=PRIVATE)

    @app.exception_handler(NoSuchShop)
    async def on_no_such_shop(request: Request, exc: NoSuchShop) -> Response:
        """A page route answers a page (a browser followed a stale link), an API route JSON."""
        if request.url.path.removeprefix(storefront_root(request)).startswith("/api/"):
            return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status_code)
        return HTMLResponse(error_page(exc.status_code, exc.message), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            body = error_body("not_found", f"no route {request.method} {request.url.path}")
        elif exc.status_code == 405:
            body = error_body("method_not_allowed", f"{request.method} not allowed on {request.url.path}")
            allowed = ", ".join(allowed_methods(request))
            return JSONResponse(body, status_code=405, headers={"Allow": allowed})
        else:
            body = error_body("http_error", str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path (Starlette's 405 names only the first route's)."""
    return [
        method
        for method in ROUTE_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
