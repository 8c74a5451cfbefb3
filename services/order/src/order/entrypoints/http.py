"""Order internal HTTP API (docs/internal-api.md, order section)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode
from uuid import UUID

from faka_common.contracts.risk_rules import DeviceId
from faka_common.fields import Line, NonBlankLine
from faka_common.http import OptionalShopScope, ShopScope, internal_router
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints, field_validator

from order.adapters.payments.base import RawNotification
from order.bootstrap import Service
from order.domain import credentials, fulfilment, pricing
from order.domain.model import Order, Status
from order.service_layer import idempotency, payment_channels, payments, services

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: An optional contact number: digits with an optional leading +, spaces, dashes, dots or parentheses.
PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{4,30}$")

FieldName = Annotated[Line, StringConstraints(min_length=1, max_length=fulfilment.MAX_FIELD_NAME)]
FieldValue = Annotated[Line, StringConstraints(max_length=fulfilment.MAX_FIELD_VALUE)]
BuyerFields = Annotated[
    dict[FieldName, FieldValue],
    Field(
        max_length=fulfilment.MAX_FIELDS,
        description="What the buyer filled in (e.g. the account to recharge); at most 10 fields",
        examples=[{"account": "13800138000"}],
    ),
]


class PlaceOrderRequest(BaseModel):
    product_id: UUID
    quantity: int = Field(ge=1, le=1_000_000)
    buyer_email: Line = Field(max_length=254)
    query_password: Line | None = Field(default=None, max_length=128)
    locale: Literal["zh-CN", "en"] = "zh-CN"
    buyer_ip: Line | None = Field(default=None, max_length=64)
    coupon_code: Line | None = Field(default=None, max_length=pricing.MAX_CODE, examples=["SPRING10"])
    buyer_fields: BuyerFields = Field(default_factory=dict)
    buyer_phone: str | None = Field(default=None, max_length=32, examples=["+86 138 0013 8000"])
    device_id: DeviceId | None = None

    @field_validator("buyer_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not PHONE.match(value) or sum(c.isdigit() for c in value) < 5:
            raise ValueError("not a valid phone number (digits, optionally +, spaces, dashes)")
        return value

    @field_validator("buyer_email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not EMAIL.match(value):
            raise ValueError("not a valid email address")
        return value


class PlacedOrderResponse(BaseModel):
    order_id: UUID
    order_no: str
    status: str
    amount: int
    currency: str
    token: str
    expires_at: str | None
    unit_price: int | None = None
    discount: int = 0
    coupon_code: str | None = None


class LookupRequest(BaseModel):
    email: Line = Field(max_length=254)
    password: Line = Field(min_length=1, max_length=128)


class StartPaymentRequest(BaseModel):
    provider: str = Field(max_length=32, examples=["alipay"])
    token: str | None = Field(default=None, max_length=128)
    password: str | None = Field(default=None, max_length=128)


class BuyerSecret(BaseModel):
    token: str | None = Field(default=None, max_length=128)
    password: str | None = Field(default=None, max_length=128)


class RotatedSecretResponse(BaseModel):
    order_no: str
    token: str
    token_expires_at: str | None
    secret_version: int


class PaymentRequestResponse(BaseModel):
    provider: str
    pay_url: str | None
    qr_payload: str | None


class RefundRequest(BaseModel):
    amount: int | None = Field(default=None, gt=0, description="Minor units; omitted: everything refundable")
    reason: str = Field(default="operator", min_length=1, max_length=200)


class ReleaseRequest(BaseModel):
    reason: NonBlankLine = Field(max_length=200, description="Why the payer is trusted after all")
    by: NonBlankLine = Field(max_length=254, description="Who releases it (the person's label)")


class ReleaseResponse(BaseModel):
    order_no: str
    order_status: str
    status_reason: str | None


class RefundResponse(BaseModel):
    refund_no: str
    order_no: str
    amount: int
    currency: str
    status: str
    order_status: str
    refunded_amount: int


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


#: Statuses an order passes before it awaits payment.
BEFORE_PAYMENT = frozenset({Status.PENDING_RISK, Status.REVIEW, Status.RESERVING})


def awaits_payment(order: Order) -> bool:
    """Whether the buyer has something to pay now; a zero-amount order never does (it is paid directly)."""
    return order.status is Status.AWAITING_PAYMENT and not order.free


def order_tokens(service: Service) -> credentials.OrderTokens:
    settings = service.settings
    lifetime = timedelta(days=settings.order_token_lifetime_days)
    return credentials.OrderTokens(settings.order_token_secret.get_secret_value(), lifetime)


def pay_url(service: Service, order: Order, methods: list[str]) -> str | None:
    """The sandbox checkout when the sandbox is one of the order's payment methods; other providers give
    their pay URL when the buyer picks one (POST .../payments). The link's token expires when the order's
    first one does (it is issued as of the order's placement), so showing the order never extends access."""
    if not awaits_payment(order):
        return None
    return _pay_url(service, order, methods)


def _pay_url(service: Service, order: Order, methods: list[str]) -> str | None:
    if "sandbox" not in methods:
        return None
    token = order_tokens(service).issue(order.order_no, order.secret_version, order.created_at)
    base = service.settings.public_base_url.rstrip("/")
    return f"{base}/pay/sandbox/{quote(order.order_no, safe='')}?{urlencode({'token': token})}"


async def payment_methods(service: Service, order: Order) -> list[str]:
    """What the buyer may pay the order with now: the platform's and the shop's own enabled channels."""
    if not awaits_payment(order):
        return []
    reader = service.reader()
    return await payment_channels.offered(
        reader, service.providers, order.shop_id, order.product_id, order.amount
    )


def order_view(service: Service, order: Order, methods: list[str]) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "shop_id": str(order.shop_id),
        "order_no": order.order_no,
        "status": order.status.value,
        "product_id": str(order.product_id),
        "product_title": order.product_title,
        "quantity": order.quantity,
        "amount": order.amount,
        "currency": order.currency,
        "created_at": _iso(order.created_at),
        "expires_at": _iso(order.expires_at),
        "paid_at": _iso(order.paid_at),
        "delivered_at": _iso(order.delivered_at),
        "pay_url": pay_url(service, order, methods),
        "payment_methods": methods,
        "payment_required": not order.free,
        "refunded_amount": order.refunded_amount,
        "unit_price": order.unit_price,
        "discount": order.discount,
        "coupon_code": order.coupon_code,
        "delivery_type": order.delivery_type,
        "buyer_fields": order.buyer_fields,
        "buyer_phone": order.buyer_phone,
    }


