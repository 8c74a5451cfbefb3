"""Delivery internal HTTP API for images on ticket messages: a ticket opened, answered or written on with
images (multipart: `message` as JSON, the same body as the routes without images, and `image` files), the
images' descriptions beside a thread, and an image's bytes. The buyer's routes act for the order the caller
proved (the gateway checked its secret; the notification service found it by the ticket's reply address)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from faka_common.contracts.tickets import NewTicket, TicketReply
from faka_common.errors import DomainError
from faka_common.http import ShopScope, combined, internal_router
from faka_common.ticket_images import FORM_BODY, MESSAGE_FIELD, Image, read_form
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError

from delivery.bootstrap import Service
from delivery.domain.attachments import Attachment
from delivery.entrypoints.tickets import thread_view
from delivery.service_layer import attachments
from delivery.service_layer.tickets import TicketThread


def attachment_view(attachment: Attachment) -> dict[str, Any]:
    return {
        "attachment_id": str(attachment.id),
        "ticket_id": str(attachment.ticket_id),
        "message_id": str(attachment.message_id),
        "media_type": attachment.media_type,
        "size": attachment.size,
        "name": attachment.name,
        "created_at": attachment.created_at.isoformat(),
    }


def with_images(thread: TicketThread, found: Sequence[Attachment]) -> dict[str, Any]:
    """The thread as the routes without images answer it, each message with its images."""
    view = thread_view(thread)
    for message in view["messages"]:
        message["attachments"] = [
            attachment_view(a) for a in found if str(a.message_id) == message["message_id"]
        ]
    return view


Body = TypeVar("Body", bound=BaseModel)


async def message_form(request: Request, model: type[Body]) -> tuple[Body, list[Image]]:
    fields, images = await read_form(request)
    try:
        return model.model_validate(json.loads(fields.get(MESSAGE_FIELD, ""))), images
    except (ValueError, ValidationError) as error:
        raise DomainError(f"{MESSAGE_FIELD}: not a valid {model.__name__}: {error}") from None


def ticket_attachments_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})
    buyer = internal_router(service.settings, callers={"gateway", "notification"})

    async def answer(shop: UUID, thread: TicketThread) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await attachments.of_tickets(uow, shop, [thread.ticket.id])
        return with_images(thread, found)

    @api.post(
        "/tickets/with-images",
        status_code=201,
        summary="Open a buyer's ticket whose first message carries images",
        openapi_extra=FORM_BODY,
    )
    async def open_ticket(request: Request, shop: ShopScope) -> dict[str, Any]:
        body, images = await message_form(request, NewTicket)
        async with service.uow() as uow:
            thread = await attachments.open_ticket(shop, body, images, uow)
        return await answer(shop, thread)

    @api.post(
        "/tickets/{ticket_id}/replies/with-images",
        summary="The shop answers a ticket with images",
        openapi_extra=FORM_BODY,
    )
    async def shop_reply(ticket_id: UUID, request: Request, shop: ShopScope) -> dict[str, Any]:
        body, images = await message_form(request, TicketReply)
        async with service.uow() as uow:
            thread = await attachments.reply(shop, ticket_id, body, images, uow)
        return await answer(shop, thread)

    @buyer.post(
        "/orders/{order_id}/tickets/{ticket_id}/messages/with-images",
        summary="The buyer writes on a ticket of the order with images (it reopens it)",
        openapi_extra=FORM_BODY,
    )
    async def buyer_message(
        order_id: UUID, ticket_id: UUID, request: Request, shop: ShopScope
    ) -> dict[str, Any]:
        body, images = await message_form(request, TicketReply)
        async with service.uow() as uow:
            thread = await attachments.reply(shop, ticket_id, body, images, uow, order_id=order_id)
        return await answer(shop, thread)

    @api.get("/tickets/{ticket_id}/attachments", summary="The images of a ticket's messages")
    async def ticket_images(ticket_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await attachments.of_tickets(uow, shop, [ticket_id])
        return {"items": [attachment_view(a) for a in found]}

    @api.get("/orders/{order_id}/attachments", summary="The images of an order's tickets (the buyer's)")
    async def order_images(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await attachments.of_order(uow, shop, order_id)
        return {"items": [attachment_view(a) for a in found]}

    @api.get(
        "/tickets/{ticket_id}/attachments/{attachment_id}",
        summary="An image's bytes (the shop's); ?order_id= only on a ticket of that order (the buyer's)",
        response_class=Response,
    )
    async def image(
        ticket_id: UUID, attachment_id: UUID, shop: ShopScope, order_id: UUID | None = None
    ) -> Response:
        async with service.uow() as uow:
            found = await attachments.content(uow, shop, ticket_id, attachment_id, order_id)
        return Response(found.data, media_type=found.attachment.media_type)

    return combined(api, buyer)
