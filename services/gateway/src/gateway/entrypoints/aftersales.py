"""After-sales tickets at the edge: the buyer's routes (JSON under /api/v1 and the order's help page), each
proving the order with its secret as a lookup does, and the shop's ticket queue in the admin API (with the
manual queue's permissions). Tickets are the delivery service's. A message may carry images (PNG, JPEG or
WebP by content, 2 MB each, 3 a message: faka_common.ticket_images): they are served only to the ticket's
buyer (the order's secret) and the shop (tickets:read), as the image type their content showed, never
sniffed, in a sandbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from faka_common.contracts.aftersales import TicketCategory
from faka_common.contracts.tickets import MAX_TICKET_MESSAGE, TicketMessage, note_in
from faka_common.errors import Conflict, DomainError, Unavailable
from faka_common.fields import NonBlankLine
from faka_common.ticket_images import (
    FORM_BODY,
    IMAGE_TYPES,
    LIMITS_TEXT,
    ImageTooLarge,
    NotAnImage,
    TooManyImages,
    checked_images,
    image_type,
    read_fields,
    read_form,
)
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.domain.access import Principal
from gateway.domain.views import secret_query
from gateway.entrypoints import pages
from gateway.entrypoints.access import admin_api, client_ip, requires
from gateway.entrypoints.i18n import gettext
from gateway.entrypoints.requests import PRIVATE, checked_order_no, read_body
from gateway.entrypoints.responses import BUYER
from gateway.entrypoints.schemas import OrderSecretBody
from gateway.entrypoints.shops import storefront_root, storefront_shop
from gateway.entrypoints.tickets import answerer
from gateway.entrypoints.web import MAX_FORM_BYTES, form_fields, html, html_error, page_context
from gateway.service_layer import aftersales
from gateway.service_layer.buyer_secrets import OrderSecret

N_ = pages.N_
ReportedKey = Annotated[
    NonBlankLine, Field(max_length=1000, description="key_invalid: the key that fails, as shown")
]
CATEGORIES = {
    "key_invalid": N_("A key does not work"),
    "not_received": N_("I did not receive my goods"),
    "how_to_use": N_("How do I use it?"),
    "refund_request": N_("I want a refund"),
    "other": N_("Something else"),
}
TICKET_STATUSES = {
    "open": N_("Waiting for an answer"),
    "answered": N_("Answered by the shop"),
    "resolved": N_("Solved"),
}
AUTHORS = {
    "buyer": N_("You"),
    "shop": N_("From the shop"),
    "platform": N_("From the platform"),
    "system": N_("Automatic answer"),
    "note": N_("Notice"),
}
#: Why a ticket waits for the shop, as its buyer is told.
REASONS = {
    "outside_window": N_("The time for an automatic replacement has passed; the shop will look at it."),
    "order_limit_reached": N_(
        "This order had every automatic replacement it allows; the shop will look at it."
    ),
    "out_of_stock": N_("No replacement key is in stock right now; the shop will look at it."),
    "evidence_required": N_("This product needs evidence (a screenshot) first; the shop will contact you."),
    "not_replaceable": N_("This order cannot get an automatic replacement; the shop will look at it."),
    "not_this_orders_key": N_("That key is not one of this order's; the shop will look at it."),
    "already_replaced": N_("This key was already reported; the shop will look at it."),
    "key_already_reported": N_("This key was already reported; the shop will look at it."),
    "no_key_named": N_("No key was named; the shop will look at it."),
    "escalation_requested": N_("The platform looks at this dispute and will answer here."),
    "sla_breached": N_("The shop did not answer in time: the platform will answer here."),
}
#: What a field's error on the help page says, next to the field.
FIELD_ERRORS = {
    "category": N_("Choose what is wrong."),
    "message": N_("Write a message of up to 4000 characters."),
    "key": N_("Copy the key that does not work from the order page."),
}
IMAGES_HINT = N_("Up to 3 images (PNG, JPEG or WebP), 2 MB each.")
MULTIPART = "multipart/form-data"
#: What the help page says of an image it refused, in the buyer's language (the API's errors name the limit).
IMAGE_ERRORS = {
    ImageTooLarge: N_("An image may be at most 2 MB."),
    NotAnImage: N_("Only PNG, JPEG or WebP images can be attached."),
    TooManyImages: N_("At most 3 images a message."),
}
ImageRefused = (ImageTooLarge, NotAnImage, TooManyImages)
Files = list[tuple[str, bytes]]
#: What a ticket's form on the help page does with its checked message (and files).
TicketAction = Callable[[Request, str, OrderSecret, UUID, str, Files], Awaitable[None]]


class NewTicketBody(OrderSecretBody):
    """A buyer's ticket: the order's secret, what is wrong, a message and (a key that fails) which key."""

    model_config = ConfigDict(extra="forbid")

    category: TicketCategory
    message: TicketMessage
    key: ReportedKey | None = None


class TicketMessageBody(OrderSecretBody):
    model_config = ConfigDict(extra="forbid")

    message: TicketMessage


class ShopReply(BaseModel):
    """The shop's answer; who answers is the request's principal."""

    model_config = ConfigDict(extra="forbid")

    message: TicketMessage
    resolve: bool = Field(default=False, description="Close the ticket as solved with this answer")


MESSAGE_TEXT: TypeAdapter[str] = TypeAdapter(TicketMessage)
IMAGE_HEADERS = {
    **PRIVATE,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""An image is shown as the image it is and nothing else: its type is never sniffed, and were it opened as a
page it could run nothing."""
SecretQuery = Annotated[str | None, Query(max_length=128, description="The order's token or query password")]


