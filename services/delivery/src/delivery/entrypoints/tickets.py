"""Delivery internal HTTP API for after-sales tickets: the buyer's (through the gateway, which checked the
order's secret), the shop's queue, its SLA timers and canned replies, and the platform's queue and timers.
Every shop route acts for the shop of `X-Shop-Id`: another shop's tickets are not found; the platform's
routes (/internal/platform/...) read every shop's."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from faka_common.contracts.aftersales import TicketCategory
from faka_common.contracts.tickets import (
    CannedLanguage,
    CannedReplyBody,
    NewTicket,
    PlatformTicketSla,
    ShopTicketSla,
    TicketEscalation,
    TicketLevel,
    TicketReply,
    TicketStatus,
)
from faka_common.http import ShopScope, combined, internal_router
from fastapi import APIRouter, Query, Response

from delivery.adapters.tickets import TicketQuery
from delivery.bootstrap import Service
from delivery.domain.tickets import CannedReply, SlaTimers, Ticket, TicketMessage
from delivery.service_layer import tickets
from delivery.service_layer.tickets import TicketThread

Statuses = Annotated[list[TicketStatus] | None, Query(description="Default: open")]
Levels = Annotated[list[TicketLevel] | None, Query()]
Categories = Annotated[list[TicketCategory] | None, Query()]
Overdue = Annotated[bool | None, Query(description="Only overdue tickets (true) or only the others (false)")]
Limit = Annotated[int, Query(ge=1, le=500)]


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket_id": str(ticket.id),
        "order_id": str(ticket.order_id),
        "order_no": ticket.order_no,
        "product_id": str(ticket.product_id),
        "category": ticket.category,
        "status": ticket.status,
        "level": ticket.level,
        "reason": ticket.reason,
        "key_id": str(ticket.key_id) if ticket.key_id else None,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
        "shop_id": str(ticket.shop_id),
        "overdue": ticket.overdue,
        "overdue_at": _iso(ticket.overdue_at),
        "response_due": _iso(ticket.response_due),
        "resolution_due": _iso(ticket.resolution_due),
        "escalation_due": _iso(ticket.escalation_due),
        "escalated_at": _iso(ticket.escalated_at),
        "escalated_by": ticket.escalated_by,
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _minutes(span: timedelta | None) -> int | None:
    return int(span.total_seconds() // 60) if span is not None else None


def sla_view(timers: SlaTimers) -> dict[str, Any]:
    view = {
        "first_response_minutes": _minutes(timers.first_response),
        "resolution_minutes": _minutes(timers.resolution),
    }
    if timers.escalation is not None:
        view["escalation_minutes"] = _minutes(timers.escalation)
    return view


def _timers(body: ShopTicketSla | PlatformTicketSla) -> SlaTimers:
    escalation = body.escalation_minutes if isinstance(body, ShopTicketSla) else None
    return SlaTimers(
        timedelta(minutes=body.first_response_minutes),
        timedelta(minutes=body.resolution_minutes),
        timedelta(minutes=escalation) if escalation is not None else None,
    )


def canned_view(reply: CannedReply) -> dict[str, Any]:
    return {
        "canned_reply_id": str(reply.id),
        "language": reply.language,
        "title": reply.title,
        "message": reply.body,
        "updated_at": reply.updated_at.isoformat(),
        "updated_by": reply.updated_by,
    }


def _query(
    status: list[TicketStatus] | None,
    level: list[TicketLevel] | None,
    category: list[TicketCategory] | None,
    overdue: bool | None,
    limit: int,
    levels: tuple[TicketLevel, ...] = ("L1", "L2", "L3"),
) -> TicketQuery:
    return TicketQuery(list(status or ["open"]), list(level or levels), list(category or []), overdue, limit)


def message_view(message: TicketMessage) -> dict[str, Any]:
    return {
        "message_id": str(message.id),
        "author": message.author,
        "author_label": message.author_label,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


def thread_view(thread: TicketThread) -> dict[str, Any]:
    return {**ticket_view(thread.ticket), "messages": [message_view(m) for m in thread.messages]}


def tickets_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})
    # the notification service sends a thread's new messages by e-mail: TicketMessageAdded carries no text
    thread_readers = internal_router(service.settings, callers={"gateway", "notification"})

    @api.post("/tickets", status_code=201, summary="Open a buyer's ticket about an order")
    async def open_ticket(body: NewTicket, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.open_ticket(shop, body, uow))

    @api.get("/tickets", summary="The shop's tickets (open ones at every level unless told otherwise)")
    async def list_tickets(
        shop: ShopScope,
        status: Statuses = None,
        level: Levels = None,
        category: Categories = None,
        overdue: Overdue = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await tickets.list_tickets(uow, shop, _query(status, level, category, overdue, limit))
        return {"items": [ticket_view(t) for t in found]}

    @api.get("/platform/tickets", summary="Every shop's tickets: the platform's queue (open L3 by default)")
    async def platform_tickets(
        status: Statuses = None,
        level: Levels = None,
        category: Categories = None,
        overdue: Overdue = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        query = _query(status, level, category, overdue, limit, levels=("L3",))
        async with service.uow() as uow:
            found = await tickets.list_tickets(uow, None, query)
        return {"items": [ticket_view(t) for t in found]}

    @thread_readers.get("/tickets/{ticket_id}", summary="A ticket with its messages")
    async def get_ticket(ticket_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.ticket_thread(uow, shop, ticket_id))

    @api.post("/tickets/{ticket_id}/replies", summary="The shop answers (and may resolve) a ticket")
    async def shop_reply(ticket_id: UUID, body: TicketReply, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.reply(shop, ticket_id, body, uow))

    @api.post("/tickets/{ticket_id}/escalation", summary="The shop takes a ticket to the platform (L3)")
    async def shop_escalation(ticket_id: UUID, body: TicketEscalation, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.escalate(shop, ticket_id, body, uow))

    @api.post(
        "/orders/{order_id}/tickets/{ticket_id}/escalation",
        summary="The buyer takes a ticket of the order to the platform (L3)",
    )
    async def buyer_escalation(
        order_id: UUID, ticket_id: UUID, body: TicketEscalation, shop: ShopScope
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.escalate(shop, ticket_id, body, uow, order_id=order_id))

    @api.get("/ticket-sla", summary="The shop's L2 ticket timers (the defaults until it sets them)")
    async def get_shop_sla(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return sla_view(await tickets.shop_sla(uow, shop))

    @api.put("/ticket-sla", summary="Set the shop's L2 ticket timers")
    async def put_shop_sla(body: ShopTicketSla, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            await tickets.set_shop_sla(uow, shop, _timers(body), body.updated_by or "unknown")
            return sla_view(await tickets.shop_sla(uow, shop))

    @api.get("/platform/ticket-sla", summary="The platform's L3 ticket timers")
    async def get_platform_sla() -> dict[str, Any]:
        async with service.uow() as uow:
            return sla_view(await tickets.platform_sla(uow))

    @api.put("/platform/ticket-sla", summary="Set the platform's L3 ticket timers")
    async def put_platform_sla(body: PlatformTicketSla) -> dict[str, Any]:
        async with service.uow() as uow:
            await tickets.set_platform_sla(uow, _timers(body), body.updated_by or "unknown")
            return sla_view(await tickets.platform_sla(uow))

    @api.get("/canned-replies", summary="The shop's canned replies (by language, then title)")
    async def list_canned(
        shop: ShopScope, language: Annotated[CannedLanguage | None, Query()] = None
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await tickets.canned_replies(uow, shop, language)
        return {"items": [canned_view(r) for r in found]}

    @api.post("/canned-replies", status_code=201, summary="Add a canned reply (409: its title is taken)")
    async def add_canned(body: CannedReplyBody, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return canned_view(await tickets.add_canned_reply(uow, shop, body))

    @api.put("/canned-replies/{reply_id}", summary="Change a canned reply")
    async def change_canned(reply_id: UUID, body: CannedReplyBody, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return canned_view(await tickets.change_canned_reply(uow, shop, reply_id, body))

    @api.delete("/canned-replies/{reply_id}", status_code=204, summary="Delete a canned reply")
    async def remove_canned(reply_id: UUID, shop: ShopScope) -> Response:
        async with service.uow() as uow:
            await tickets.remove_canned_reply(uow, shop, reply_id)
        return Response(status_code=204)

    @api.get("/orders/{order_id}/tickets", summary="An order's tickets with their messages (the buyer's)")
    async def order_tickets(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            threads = await tickets.order_threads(uow, shop, order_id)
        return {"items": [thread_view(t) for t in threads]}

    @api.post(
        "/orders/{order_id}/tickets/{ticket_id}/messages",
        summary="The buyer writes on a ticket of the order (it reopens it)",
    )
    async def buyer_message(
        order_id: UUID, ticket_id: UUID, body: TicketReply, shop: ShopScope
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.reply(shop, ticket_id, body, uow, order_id=order_id))

    return combined(api, thread_readers)