def buyer_access(opened: services.OpenedOrder) -> dict[str, Any]:
    """How the buyer's secret opened the order, for the gateway (never shown to the buyer): by a token,
    of the order's secret version now and working until when, or by the query password (which rotating
    the tokens does not change). The order page's stream tells the delivery without reading the order
    again while a token is of the version announced with it and still works."""
    if opened.token_until is None:
        return {"by": "password"}
    version = opened.order.secret_version
    return {"by": "token", "secret_version": version, "until": opened.token_until.isoformat()}


def order_summary(order: Order) -> dict[str, Any]:
    """One line of a buyer's order list: no secrets, no links; the buyer opens it with the password."""
    return {
        "order_no": order.order_no,
        "shop_id": str(order.shop_id),
        "status": order.status.value,
        "product_title": order.product_title,
        "quantity": order.quantity,
        "amount": order.amount,
        "currency": order.currency,
        "created_at": _iso(order.created_at),
        "paid_at": _iso(order.paid_at),
        "delivered_at": _iso(order.delivered_at),
    }


def router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})
    tokens = order_tokens(service)

    async def place(shop: UUID, body: PlaceOrderRequest) -> PlacedOrderResponse:
        placed = await services.place_order(
            services.PlaceOrder(
                shop_id=shop,
                product_id=body.product_id,
                quantity=body.quantity,
                buyer_email=body.buyer_email,
                query_password=body.query_password or None,
                locale=body.locale,
                buyer_ip=body.buyer_ip,
                coupon_code=body.coupon_code or None,
                buyer_fields=dict(body.buyer_fields),
                buyer_phone=body.buyer_phone,
                device_id=body.device_id,
            ),
            service.uow(),
            service.catalog,
            tokens,
            service.payment_window,
        )
        order = placed.order
        return PlacedOrderResponse(
            order_id=order.id,
            order_no=order.order_no,
            status=order.status.value,
            amount=order.amount,
            currency=order.currency,
            token=placed.token,
            expires_at=_iso(order.expires_at),
            unit_price=order.unit_price,
            discount=order.discount,
            coupon_code=order.coupon_code,
        )

    @api.post(
        "/orders",
        status_code=201,
        summary="Place an order in the shop (pending risk); Idempotency-Key replays the shop's first answer; "
        "503 busy (Retry-After) while too many orders are late for their stock",
        response_model=PlacedOrderResponse,
    )
    async def place_order(
        shop: ShopScope,
        body: PlaceOrderRequest,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> Any:
        service.admit_order()
        if idempotency_key is None:
            return await place(shop, body)

        issued: str | None = None

        async def work() -> tuple[int, dict[str, Any]]:
            # The kept answer holds no access token (a database reader could open the order with it); a
            # replay is given the placement's token again, re-issued from the order.
            nonlocal issued
            answer = (await place(shop, body)).model_dump(mode="json")
            issued = answer.pop("token")
            return 201, answer

        # The buyer's IP (and device id) may change between retries of one request; neither is part of what
        # was asked. Without a phone the fingerprint stays what it was before the field existed (keys kept
        # >= 24 h).
        unasked = {"buyer_ip", "device_id"} | (set() if body.buyer_phone else {"buyer_phone"})
        asked = body.model_dump(mode="json", exclude=unasked)
        keep = timedelta(hours=service.settings.idempotency_ttl_hours)
        status, answer = await idempotency.once(shop, idempotency_key, asked, service.uow, work, keep)
        ran = issued is not None
        if "token" not in answer:  # answers kept before tokens were left out still hold theirs
            order_no = str(answer["order_no"])
            answer["token"] = issued or await services.placement_token(shop, order_no, service.uow(), tokens)
        return JSONResponse(
            answer, status_code=status, headers={} if ran else {"Idempotent-Replayed": "true"}
        )

    @api.post(
        "/orders/lookup",
        summary="A buyer's recent orders by email and query password: in the shop, or in any shop "
        "without X-Shop-Id",
    )
    async def lookup(shop: OptionalShopScope, body: LookupRequest) -> dict[str, Any]:
        found = await services.find_buyer_orders(shop, body.email, body.password, service.uow(), tokens)
        return {"items": [order_summary(order) for order in found]}

    @api.post(
        "/orders/{order_no}/view",
        summary="An order, for the holder of its token or query password (in the body, never the URL); "
        "another shop's order is a 404, and without X-Shop-Id any shop's order opens",
    )
    async def view_order(shop: OptionalShopScope, order_no: str, body: BuyerSecret) -> dict[str, Any]:
        opened = await services.open_order(
            shop, order_no, service.reader(), tokens, body.token, body.password, channels=True
        )
        order, access = opened.order, {"access": buyer_access(opened)}
        before = order.status in BEFORE_PAYMENT and not order.free
        if not (before or awaits_payment(order)):
            return {**order_view(service, order, []), **access}
        own = opened.enabled_channels or []
        methods = payment_channels.offered_with(service.providers, order.product_id, order.amount, own)
        if not before:
            return {**order_view(service, order, methods), **access}
        # what the view will show once the order awaits payment: the order page's stream shows it when the
        # move is announced, with no read of the order (faka_common.contracts.order_watch)
        once = {"pay_url": _pay_url(service, order, methods), "payment_methods": methods}
        return {**order_view(service, order, []), **access, "once_awaiting_payment": once}

    @api.post("/orders/{order_no}/cancel", summary="The buyer cancels an order awaiting payment")
    async def cancel_order(shop: OptionalShopScope, order_no: str, body: BuyerSecret) -> dict[str, Any]:
        order = await services.cancel_order(shop, order_no, service.uow(), tokens, body.token, body.password)
        return order_view(service, order, await payment_methods(service, order))

    @api.post(
        "/orders/{order_no}/secret-rotations",
        status_code=201,
        summary="The seller revokes every access token of the order and gets a new one",
    )
    async def rotate_secret(shop: ShopScope, order_no: str) -> RotatedSecretResponse:
        rotated = await services.rotate_secret(shop, order_no, service.uow(), tokens)
        return RotatedSecretResponse(
            order_no=rotated.order.order_no,
            token=rotated.token,
            token_expires_at=_iso(tokens.expires_at(rotated.token)),
            secret_version=rotated.order.secret_version,
        )

    @api.post("/orders/{order_no}/payments", summary="Start paying an order with one of its offered methods")
    async def start_payment(
        shop: OptionalShopScope, order_no: str, body: StartPaymentRequest
    ) -> PaymentRequestResponse:
        order = await services.find_order(shop, order_no, service.uow(), tokens, body.token, body.password)
        access = tokens.issue(order.order_no, order.secret_version, order.created_at)
        request = await payments.start_payment(order, body.provider, service.uow(), service.providers, access)
        return PaymentRequestResponse(
            provider=request.provider, pay_url=request.pay_url, qr_payload=request.qr_payload
        )

    @api.post(
        "/payments/{provider}/notify",
        summary="A payment provider's notification, forwarded raw; applied to the shop's order only "
        "(another shop's is a 404), to any shop's order without X-Shop-Id",
    )
    async def payment_notify(shop: OptionalShopScope, provider: str, request: Request) -> Response:
        notification = RawNotification(
            await request.body(), request.headers.get("content-type", ""), dict(request.headers)
        )
        verifier = await payment_channels.verifying(service.uow(), service.providers, shop, provider)
        result = await payments.receive_payment(
            shop, provider, notification, service.uow(), service.providers, verifier=verifier
        )
        ack = verifier.adapter.ack(result)
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)

    @api.get("/reconciliation", summary="Ours vs the providers' for one UTC day of the shop (operators)")
    async def reconciliation(shop: ShopScope, day: date = Query(alias="date")) -> dict[str, Any]:
        return await payments.reconciliation_report(shop, day, service.uow, service.providers)

    @api.post("/orders/{order_no}/refunds", status_code=201, summary="Refund an order, wholly or in part")
    async def refund(shop: ShopScope, order_no: str, body: RefundRequest) -> RefundResponse:
        outcome = await payments.refund_order(
            shop, order_no, body.amount, body.reason, service.uow, service.providers
        )
        return RefundResponse(
            refund_no=outcome.refund_no,
            order_no=outcome.order.order_no,
            amount=outcome.amount,
            currency=outcome.order.currency,
            status=outcome.status,
            order_status=outcome.order.status.value,
            refunded_amount=outcome.order.refunded_amount,
        )

    @api.post(
        "/orders/{order_no}/releases",
        status_code=201,
        summary="Release an order held for its payer (payer_account_blocked) for delivery, once; 409 when "
        "it is not held",
    )
    async def release(shop: ShopScope, order_no: str, body: ReleaseRequest) -> ReleaseResponse:
        order = await payments.release_held_order(shop, order_no, body.reason, body.by, service.uow())
        return ReleaseResponse(
            order_no=order.order_no, order_status=order.status.value, status_reason=order.status_reason
        )

    return api