def image_response(content: bytes, media_type: str, attachment_id: UUID) -> Response:
    """The image with a fixed type (one of IMAGE_TYPES, and what its bytes are) and a file name."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind not in IMAGE_TYPES or image_type(content) != kind:
        raise Unavailable("the image cannot be served")
    extension = {"image/jpeg": "jpg"}.get(kind, kind.removeprefix("image/"))
    disposition = f'inline; filename="ticket-image-{attachment_id}.{extension}"'
    return Response(content, media_type=kind, headers={**IMAGE_HEADERS, "Content-Disposition": disposition})


def form_message(fields: dict[str, str]) -> str:
    """The form's message, or a 422 naming the field."""
    try:
        return MESSAGE_TEXT.validate_python(fields.get("message", ""))
    except ValidationError:
        raise DomainError(f"message: write 1 to {MAX_TICKET_MESSAGE} characters") from None


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith(MULTIPART)


def aftersales_router(gw: Gateway) -> APIRouter:
    """Every after-sales route of the gateway: the buyer's (JSON and the help page) and the shop's."""
    router = APIRouter()
    for part in (tickets_router(gw), help_pages_router(gw), tickets_admin_router(gw)):
        router.include_router(part)
    return router


def tickets_router(gw: Gateway) -> APIRouter:
    """The buyer's ticket routes (JSON)."""
    api = APIRouter(
        prefix="/api/v1", tags=["after-sales"], responses=BUYER, dependencies=[storefront_shop(gw)]
    )

    @api.post(
        "/orders/{order_no}/tickets",
        status_code=201,
        summary="Open a ticket about an order (its token or query password proves it is yours)",
        description="A key that does not work (category key_invalid, naming the key as shown, or none for "
        "an order of one key) is replaced within seconds when the product's after-sales policy allows; "
        "otherwise the ticket waits for the shop with the reason.",
    )
    async def open_ticket(order_no: str, body: NewTicketBody, request: Request) -> JSONResponse:
        ticket = await aftersales.open_ticket(
            gw, checked_order_no(order_no), OrderSecret(body.token, body.password), client_ip(gw, request),
            body.category, body.message, body.key,
        )  # fmt: skip
        return JSONResponse(ticket, status_code=201, headers=PRIVATE)

    @api.get("/orders/{order_no}/tickets", summary="An order's tickets with their conversation")
    async def list_tickets(
        order_no: str, request: Request, token: SecretQuery = None, password: SecretQuery = None
    ) -> JSONResponse:
        _, found = await aftersales.order_tickets(
            gw, checked_order_no(order_no), OrderSecret(token, password), client_ip(gw, request)
        )
        return JSONResponse({"items": found}, headers=PRIVATE)

    @api.post("/orders/{order_no}/tickets/{ticket_id}/messages", summary="Write again on a ticket")
    async def write(
        order_no: str, ticket_id: UUID, body: TicketMessageBody, request: Request
    ) -> JSONResponse:
        ticket = await aftersales.write_on_ticket(
            gw, checked_order_no(order_no), OrderSecret(body.token, body.password), client_ip(gw, request),
            ticket_id, body.message,
        )  # fmt: skip
        return JSONResponse(ticket, headers=PRIVATE)

    @api.post(
        "/orders/{order_no}/tickets/{ticket_id}/images",
        summary="Write again on a ticket with images (multipart: token or password, message, image)",
        description=f"Images: {LIMITS_TEXT}, checked by their content. Too big: 413; not such an image: "
        "415; too many: 422; each error names the limit.",
        openapi_extra=FORM_BODY,
        responses={415: {"description": "Not such an image, or not a multipart form"}},
    )
    async def write_with_images(order_no: str, ticket_id: UUID, request: Request) -> JSONResponse:
        fields, images = await read_form(request)
        ticket = await aftersales.write_on_ticket(
            gw, checked_order_no(order_no), OrderSecret(fields.get("token"), fields.get("password")),
            client_ip(gw, request), ticket_id, form_message(fields), images,
        )  # fmt: skip
        return JSONResponse(ticket, headers=PRIVATE)

    @api.get(
        "/orders/{order_no}/tickets/{ticket_id}/attachments/{attachment_id}",
        summary="An image of a ticket of the order",
        response_class=Response,
    )
    async def image(
        order_no: str,
        ticket_id: UUID,
        attachment_id: UUID,
        request: Request,
        token: SecretQuery = None,
        password: SecretQuery = None,
    ) -> Response:
        content, media_type = await aftersales.ticket_image(
            gw, checked_order_no(order_no), OrderSecret(token, password), client_ip(gw, request),
            ticket_id, attachment_id,
        )  # fmt: skip
        return image_response(content, media_type, attachment_id)

    return api


