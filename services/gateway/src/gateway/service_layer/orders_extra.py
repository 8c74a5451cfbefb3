"""Gateway operations for payments, refunds, reconciliation, pricing and buyer lookups: each calls the
order service's internal API and passes its answer (or its clear 4xx) on."""

from __future__ import annotations

from typing import Any

from gateway.bootstrap import Gateway
from gateway.service_layer.edge import json_body, segment


async def start_payment(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{segment(order_no)}/payments"
    return json_body(await gw.order.request("POST", path, json=body))


async def refund(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{segment(order_no)}/refunds"
    return json_body(await gw.order.request("POST", path, json=body))


async def reconciliation(gw: Gateway, day: str) -> Any:
    return json_body(await gw.order.request("GET", "/internal/reconciliation", params={"date": day}))


async def order_call(gw: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Any other order-service call whose answer goes back unchanged."""
    response = await gw.order.request(method, path, **kwargs)
    return response.status_code, json_body(response)
