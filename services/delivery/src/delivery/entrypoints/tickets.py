"""Delivery internal HTTP API for after-sales tickets: the buyer's (through the gateway, which checked the
order's secret) and the shop's queue. Every route acts for the shop of `X-Shop-Id`: another shop's tickets
are not found."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.contracts.tickets import NewTicket, TicketReply
from faka_common.http import ShopScope, combined, internal_router
from fastapi import APIRouter, Query

from delivery.bootstrap import Service
from delivery.domain.tickets import Ticket, TicketMessage
from delivery.service_layer import tickets
from delivery.service_layer.tickets import TicketThread

Status = Literal["open", "answered", "resolved"]
Level = Literal["L1", "L2"]


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
    }


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

    @api.get("/tickets", summary="The shop's tickets (open ones at either level unless told otherwise)")
    async def list_tickets(
        shop: ShopScope,
        status: Annotated[list[Status] | None, Query()] = None,
        level: Annotated[list[Level] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await tickets.list_tickets(
                uow, shop, list(status or ["open"]), list(level or ["L1", "L2"]), limit
            )
        return {"items": [ticket_view(t) for t in found]}

    @thread_readers.get("/tickets/{ticket_id}", summary="A ticket with its messages")
    async def get_ticket(ticket_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.ticket_thread(uow, shop, ticket_id))

    @api.post("/tickets/{ticket_id}/replies", summary="The shop answers (and may resolve) a ticket")
    async def shop_reply(ticket_id: UUID, body: TicketReply, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return thread_view(await tickets.reply(shop, ticket_id, body, uow))

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