def help_pages_router(gw: Gateway) -> APIRouter:
    """The order's help page: the buyer's tickets and the form that opens one."""
    web = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[storefront_shop(gw)])

    async def page(
        request: Request,
        order_no: str,
        secret: OrderSecret,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 400,
    ) -> HTMLResponse:
        order, found = await aftersales.order_tickets(
            gw, checked_order_no(order_no), secret, client_ip(gw, request)
        )
        ctx = page_context(request)
        number = str(order["order_no"])
        content = pages.render(
            "support.html",
            ctx,
            order=order,
            tickets=found,
            order_link=pages.relative(pages.order_page_path(number, secret.token, secret.password)),
            action=f"orders/{quote(number, safe='')}/support",
            images_path=f"api/v1/orders/{quote(number, safe='')}/tickets/",
            secret_query=secret_query(secret.token, secret.password),
            hidden={k: v for k, v in secret.body().items() if v},
            form=form or {},
            errors=errors or {},
            categories=CATEGORIES,
            ticket_statuses=TICKET_STATUSES,
            authors=AUTHORS,
            note_in=note_in,
            reasons=REASONS,
            max_message=MAX_TICKET_MESSAGE,
            images_hint=IMAGES_HINT,
            refresh=3 if any(t["waiting_for"] == "system" for t in found) else None,
        )
        return html(request, content, status if errors else 200)

    async def posted(request: Request) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
        """The help page's form: with images (multipart) or without (urlencoded)."""
        if is_multipart(request):
            return await read_fields(request)
        return form_fields(await read_body(request, MAX_FORM_BYTES)), []

    @web.get("/orders/{order_no}/support")
    async def help_page(
        request: Request, order_no: str, token: SecretQuery = None, password: SecretQuery = None
    ) -> HTMLResponse:
        try:
            return await page(request, order_no, OrderSecret(token, password))
        except DomainError as error:
            return html_error(request, error)

    @web.post("/orders/{order_no}/support", openapi_extra=FORM_BODY)
    async def ask(request: Request, order_no: str) -> Any:
        lang = page_context(request).lang
        try:
            form, files = await posted(request)
            secret = OrderSecret(form.get("token"), form.get("password"))
            try:
                images = checked_images(files)
                body = NewTicketBody.model_validate({k: form.get(k) for k in ("category", "message", "key")})
                await aftersales.open_ticket(
                    gw, checked_order_no(order_no), secret, client_ip(gw, request),
                    body.category, body.message, body.key, images,
                )  # fmt: skip
            except ValidationError as error:
                return await page(request, order_no, secret, form, field_errors(error, lang))
            except aftersales.KeyNotNamed:
                return await page(
                    request, order_no, secret, form, {"key": gettext(lang, FIELD_ERRORS["key"])}
                )
            except ImageRefused as error:
                said = {"image": gettext(lang, IMAGE_ERRORS[type(error)])}
                return await page(request, order_no, secret, form, said, error.status_code)
        except DomainError as error:
            return html_error(request, error)
        path = storefront_root(request) + support_path(order_no, secret)
        return RedirectResponse(path, status_code=303, headers=PRIVATE)

    @web.post("/orders/{order_no}/support/{ticket_id}", openapi_extra=FORM_BODY)
    async def write_again(request: Request, order_no: str, ticket_id: UUID) -> Any:
        return await on_ticket(request, order_no, ticket_id, "reply", write_on)

    @web.post("/orders/{order_no}/support/{ticket_id}/escalation", openapi_extra=FORM_BODY)
    async def ask_the_platform(request: Request, order_no: str, ticket_id: UUID) -> Any:
        return await on_ticket(request, order_no, ticket_id, "platform", escalate)

    async def write_on(
        request: Request, order_no: str, secret: OrderSecret, ticket_id: UUID, message: str, files: Files
    ) -> None:
        images = checked_images(files)
        await aftersales.write_on_ticket(
            gw, checked_order_no(order_no), secret, client_ip(gw, request), ticket_id, message, images
        )

    async def escalate(
        request: Request, order_no: str, secret: OrderSecret, ticket_id: UUID, message: str, files: Files
    ) -> None:
        with suppress(Conflict):  # with the platform already (a second click): the page shows it there
            await aftersales.escalate_ticket(
                gw, checked_order_no(order_no), secret, client_ip(gw, request), ticket_id, message
            )

    async def on_ticket(
        request: Request, order_no: str, ticket_id: UUID, form_name: str, act: TicketAction
    ) -> Any:
        """A form of one ticket (write again, ask the platform): its message checked, the act done, and back
        to the ticket; a refused field shows next to it on the page."""
        lang = page_context(request).lang
        try:
            form, files = await posted(request)
            secret = OrderSecret(form.get("token"), form.get("password"))
            field = f"{form_name}-{ticket_id}"
            try:
                message = MESSAGE_TEXT.validate_python(form.get("message", ""))
                await act(request, order_no, secret, ticket_id, message, files)
            except ValidationError:
                said = {field: gettext(lang, FIELD_ERRORS["message"])}
                return await page(request, order_no, secret, {}, said)
            except ImageRefused as error:
                said = {field: gettext(lang, IMAGE_ERRORS[type(error)])}
                return await page(request, order_no, secret, {}, said, error.status_code)
        except DomainError as error:
            return html_error(request, error)
        path = storefront_root(request) + support_path(order_no, secret)
        return RedirectResponse(f"{path}#ticket-{ticket_id}", status_code=303, headers=PRIVATE)

    return web


