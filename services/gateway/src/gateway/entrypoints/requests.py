"""What the public routes read from a request and how they answer privately: order numbers and provider
names as they may appear in a path, bounded bodies, the buyer's locale and order (and its placing), and the
headers of an answer that carries a secret. One module every router imports, instead of routers importing
each other."""

from __future__ import annotations

import re
from typing import Any

from faka_common.errors import NotFound
from fastapi import Request

from gateway.bootstrap import Gateway
from gateway.domain.uploads import PayloadTooLarge
from gateway.entrypoints.access import client_ip
from gateway.entrypoints.schemas import Locale, NewOrder
from gateway.entrypoints.shops import served, storefront_root
from gateway.service_layer import edge
from gateway.service_layer.buyer_secrets import NO_SUCH_ORDER
from gateway.service_layer.challenges import Solution

ORDER_NO = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROVIDER = re.compile(r"^[a-z0-9_-]{1,32}$")

# Answers that carry an order secret or keys: never cached, never leaked as a referrer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes without reading it all."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def checked_order_no(order_no: str) -> str:
    """A malformed order number is just an order that does not exist."""
    if not ORDER_NO.fullmatch(order_no):
        raise NotFound(NO_SUCH_ORDER)
    return order_no


def buyer_locale(requested: Locale | None, accept_language: str | None) -> Locale | None:
    if requested is not None:
        return requested
    first = (accept_language or "").split(",", 1)[0].strip().lower()
    if first.startswith("en"):
        return "en"
    if first.startswith("zh"):
        return "zh-CN"
    return None


def order_payload(order: NewOrder, accept_language: str | None) -> dict[str, Any]:
    """The order service's POST /internal/orders body (buyer_ip is added by the edge operation)."""
    payload: dict[str, Any] = {
        "product_id": str(order.product_id),
        "quantity": order.quantity,
        "buyer_email": order.email,
        "query_password": order.query_password,
    }
    locale = buyer_locale(order.locale, accept_language)
    if locale is not None:
        payload["locale"] = locale
    if order.phone:
        payload["buyer_phone"] = order.phone
    if order.device_id:
        payload["device_id"] = order.device_id
    if order.coupon_code:
        payload["coupon_code"] = order.coupon_code
    if order.buyer_fields:
        payload["buyer_fields"] = order.buyer_fields
    return payload


async def place_requested_order(
    gw: Gateway,
    request: Request,
    order: NewOrder,
    solution: Solution | None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The request's order placed (`edge.place_order`) in the shop it is for, from its client address, in
    its language, with the challenge's `solution` it carries: the JSON API's and the storefront form's."""
    return await edge.place_order(
        gw,
        served(request),
        storefront_root(request),
        order_payload(order, request.headers.get("accept-language")),
        client_ip(gw, request),
        idempotency_key=idempotency_key,
        solution=solution,
    )
