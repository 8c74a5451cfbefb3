"""Admin operations the order service owns: the order search and an order's timeline (with its delivery's
attempts), refunds, the release of a held order, the link e-mailed again, the reconciliation report,
wholesale tiers, coupons and the rotation of one order's secret. Each calls the order service's internal
API and passes its answer (or its clear 4xx) on."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from faka_common.errors import DomainError

from gateway.adapters.owners import json_body, segment
from gateway.bootstrap import Gateway
from gateway.domain.order_timeline import timeline
from gateway.domain.views import order_api_url, order_page_url


async def refund(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{segment(order_no)}/refunds"
    return json_body(await gw.order.request("POST", path, json=body))


async def release(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{segment(order_no)}/releases"
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


async def search_orders(gw: Gateway, params: dict[str, Any]) -> Any:
    """A page of the shop's orders (the order service's search, its 422s passed on)."""
    return json_body(await gw.order.request("GET", "/internal/orders", params=params))


async def order_with_timeline(gw: Gateway, order_no: str) -> dict[str, Any]:
    """The shop's order, its delivery (None before there is one) and its whole timeline."""
    history = await _history(gw, order_no)
    order_id = segment(str(history["order"]["order_id"]))
    try:
        delivery = json_body(await gw.delivery.request("GET", f"/internal/deliveries/{order_id}"))
    except DomainError as error:
        if error.status_code != 404:  # delivery's 4xx arrive as DomainErrors with its status
            raise
        delivery = None
    return {"order": history["order"], "delivery": delivery, "timeline": timeline(history, delivery)}


async def resend_order_link(gw: Gateway, order_no: str) -> None:
    """E-mail the buyer the order's link again (a fresh token; the delivered keys are behind it), to the
    address the order was placed with: the buyer's own link request, made by the seller."""
    email = str((await _history(gw, order_no))["order"]["buyer_email"])
    path = f"/internal/orders/{segment(order_no)}/link-emails"
    await gw.order.request("POST", path, json={"email": email})


async def _history(gw: Gateway, order_no: str) -> dict[str, Any]:
    path = f"/internal/orders/{segment(order_no)}/history"
    history: dict[str, Any] = json_body(await gw.order.request("GET", path))
    return history
