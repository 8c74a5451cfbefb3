"""The ticket desk at the edge (tickets are the delivery service's): the shop's queue with its filters
(level, status, category, overdue), taking a ticket to the platform, the shop's canned replies and SLA
timers (/api/admin, audited as every admin write); the platform's L3 queue across shops and its timers
(/api/platform, platform staff only); and the buyer's escalation of a ticket of their order (/api/v1, the
order's secret proving it). Platform staff read and answer a shop's ticket through the shop's routes with
that shop's X-Shop-Id: their answers are the platform's, not the shop's."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.contracts.aftersales import TicketCategory
from faka_common.contracts.tickets import (
    CannedLanguage,
    PlatformTicketSla,
    ShopTicketSla,
    TicketLevel,
    TicketMessage,
    TicketStatus,
)
from faka_common.fields import NonBlankLine
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.domain.access import Principal
from gateway.entrypoints.access import admin_api, client_ip, platform_api, requires
from gateway.entrypoints.requests import PRIVATE, checked_order_no
from gateway.entrypoints.responses import BUYER
from gateway.entrypoints.schemas import OrderSecretBody
from gateway.entrypoints.shops import storefront_shop
from gateway.service_layer import aftersales
from gateway.service_layer.buyer_secrets import OrderSecret

Statuses = Annotated[list[TicketStatus] | None, Query(description="Default: open")]
Levels = Annotated[list[TicketLevel] | None, Query()]
Categories = Annotated[list[TicketCategory] | None, Query()]
Overdue = Annotated[
    bool | None, Query(description="true: only tickets past an SLA deadline; false: the rest")
]
Limit = Annotated[int, Query(ge=1, le=500)]


class Escalation(BaseModel):
    """Why the platform should decide (a dispute)."""

    model_config = ConfigDict(extra="forbid")

    message: TicketMessage


class BuyerEscalation(OrderSecretBody):
    model_config = ConfigDict(extra="forbid")

    message: TicketMessage


class CannedReplyInput(BaseModel):
    """A canned reply: its language (zh-CN or en), a title unique in that language, the message it sends."""

    model_config = ConfigDict(extra="forbid")

    language: CannedLanguage
    title: NonBlankLine = Field(max_length=100)
    message: TicketMessage


def answerer(request: Request) -> Literal["shop", "platform"]:
    """Who a ticket answer of the request is from: the shop's people, or the platform's staff acting in a
    shop they are no member of."""
    principal: Principal = request.state.principal
    shop_id = request.state.shop.id
    return "platform" if principal.platform_roles and shop_id not in principal.memberships else "shop"


def author(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.label[:100]


def _filters(
    status: list[TicketStatus] | None,
    level: list[TicketLevel] | None,
    category: list[TicketCategory] | None,
    overdue: bool | None,
    limit: int,
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    for name, value in (("status", status), ("level", level), ("category", category)):
        if value:
            params[name] = value
    if overdue is not None:
        params["overdue"] = str(overdue).lower()
    return params


def tickets_router(gw: Gateway) -> APIRouter:
    """Every route of the ticket desk: the shop's, the platform's and the buyer's escalation."""
    router = APIRouter()
    for part in (shop_desk_router(gw), platform_desk_router(gw), buyer_escalation_router(gw)):
        router.include_router(part)
    return router


