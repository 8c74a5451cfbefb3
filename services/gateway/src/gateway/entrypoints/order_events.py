"""The buyer's order, live: a server-sent event stream that answers with the order at once and again each
time its status changes, until it is settled. The order service announces changes on Redis pub/sub, so a
waiting buyer costs nothing between changes (a page refreshing every few seconds cost a call through the
gateway and the order service each time)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from faka_common.contracts.order_watch import read_announcement
from faka_common.errors import DomainError
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from gateway.bootstrap import Gateway
from gateway.domain.views import PENDING_STATUSES, moved_view
from gateway.entrypoints.access import client_ip
from gateway.entrypoints.requests import PRIVATE, checked_order_no
from gateway.entrypoints.responses import BUYER
from gateway.entrypoints.shops import storefront_shop
from gateway.service_layer import edge
from gateway.service_layer.buyer_secrets import OrderSecret

#: How long one stream lasts at most (a payment window and then some); the browser reconnects after.
STREAM_SECONDS = 15 * 60
#: With no change announced for this long, the stream looks at the order itself (an announcement may
#: have been lost) and sends a keep-alive comment, so proxies keep the connection.
LOOK_SECONDS = 15.0
#: How often it looks when changes cannot be followed at all (Redis down).
BLIND_LOOK_SECONDS = 5.0


def frame(view: dict[str, Any]) -> bytes:
    return f"event: order\ndata: {json.dumps(view, separators=(',', ':'))}\n\n".encode()


def order_events_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/v1", tags=["storefront"], responses=BUYER, dependencies=[storefront_shop(gw)]
    )

    @api.get(
        "/orders/{order_no}/events",
        summary="The order as server-sent events: now, then on every status change until it is settled",
        description="Each `order` event carries the same view as GET /api/v1/orders/{order_no} (the keys "
        "once delivered). The stream ends once the order is settled, or after 15 minutes (reconnect). "
        "The secret is checked like a lookup: failures are rate-limited (429).",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream"}},
    )
    async def order_events(
        order_no: str,
        request: Request,
        token: Annotated[
            str | None, Query(max_length=128, description="The token returned when the order was placed")
        ] = None,
        password: Annotated[
            str | None, Query(max_length=128, description="The query password chosen by the buyer")
        ] = None,
    ) -> StreamingResponse:
        number, secret, ip = checked_order_no(order_no), OrderSecret(token, password), client_ip(gw, request)
        stack = contextlib.AsyncExitStack()
        # watch before the first look, so a change between the two is not missed
        changes = await stack.enter_async_context(gw.changes.watch(number))
        try:
            view, access = await edge.buyer_order_and_access(gw, number, secret, ip)
        except BaseException:
            await stack.aclose()
            raise

        return StreamingResponse(
            _stream(gw, number, secret, ip, view, changes, stack, access),
            media_type="text/event-stream",
            headers={**PRIVATE, "X-Accel-Buffering": "no"},
        )

    return api


async def _stream(
    gw: Gateway,
    order_no: str,
    secret: OrderSecret,
    ip: str | None,
    view: dict[str, Any],
    changes: asyncio.Queue[str] | None,
    stack: contextlib.AsyncExitStack,
    access: dict[str, Any] | None = None,
) -> AsyncIterator[bytes]:
    """The frames of the order page's stream. `access`: how the buyer's secret opened the order (the last
    read's), which decides whether a delivery is told by its announcement (`moved_view`)."""
    async with stack:
        yield frame(view)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        status = view.get("status")
        while status in PENDING_STATUSES and loop.time() < deadline:
            if changes is None:
                await asyncio.sleep(BLIND_LOOK_SECONDS)
            else:
                try:
                    async with asyncio.timeout(LOOK_SECONDS):  # no task a wait, as wait_for made
                        announced = read_announcement(await changes.get())
                except TimeoutError:
                    yield b": keep-alive\n\n"
                else:
                    if announced.status == status:
                        continue
                    moved = moved_view(view, announced, access)
                    if moved is not None:
                        try:
                            view = await edge.revealed_view(gw, moved)
                        except DomainError as error:
                            yield _error_frame(error)
                            return
                        status = announced.status
                        yield frame(view)
                        continue
            try:
                view, access = await edge.buyer_order_and_access(gw, order_no, secret, ip)
            except DomainError as error:
                yield _error_frame(error)
                return
            if view.get("status") != status:
                status = view.get("status")
                yield frame(view)


def _error_frame(error: DomainError) -> bytes:
    failure = {"error": error.code, "message": error.message}
    return f"event: error\ndata: {json.dumps(failure)}\n\n".encode()
