"""Order internal HTTP API (docs/internal-api.md, order section)."""

from __future__ import annotations

import re
from typing import Any, Literal
from uuid import UUID

from faka_common.http import internal_auth
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from order.bootstrap import Service
from order.domain import credentials
from order.domain.model import Order, Status
from order.service_layer import services

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PlaceOrderRequest(BaseModel):
    product_id: UUID
    quantity: int = Field(ge=1, le=1_000_000)
    buyer_email: str = Field(max_length=254)
    query_password: str | None = Field(default=None, max_length=128)
    locale: Literal["zh-CN", "en"] = "zh-CN"
    buyer_ip: str | None = Field(default=None, max_length=64)

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


class PaymentResponse(BaseModel):
    result: Literal["accepted", "duplicate"]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def pay_url(service: Service, order: Order) -> str | None:
    if order.status is not Status.AWAITING_PAYMENT:
        return None
    token = credentials.order_token(service.settings.order_token_secret.get_secret_value(), order.order_no)
    return f"{service.settings.public_base_url.rstrip('/')}/pay/sandbox/{order.order_no}?token={token}"


def order_view(service: Service, order: Order) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
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
        "pay_url": pay_url(service, order),
    }


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(service.token)])
    token_secret = service.settings.order_token_secret.get_secret_value()

    @api.post("/orders", status_code=201, summary="Place an order (pending risk)")
    async def place_order(body: PlaceOrderRequest) -> PlacedOrderResponse:
        placed = await services.place_order(
            services.PlaceOrder(
                product_id=body.product_id,
                quantity=body.quantity,
                buyer_email=body.buyer_email,
                query_password=body.query_password or None,
                locale=body.locale,
                buyer_ip=body.buyer_ip,
            ),
            service.uow(),
            service.catalog,
            token_secret,
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
        )

    @api.get("/orders/{order_no}", summary="An order, for the holder of its token or query password")
    async def get_order(
        order_no: str, token: str | None = None, password: str | None = None
    ) -> dict[str, Any]:
        order = await services.find_order(order_no, service.uow(), token_secret, token, password)
        return order_view(service, order)

    @api.post("/payments/{provider}/notify", summary="A payment provider's notification, forwarded raw")
    async def payment_notify(provider: str, request: Request) -> PaymentResponse:
        result = await services.receive_payment(
            provider, await request.body(), service.uow(), service.settings.sandbox_secret.get_secret_value()
        )
        return PaymentResponse(result=result)

    return api
