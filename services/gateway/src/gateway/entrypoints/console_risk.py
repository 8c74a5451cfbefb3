"""The seller console's risk pages (/console/risk/…): the review queue (the orders risk holds, the rules that
fired and the amount against the product's trailing mean; approve, or reject with a reason) and the shop's
rule set (its version, each rule added, edited or deleted with the refusal's field errors next to the
field, and the audit of its versions). Shells of the console's own (`console_page`: the seat, the section,
the role's 403) whose data static/console_risk.js fetches from the admin risk API with console.js's
helpers; a role without risk:write is shown no write action, and the API refuses it (403) anyway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.entrypoints.console_pages import console_language
from gateway.entrypoints.i18n import gettext
from gateway.entrypoints.pages import N_
from gateway.entrypoints.web import STATIC_DIR

ConsolePage = Callable[..., Awaitable[Response]]
SCRIPT = (STATIC_DIR / "console_risk.js").read_bytes()
#: What the risk script shows, in the page's language (merged into the console's strings).
RISK_STRINGS = {
    "no_reviews": N_("No orders wait for review."),
    "approve": N_("Approve"),
    "reject": N_("Reject"),
    "reject_reason": N_("Why it is rejected"),
    "approved": N_("Approved: the buyer can pay now."),
    "review_rejected": N_("Rejected: the stock is free again."),
    "vs_mean": N_("%(amount)s, %(times)s× the product's usual %(mean)s"),
    "no_mean": N_("%(amount)s (no usual amount yet)"),
    "review_open": N_("Waiting until %(at)s"),
    "review_approved": N_("Approved by %(who)s"),
    "review_rejected_by": N_("Rejected by %(who)s: %(reason)s"),
    "review_expired": N_("Expired: nobody reviewed it in time"),
    "rules_version": N_("Version %(version)s, saved by %(who)s"),
    "rules_never": N_("No rules saved yet: every order is approved."),
    "no_rules": N_("No rules."),
    "edit": N_("Edit"),
    "delete": N_("Delete"),
    "rules_saved": N_("Saved as version %(version)s: the next order is decided with it."),
    "audit_line": N_("Version %(version)s by %(who)s: %(types)s"),
    "line_error": N_("Line %(line)s: %(message)s"),
    "one_per_line": N_("One a line."),
    "type_blocklist": N_("Blocklist"),
    "type_allowlist": N_("Allow-list"),
    "type_velocity": N_("Orders per time window"),
    "type_unpaid_orders": N_("Unpaid orders"),
    "type_amount_above_mean": N_("Amount above the usual"),
    "type_first_purchase_above": N_("First purchase above an amount"),
    "type_disposable_email": N_("Disposable e-mail addresses"),
    "type_quantity": N_("Quantity bounds"),
    "type_challenge": N_("Checkout challenge"),
    "field_ips": N_("Addresses"),
    "field_cidrs": N_("Networks (CIDR)"),
    "field_emails": N_("E-mail addresses"),
    "field_email_domains": N_("E-mail domains"),
    "field_phones": N_("Phone numbers"),
    "field_device_ids": N_("Device ids"),
    "field_payment_accounts": N_("Payment accounts"),
    "field_per": N_("Counted per"),
    "field_limit": N_("Limit"),
    "field_window_seconds": N_("Window (seconds)"),
    "field_action": N_("Then"),
    "field_factor": N_("Times the usual amount"),
    "field_sample": N_("Paid orders the usual amount is taken from"),
    "field_min_samples": N_("Paid orders needed first"),
    "field_amount": N_("Amount (minor units, 分)"),
    "field_extra_domains": N_("More domains"),
    "field_min": N_("Least"),
    "field_max": N_("Most"),
    "field_kind": N_("Ask for"),
    "field_difficulty": N_("Work (bits)"),
    "field_note": N_("Note"),
    "per_ip": N_("each client address"),
    "per_email": N_("each e-mail address"),
    "per_product": N_("each product"),
    "per_device": N_("each device"),
    "per_always": N_("every order"),
    "action_reject": N_("reject the order"),
    "action_review": N_("send to review"),
    "kind_proof_of_work": N_("a proof of work"),
    "kind_captcha": N_("an image to read (captcha)"),
}


def add_risk_pages(web: APIRouter, console_page: ConsolePage) -> None:
    """The risk pages on the console's router, drawn by its `console_page`."""

    def strings(request: Request) -> dict[str, str]:
        lang = console_language(request)
        return {key: gettext(lang, message) for key, message in RISK_STRINGS.items()}

    async def risk_page(request: Request, template: str, tab: str) -> Response:
        return await console_page(request, "risk", template, risk_strings=strings(request), tab=tab)

    @web.get("/console/risk/reviews")
    async def risk_reviews(request: Request) -> Response:
        return await risk_page(request, "risk_reviews.html", "reviews")

    @web.get("/console/risk/rules")
    async def risk_rules(request: Request) -> Response:
        return await risk_page(request, "risk_rules.html", "rules")

    @web.get("/console/risk/console_risk.js")
    async def risk_script() -> Response:
        media_type = "text/javascript; charset=utf-8"
        return Response(SCRIPT, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})
