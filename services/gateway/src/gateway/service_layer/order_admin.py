"""Admin operations the order service owns: refunds, the reconciliation report, wholesale tiers, coupons
and the rotation of one order's secret. Each calls the order service's internal API and passes its answer
(or its clear 4xx) on."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from gateway.adapters.owners import json_body, segment
from gateway.bootstrap import Gateway
from gateway.domain.views import order_api_url, order_page_url


async def refund(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{segment(order_no)}/refunds"
    return json_body(await gw.order.request("POST", path, json=body))


async def reconciliation(gw: Gateway, day: str) -> Any:
    return json_body(await gw.order.request("GET", "/internal/reconciliation", params={"date": day}))


async def rotate_secret(gw: Gateway, order_no: str) -> dict[str, Any]:
    """Revoke every access token of the order (a leaked link); the answer holds the new token and the
    buyer's new links, for the seller to pass on."""
    path = f"/internal/orders/{segment(order_no)}/secret-rotations"
    rotated: dict[str, Any] = json_body(await gw.order.request("POST", path))
    token = str(rotated["token"])
    return {
        **rotated,
        "order_url": order_api_url(gw.base_url, order_no, token),
        "page_url": order_page_url(gw.base_url, order_no, token),
    }


async def price_tiers(gw: Gateway, product_id: UUID) -> Any:
    return json_body(await gw.order.request("GET", f"/internal/products/{product_id}/price-tiers"))


async def set_price_tiers(gw: Gateway, product_id: UUID, body: dict[str, Any]) -> Any:
    path = f"/internal/products/{product_id}/price-tiers"
    return json_body(await gw.order.request("PUT", path, json=body))


async def create_coupon(gw: Gateway, body: dict[str, Any]) -> Any:
    return json_body(await gw.order.request("POST", "/internal/coupons", json=body))


async def list_coupons(gw: Gateway) -> Any:
    return json_body(await gw.order.request("GET", "/internal/coupons"))


async def disable_coupon(gw: Gateway, code: str) -> Any:
    path = f"/internal/coupons/{segment(code)}/disable"
    return json_body(await gw.order.request("POST", path))
