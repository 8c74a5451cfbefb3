"""Admission at the gateway: past a bound of its own requests in flight, it turns work away at once (503
busy with Retry-After, as the order service's `Busy` does) instead of queueing it. A safety net for a slow
order service or database: the requests in flight do not see the pipeline's queue, which the order service
bounds (late orders, docs/scaling.md "Past the maximum: admission"); at a bound of 64 this turned away 3 %
of the buyers at 28/s, a rate the box nearly held.

New work is turned away first: a placement is refused once `placing` requests are in flight (of every
kind), any other request once `serving` are. A provider's payment notification is never refused (the
buyer has paid; it is the sale's money, and its number is bounded by the orders admitted), nor are health
checks, metrics and an order's event stream (one long-lived request a waiting buyer holds, which would
fill the count while costing nothing between its events)."""

from __future__ import annotations

import json
import re

from faka_common.errors import Busy
from faka_common.http import error_body
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.entrypoints.pages import error_page
from gateway.entrypoints.shops import SHOP_PATH

PLACING = frozenset({"/api/v1/orders", "/shop/orders"})
PAYMENTS = "/api/v1/payments/"
UNCOUNTED = re.compile(r"^/(?:health/|metrics$)|^/api/v1/orders/[^/]+/events$")

IN_FLIGHT = Gauge("faka_gateway_requests_in_flight", "Requests the gateway is answering (admission's count)")
TURNED_AWAY = Counter(
    "faka_gateway_requests_turned_away_total",
    "Requests answered 503 at once because the gateway had too many in flight",
    ["kind"],
)


def kind_of(method: str, path: str) -> str:
    """ "uncounted", "payment", "placing" or "other", from the path within the shop (/s/<slug> is removed)."""
    found = SHOP_PATH.match(path)
    within = path[found.end() :] if found else path
    if UNCOUNTED.match(within):
        return "uncounted"
    if within.startswith(PAYMENTS):
        return "payment"
    if method == "POST" and within in PLACING:
        return "placing"
    return "other"


class Admission:
    """Counts the requests in flight and refuses new ones past the bounds (0: no bound)."""

    def __init__(self, app: ASGIApp, placing: int, serving: int) -> None:
        self.app = app
        self.bounds = {"placing": placing, "other": serving, "payment": 0}
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        kind = kind_of(scope["method"], scope["path"])
        if kind == "uncounted":
            return await self.app(scope, receive, send)
        bound = self.bounds[kind]
        if bound and self.in_flight >= bound:
            TURNED_AWAY.labels(kind).inc()
            return await self._refuse(scope, send, kind)
        self.in_flight += 1
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()

    async def _refuse(self, scope: Scope, send: Send, kind: str) -> None:
        what = "new orders" if kind == "placing" else "more requests"
        message = f"the shop is busy and takes no {what} this moment: try again in {Busy.retry_after} s"
        found = SHOP_PATH.match(scope["path"])
        if "/api/" in scope["path"]:
            body = json.dumps(error_body(Busy.code, message, retry_after=Busy.retry_after)).encode()
            media = b"application/json"
        else:
            body = error_page(503, message, root=found.group(0) if found else "").encode()
            media = b"text/html; charset=utf-8"
        headers = [
            (b"content-type", media),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(Busy.retry_after).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