def support_path(order_no: str, secret: OrderSecret) -> str:
    return pages.order_page_path(order_no, secret.token, secret.password).replace("?", "/support?", 1)


def field_errors(error: ValidationError, lang: pages.Language) -> dict[str, str]:
    found: dict[str, str] = {}
    for detail in error.errors():
        name = str(detail["loc"][0]) if detail["loc"] else "message"
        message = FIELD_ERRORS.get(name)
        found.setdefault(name, gettext(lang, message) if message else str(detail["msg"]))
    return found


def tickets_admin_router(gw: Gateway) -> APIRouter:
    """The shop's ticket queue: list, read, answer (support answers too; a token with the delivery scopes)."""
    api = admin_api(gw, tags=["admin: after-sales"])

    @api.get(
        "/tickets/{ticket_id}",
        summary="A ticket with its messages",
        dependencies=[requires(gw, "tickets:read")],
    )
    async def get_ticket(ticket_id: UUID) -> Any:
        thread = json_body(await gw.delivery.request("GET", f"/internal/tickets/{ticket_id}"))
        found = json_body(await gw.delivery.request("GET", f"/internal/tickets/{ticket_id}/attachments"))
        images = found.get("items", [])
        for message in thread.get("messages", []):
            message["attachments"] = [
                aftersales.image_view(i) for i in images if i.get("message_id") == message.get("message_id")
            ]
        return thread

    @api.get(
        "/tickets/{ticket_id}/attachments/{attachment_id}",
        summary="An image of a ticket's message",
        response_class=Response,
        dependencies=[requires(gw, "tickets:read")],
    )
    async def image(ticket_id: UUID, attachment_id: UUID) -> Response:
        path = f"/internal/tickets/{ticket_id}/attachments/{attachment_id}"
        response = await gw.delivery.request("GET", path)
        return image_response(response.content, response.headers.get("content-type", ""), attachment_id)

    @api.post(
        "/tickets/{ticket_id}/images",
        summary="Answer a ticket with images (multipart: message, resolve, image)",
        description=f"Images: {LIMITS_TEXT}, checked by their content. Too big: 413; not such an image: "
        "415; too many: 422; each error names the limit.",
        openapi_extra=FORM_BODY,
        responses={415: {"description": "Not such an image, or not a multipart form"}},
        dependencies=[requires(gw, "tickets:write")],
    )
    async def reply_with_images(ticket_id: UUID, request: Request) -> Any:
        principal: Principal = request.state.principal
        fields, images = await read_form(request)
        answer = {
            "author": principal.label[:100],
            "message": form_message(fields),
            "resolve": fields.get("resolve", "").lower() in ("1", "true", "on", "yes"),
            "by": answerer(request),
        }
        return await aftersales.post_message(
            gw, f"/internal/tickets/{ticket_id}/replies", answer, images, None
        )

    @api.post(
        "/tickets/{ticket_id}/replies",
        summary="Answer a ticket: {message, resolve?} (as the signed-in person or the token)",
        dependencies=[requires(gw, "tickets:write")],
    )
    async def reply(ticket_id: UUID, body: ShopReply, request: Request) -> Any:
        principal: Principal = request.state.principal
        answer = {"author": principal.label[:100], **body.model_dump(), "by": answerer(request)}
        return (
            await gw.delivery.request("POST", f"/internal/tickets/{ticket_id}/replies", json=answer)
        ).json()

    return api
