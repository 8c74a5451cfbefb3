"""The seller console's ticket pages (/console/tickets/…): the shop's tickets with their filters (level,
status, category, overdue), a ticket's thread with the answer form (a canned reply picker, closing it as
solved) and taking it to the platform, the shop's canned replies in zh-CN and English with its support's
deadlines (L2), and the platform's L3 queue across shops and its deadlines (platform staff only: each ticket
opens in its shop; the deadlines are changed with platform:write). Shells of the console's own
(`console_page`) whose data static/console_tickets.js fetches from the admin and platform ticket APIs with
console.js's helpers; a role without tickets:write is shown no write action, and the API refuses it (403)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.entrypoints.aftersales import CATEGORIES
from gateway.entrypoints.console_pages import Section, console_language, page
from gateway.entrypoints.i18n import gettext
from gateway.entrypoints.pages import N_
from gateway.entrypoints.web import STATIC_DIR

ConsolePage = Callable[..., Awaitable[Response]]
SCRIPT = (STATIC_DIR / "console_tickets.js").read_bytes()
TABS = (
    Section("tickets", "console/tickets", "tickets:read", N_("Tickets")),
    Section("canned", "console/tickets/canned", "tickets:read", N_("Canned replies")),
    Section("platform", "console/tickets/platform", "platform:read", N_("Platform queue")),
    Section("platform-sla", "console/tickets/platform-sla", "platform:read", N_("Platform deadlines")),
)
TABS_LABEL = N_("Tickets")
LEVELS = {
    "L1": N_("L1: answered by the system"),
    "L2": N_("L2: the shop's support"),
    "L3": N_("L3: the platform"),
}
STATUSES = {"open": N_("Waiting for an answer"), "answered": N_("Answered"), "resolved": N_("Solved")}
AUTHORS = {"buyer": N_("Buyer"), "shop": N_("Shop"), "platform": N_("Platform"), "system": N_("System")}
# not "English": the language switch shows that word in every language
LANGUAGES = {"zh-CN": N_("In Chinese"), "en": N_("In English")}
#: Why a ticket is where it is, as the shop's support reads it.
REASONS = {
    "escalation_requested": N_("Taken to the platform as a dispute"),
    "sla_breached": N_("The shop's deadlines passed: the platform took it"),
    "key_already_reported": N_("The key was reported before"),
    "no_key_named": N_("No key was named"),
    "not_replaceable": N_("No automatic replacement for this order"),
    "outside_window": N_("Past the replacement window"),
    "order_limit_reached": N_("The order had every replacement it allows"),
    "out_of_stock": N_("No replacement key in stock"),
    "evidence_required": N_("Evidence is needed first"),
    "not_this_orders_key": N_("Not a key of this order"),
    "already_replaced": N_("Already replaced"),
}
#: What the tickets script shows, in the page's language (merged into the console's strings).
TICKET_STRINGS = {
    "no_tickets": N_("No tickets match."),
    "overdue": N_("Overdue"),
    "on_time": N_("On time"),
    "due": N_("Answer due %(at)s"),
    "answered_by": N_("%(author)s (%(who)s)"),
    "reply_sent": N_("Your answer is sent."),
    "escalated": N_("The platform has the ticket now."),
    "no_canned": N_("No canned replies yet."),
    "canned_saved": N_("The canned reply is saved."),
    "canned_deleted": N_("The canned reply is deleted."),
    "edit": N_("Edit"),
    "delete": N_("Delete"),
    "open_ticket": N_("Open ticket %(order_no)s"),
    "choose_canned": N_("Choose a canned reply"),
    "sla_saved": N_("The timers are saved."),
    **{f"level_{key}": label for key, label in LEVELS.items()},
    **{f"ticket_{key}": label for key, label in STATUSES.items()},
    **{f"author_{key}": label for key, label in AUTHORS.items()},
    **{f"category_{key}": label for key, label in CATEGORIES.items()},
    **{f"reason_{key}": label for key, label in REASONS.items()},
    **{f"language_{key}": label for key, label in LANGUAGES.items()},
}


def add_ticket_pages(web: APIRouter, console_page: ConsolePage) -> None:
    """The ticket pages on the console's router, drawn by its `console_page`."""

    def strings(request: Request) -> dict[str, str]:
        lang = console_language(request)
        return {key: gettext(lang, message) for key, message in TICKET_STRINGS.items()}

    async def tickets_page(request: Request, tab: str, template: str, **values: Any) -> Response:
        return await console_page(
            request, "tickets", template, tabs=TABS, tab=tab, tabs_label=TABS_LABEL,
            ticket_strings=strings(request), levels=LEVELS, statuses=STATUSES, categories=CATEGORIES,
            languages=LANGUAGES, **values,
        )  # fmt: skip

    @web.get("/console/tickets")
    async def tickets(request: Request) -> Response:
        return await tickets_page(request, "tickets", "tickets.html", source="/api/admin/tickets")

    @web.get("/console/tickets/platform")
    async def platform_queue(request: Request) -> Response:
        return await tickets_page(
            request, "platform", "tickets.html", needs="platform:read", source="/api/platform/tickets"
        )

    @web.get("/console/tickets/platform-sla")
    async def platform_sla(request: Request) -> Response:
        return await tickets_page(request, "platform-sla", "tickets_platform_sla.html", needs="platform:read")

    @web.get("/console/tickets/canned")
    async def canned(request: Request) -> Response:
        return await tickets_page(request, "canned", "tickets_canned.html")

    @web.get("/console/tickets/console_tickets.js")
    async def script() -> Response:
        media_type = "text/javascript; charset=utf-8"
        return Response(SCRIPT, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})

    @web.get("/console/tickets/{ticket_id}")
    async def ticket(request: Request, ticket_id: str) -> Response:
        try:
            UUID(ticket_id)
        except ValueError:
            return page(request, "message.html", 404, heading=N_("Tickets"), message=N_("No such ticket."))
        return await tickets_page(request, "tickets", "ticket.html", ticket_id=ticket_id)