def shop_desk_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin: after-sales"])
    read, write = requires(gw, "tickets:read"), requires(gw, "tickets:write")

    @api.get(
        "/tickets",
        summary="The shop's tickets (open ones at every level unless told otherwise), oldest first",
        dependencies=[read],
    )
    async def list_tickets(
        status: Statuses = None,
        level: Levels = None,
        category: Categories = None,
        overdue: Overdue = None,
        limit: Limit = 100,
    ) -> Any:
        params = _filters(status, level, category, overdue, limit)
        return json_body(await gw.delivery.request("GET", "/internal/tickets", params=params))

    @api.post(
        "/tickets/{ticket_id}/escalation",
        summary="Take a ticket to the platform (L3): a dispute with the buyer or a supplier, with why",
        dependencies=[write],
    )
    async def escalate(ticket_id: UUID, body: Escalation, request: Request) -> Any:
        sent = {"author": author(request), "message": body.message}
        path = f"/internal/tickets/{ticket_id}/escalation"
        return json_body(await gw.delivery.request("POST", path, json=sent))

    @api.get("/canned-replies", summary="The shop's canned replies", dependencies=[read])
    async def canned_replies(language: Annotated[CannedLanguage | None, Query()] = None) -> Any:
        params = {"language": language} if language else {}
        return json_body(await gw.delivery.request("GET", "/internal/canned-replies", params=params))

    @api.post(
        "/canned-replies",
        status_code=201,
        summary="Add a canned reply (409 when its title is taken in its language)",
        dependencies=[write],
    )
    async def add_canned_reply(body: CannedReplyInput, request: Request) -> JSONResponse:
        sent = {**body.model_dump(), "updated_by": author(request)}
        answer = await gw.delivery.request("POST", "/internal/canned-replies", json=sent)
        return JSONResponse(json_body(answer), status_code=201)

    @api.put("/canned-replies/{reply_id}", summary="Change a canned reply", dependencies=[write])
    async def change_canned_reply(reply_id: UUID, body: CannedReplyInput, request: Request) -> Any:
        sent = {**body.model_dump(), "updated_by": author(request)}
        path = f"/internal/canned-replies/{reply_id}"
        return json_body(await gw.delivery.request("PUT", path, json=sent))

    @api.delete(
        "/canned-replies/{reply_id}", status_code=204, summary="Delete a canned reply", dependencies=[write]
    )
    async def remove_canned_reply(reply_id: UUID) -> Response:
        await gw.delivery.request("DELETE", f"/internal/canned-replies/{reply_id}")
        return Response(status_code=204)

    @api.get("/ticket-sla", summary="The shop's ticket timers (L2)", dependencies=[read])
    async def shop_sla() -> Any:
        return json_body(await gw.delivery.request("GET", "/internal/ticket-sla"))

    @api.put(
        "/ticket-sla",
        summary="Set the shop's ticket timers: first response, resolution, and how long past the resolution "
        "deadline a waiting ticket goes to the platform",
        # the shop's promise to its buyers: set by who runs the shop, not by the support answering to it
        dependencies=[requires(gw, "delivery:write")],
    )
    async def set_shop_sla(body: ShopTicketSla, request: Request) -> Any:
        sent = {**body.model_dump(), "updated_by": author(request)}
        return json_body(await gw.delivery.request("PUT", "/internal/ticket-sla", json=sent))

    return api


def platform_desk_router(gw: Gateway) -> APIRouter:
    api = platform_api(gw)

    @api.get(
        "/tickets",
        summary="Every shop's tickets: the platform's queue (open L3 tickets unless told otherwise)",
        dependencies=[requires(gw, "platform:read")],
    )
    async def platform_tickets(
        status: Statuses = None,
        level: Levels = None,
        category: Categories = None,
        overdue: Overdue = None,
        limit: Limit = 100,
    ) -> Any:
        params = _filters(status, level, category, overdue, limit)
        answer = await gw.delivery.request("GET", "/internal/platform/tickets", params=params, platform=True)
        return json_body(answer)

    @api.get(
        "/ticket-sla",
        summary="The platform's ticket timers (L3)",
        dependencies=[requires(gw, "platform:read")],
    )
    async def platform_sla() -> Any:
        return json_body(await gw.delivery.request("GET", "/internal/platform/ticket-sla", platform=True))

    @api.put(
        "/ticket-sla",
        summary="Set the platform's ticket timers (L3): first response and resolution",
        dependencies=[requires(gw, "platform:write")],
    )
    async def set_platform_sla(body: PlatformTicketSla, request: Request) -> Any:
        sent = {**body.model_dump(), "updated_by": author(request)}
        path = "/internal/platform/ticket-sla"
        return json_body(await gw.delivery.request("PUT", path, json=sent, platform=True))

    return api


def buyer_escalation_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/v1", tags=["after-sales"], responses=BUYER, dependencies=[storefront_shop(gw)]
    )

    @api.post(
        "/orders/{order_no}/tickets/{ticket_id}/escalation",
        summary="Take a ticket of the order to the platform (a dispute with the shop), with why",
    )
    async def escalate(
        order_no: str, ticket_id: UUID, body: BuyerEscalation, request: Request
    ) -> JSONResponse:
        ticket = await aftersales.escalate_ticket(
            gw, checked_order_no(order_no), OrderSecret(body.token, body.password), client_ip(gw, request),
            ticket_id, body.message,
        )  # fmt: skip
        return JSONResponse(ticket, headers=PRIVATE)

    return api
