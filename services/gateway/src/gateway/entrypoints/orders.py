"""The routes the order service answers besides placing and showing orders: paying (choose a method, GET
notifications), the buyer's lookup by e-mail, and for the admin the order search, an order's timeline,
refunds, the release of an order held for its payer, the link e-mailed again, the reconciliation report,
pricing, coupons and the rotation of an order's secret."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from uuid import UUID

from faka_common.contracts.order import OrderStatus
from faka_common.errors import NotFound
from faka_common.fields import Money, NonBlankLine
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.bootstrap import Gateway
from gateway.entrypoints.access import actor_label, admin_api, client_ip, requires
from gateway.entrypoints.requests import PRIVATE, PROVIDER, checked_order_no
from gateway.entrypoints.responses import BUYER, PROVIDER_ANSWER, WEBHOOK
from gateway.entrypoints.schemas import NewCoupon, OrderLookup, PriceTiers
from gateway.entrypoints.shops import storefront_shop
from gateway.service_layer import buyer_secrets, edge
from gateway.service_layer import order_admin as ops


class PayWith(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        max_length=32, description="One of the order's payment_methods", examples=["alipay"]
    )
    token: str | None = Field(
        None, max_length=128, description="The token returned when the order was placed"
    )
    password: str | None = Field(None, max_length=128, description="Or the query password")


#: An order status as the order service names it (an unknown one is the order service's 422).
SearchText = Annotated[str, StringConstraints(min_length=1, max_length=254)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


class Refund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money | None = Field(None, gt=0, description="Minor units; omitted: everything still refundable")
    reason: NonBlankLine = Field("operator", max_length=200)


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: NonBlankLine = Field(max_length=200, description="Why the payer is trusted after all")


def orders_router(gw: Gateway) -> APIRouter:
    api = APIRouter(tags=["payments"], responses=BUYER, dependencies=[storefront_shop(gw)])
    admin = admin_api(gw, tags=["admin"])

    @api.get(
        "/api/v1/payments/{provider}/notify",
        summary="Payment notification sent as a GET query (易支付/epay); forwarded as a form body",
        responses={**WEBHOOK, 200: PROVIDER_ANSWER},
    )
    async def notify_by_query(provider: str, request: Request) -> Response:
        if not PROVIDER.fullmatch(provider):
            raise NotFound(f"unknown payment provider {provider[:32]!r}")
        body = request.url.query.encode()[: gw.settings.max_notification_bytes + 1]
        headers = {"content-type": "application/x-www-form-urlencoded"}
        status, answer, media_type = await edge.forward_notification(gw, provider, body, headers)
        return Response(answer, status_code=status, media_type=media_type)

    @api.post(
        "/api/v1/orders/{order_no}/pay",
        summary="Start paying an order: a pay URL or a QR payload; failed secrets are rate-limited (429)",
    )
    async def pay(order_no: str, body: PayWith, request: Request) -> Response:
        secret = buyer_secrets.OrderSecret(body.token, body.password)
        answer = await buyer_secrets.start_payment(
            gw, checked_order_no(order_no), body.provider, secret, client_ip(gw, request)
        )
        return Response(json.dumps(answer), media_type="application/json", headers=PRIVATE)

    @admin.post(
        "/orders/{order_no}/refunds",
        status_code=201,
        summary="Refund an order, wholly or in part",
        dependencies=[requires(gw, "orders:refund")],
    )
    async def refund(order_no: str, body: Refund) -> Any:
        return await ops.refund(gw, checked_order_no(order_no), body.model_dump())

    @admin.post(
        "/orders/{order_no}/releases",
        status_code=201,
        summary="Release an order held for its payer (a risk blocklist names the paying account) for "
        "delivery, once, with a reason; 409 when it is not held",
        dependencies=[requires(gw, "orders:refund")],
    )
    async def release(order_no: str, body: Release, request: Request) -> Any:
        sent = {"reason": body.reason, "by": actor_label(request)}
        return await ops.release(gw, checked_order_no(order_no), sent)

    @admin.get(
        "/orders",
        summary="Search the shop's orders, newest first: order number, buyer e-mail or payment trade number "
        "(q), status, creation time; paged by key (next_cursor -> after)",
        dependencies=[requires(gw, "orders:read")],
    )
    async def search_orders(
        q: Annotated[SearchText | None, Query(description="Order number, e-mail or trade number")] = None,
        status: Annotated[list[OrderStatus] | None, Query(max_length=20)] = None,
        created_from: Annotated[dt.datetime | None, Query(alias="from", description="With a zone")] = None,
        created_before: Annotated[dt.datetime | None, Query(alias="to", description="Exclusive")] = None,
        after: Annotated[Cursor | None, Query(description="next_cursor of the page before")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> Any:
        times = {"from": created_from, "to": created_before}
        asked: dict[str, Any] = {"q": q, "status": status, "after": after, "limit": limit}
        asked |= {name: at.isoformat() for name, at in times.items() if at is not None}
        return await ops.search_orders(gw, {k: v for k, v in asked.items() if v is not None})

    @admin.get(
        "/orders/{order_no}",
        summary="One order with its delivery and its whole timeline: transitions (what caused each), "
        "payments, payments set aside, refunds, delivery attempts",
        dependencies=[requires(gw, "orders:read")],
    )
    async def order_timeline(order_no: str) -> JSONResponse:
        found = await ops.order_with_timeline(gw, checked_order_no(order_no))
        return JSONResponse(found, headers=PRIVATE)

    @admin.post(
        "/orders/{order_no}/link-emails",
        status_code=202,
        summary="E-mail the buyer the order's link again (a fresh token) at the address the order was placed "
        "with",
        dependencies=[requires(gw, "orders:write")],
    )
    async def resend_link(order_no: str) -> JSONResponse:
        await ops.resend_order_link(gw, checked_order_no(order_no))
        return JSONResponse({"status": "accepted"}, status_code=202)

    @admin.get(
        "/reconciliation",
        summary="Daily reconciliation: our payments vs each provider's",
        dependencies=[requires(gw, "orders:read")],
    )
    async def reconciliation(day: Annotated[dt.date, Query(alias="date")]) -> Any:
        return await ops.reconciliation(gw, day.isoformat())

    @api.post(
        "/api/v1/orders/lookup",
        tags=["storefront"],
        summary="A buyer's recent orders (90 days, at most 50) by e-mail and query password",
        description="An unknown e-mail, a wrong password and no orders all answer the same empty list. "
        "Rate-limited per client address and per e-mail: 429 with Retry-After.",
    )
    async def lookup(body: OrderLookup, request: Request) -> JSONResponse:
        found = await buyer_secrets.buyer_orders(gw, body.email, body.password, client_ip(gw, request))
        return JSONResponse(found, headers=PRIVATE)

    @admin.post(
        "/orders/{order_no}/secret-rotations",
        status_code=201,
        summary="Revoke every link (token) of one order and get a new one for the buyer",
        description="The query password is unchanged. The answer holds the new token and links.",
        dependencies=[requires(gw, "orders:write")],
    )
    async def rotate_secret(order_no: str) -> JSONResponse:
        rotated = await ops.rotate_secret(gw, checked_order_no(order_no))
        return JSONResponse(rotated, status_code=201, headers=PRIVATE)

    @admin.get(
        "/products/{product_id}/price-tiers",
        tags=["pricing"],
        summary="A product's wholesale tiers",
        dependencies=[requires(gw, "pricing:read")],
    )
    async def price_tiers(product_id: UUID) -> Any:
        return await ops.price_tiers(gw, product_id)

    @admin.put(
        "/products/{product_id}/price-tiers",
        tags=["pricing"],
        summary="Replace a product's wholesale tiers (price by quantity)",
        dependencies=[requires(gw, "pricing:write")],
    )
    async def set_price_tiers(product_id: UUID, body: PriceTiers) -> Any:
        return await ops.set_price_tiers(gw, product_id, body.model_dump())

    @admin.post(
        "/coupons",
        status_code=201,
        tags=["pricing"],
        summary="Create a coupon",
        dependencies=[requires(gw, "pricing:write")],
    )
    async def create_coupon(body: NewCoupon) -> Any:
        return await ops.create_coupon(gw, body.model_dump(mode="json", exclude_none=True))

    @admin.get(
        "/coupons",
        tags=["pricing"],
        summary="Coupons, newest first, with their use counts",
        dependencies=[requires(gw, "pricing:read")],
    )
    async def list_coupons() -> Any:
        return await ops.list_coupons(gw)

    @admin.post(
        "/coupons/{code}/disable",
        tags=["pricing"],
        summary="Disable a coupon",
        dependencies=[requires(gw, "pricing:write")],
    )
    async def disable_coupon(code: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")]) -> Any:
        return await ops.disable_coupon(gw, code)

    router = APIRouter()
    router.include_router(api)
    router.include_router(admin)
    return router
