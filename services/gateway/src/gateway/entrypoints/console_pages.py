"""The seller console's pages (/console/…): server-rendered shells in the person's language (the storefront's
templates, catalogs and language switch) whose data the console's script (static/console.js) fetches from
the admin and console JSON APIs with the session cookie, the CSRF header and X-Shop-Id. The pages show
only what the person's role in the chosen shop allows (navigation, actions); the API still decides. A
page asked without a session, or with one merchant no longer knows, sends the browser to sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import DomainError, NotFound, Unauthorized
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.bootstrap import Gateway
from gateway.domain.access import Permission, Principal
from gateway.domain.order_timeline import TRIGGER_CAUSES
from gateway.entrypoints import pages
from gateway.entrypoints.access import SECRET as TOKEN
from gateway.entrypoints.access import SESSION_COOKIE, authenticate
from gateway.entrypoints.i18n import LANGUAGE_COOKIE as LANGUAGE_CHOICE
from gateway.entrypoints.i18n import LANGUAGES, Language, gettext, negotiate
from gateway.entrypoints.pages import N_
from gateway.entrypoints.requests import ORDER_NO, PRIVATE
from gateway.entrypoints.shops import storefront_root
from gateway.entrypoints.web import STATIC_DIR, html

#: The shop a person chose in the switcher (the shop's id: no secret).
SHOP_COOKIE = "faka_console_shop"
SIGN_IN = "/console/sign-in"
TOTP_SETUP = "/console/totp"
#: Where a person lands after sign-in: the dashboard.
HOME = "/console/"
#: The console's own files, read once (only these names are served).
CONSOLE_FILES = {
    path.name: (path.read_bytes(), media_type)
    for path, media_type in (
        (STATIC_DIR / "console.css", "text/css; charset=utf-8"),
        (STATIC_DIR / "console.js", "text/javascript; charset=utf-8"),
        (STATIC_DIR / "console_admin.js", "text/javascript; charset=utf-8"),
        (STATIC_DIR / "console_wording.js", "text/javascript; charset=utf-8"),
    )
}


@dataclass(frozen=True)
class Section:
    """A page of the console and the permission the person needs in the shop to be shown it."""

    key: str
    path: str
    permission: Permission
    title: str


SECTIONS = (
    Section("dashboard", "console/", "orders:read", N_("Dashboard")),
    Section("orders", "console/orders", "orders:read", N_("Orders")),
    Section("products", "console/products", "catalog:read", N_("Products")),
    Section("manual", "console/manual-queue", "delivery:read", N_("Manual queue")),
    # the pools' page: owners, managers and operators; the export on it wants keys:export
    Section("keys", "console/keys", "keys:import", N_("Key pools")),
    Section("risk", "console/risk/reviews", "risk:read", N_("Risk control")),
    Section("tickets", "console/tickets", "tickets:read", N_("Tickets")),
    # every shop role reads the suppliers: each settings tab then asks for its own permission
    Section("settings", "console/settings", "delivery:read", N_("Settings")),
    Section("platform", "console/platform/shops", "platform:read", N_("Platform")),
)
#: The products section's tabs: the products, their categories and the coupons.
CATALOG_TABS = (
    Section("products", "console/products", "catalog:read", N_("Products")),
    Section("categories", "console/catalog/categories", "catalog:read", N_("Categories")),
    Section("coupons", "console/catalog/coupons", "pricing:read", N_("Coupons")),
)
CATALOG_LABEL = N_("Catalog")
#: The actions of the order page, each shown to whom the API allows it.
ACTIONS: dict[str, Permission] = {
    "refund": "orders:refund",
    "resend": "orders:write",
    "rotate": "orders:write",
    "deliver": "delivery:write",
    "export": "keys:export",
    "manage_keys": "keys:manage",
    "edit_catalog": "catalog:write",
    "import_keys": "keys:import",
    "edit_tiers": "pricing:write",
}
#: What the script shows, in the page's language (statuses come from the storefront's labels).
SCRIPT_STRINGS = {
    "loading": N_("Loading…"),
    "nothing": N_("No orders match."),
    "no_tasks": N_("The manual queue is empty."),
    "more": N_("Show more"),
    "failed": N_("That did not work: %(message)s"),
    "wrong_sign_in": N_("The e-mail address or the password is wrong."),
    "wrong_code": N_("That code is not right, or it was used already."),
    "required": N_("Fill this in."),
    "saved": N_("Done."),
    "refunded": N_("Refund of %(amount)s requested: %(status)s."),
    "released": N_("Released for delivery: the order is delivered as if it had not been held."),
    "resent": N_("The buyer's link was e-mailed again."),
    "rotated": N_("Old links no longer open the order. The buyer's new link:"),
    "claim": N_("Claim"),
    "deliver": N_("Deliver"),
    "reject": N_("Reject"),
    "content": N_("What the buyer receives"),
    "reason": N_("Why it is rejected"),
    "claimed_by": N_("Claimed by %(who)s"),
    "task_open": N_("Waiting to be claimed"),
    "delivered": N_("Delivered by %(who)s"),
    "rejected": N_("Rejected by %(who)s: %(reason)s"),
    "export": N_("Export unsold keys"),
    "exported": N_("%(count)s keys exported."),
    "step_up": N_("Confirm with a code from your authenticator app first."),
    "no_delivery": N_("No delivery yet."),
    "kind_transition": N_("Status: %(from)s → %(to)s"),
    "kind_placed": N_("Placed: %(to)s"),
    "kind_payment": N_("Payment %(amount)s via %(provider)s, trade number %(trade_no)s"),
    "kind_payment_set_aside": N_("Payment %(amount)s set aside for a refund: %(reason)s"),
    "kind_refund": N_("Refund %(amount)s (%(status)s): %(reason)s"),
    "kind_release": N_("Released for delivery by %(who)s: %(reason)s"),
    "kind_delivery_attempt": N_("Delivery attempt via %(channel)s: %(outcome)s"),
    "cause_buyer": N_("by the buyer"),
    "cause_risk": N_("by the risk checks"),
    "cause_inventory": N_("by the stock"),
    "cause_payment": N_("by the payment provider"),
    "cause_payment_window": N_("by the payment window closing"),
    "cause_delivery": N_("by delivery"),
    "cause_refund": N_("by a refund"),
    "cause_release": N_("by a person"),
    "cause_system": N_("by the platform"),
    "reason_manual_product": N_("A product the shop delivers by hand"),
    "reason_suppliers_exhausted": N_("Every supplier failed"),
    "reason_no_supplier_route": N_("No supplier serves this product"),
    "reason_sla_breach": N_("Delivery took too long"),
    "reason_undeliverable": N_("It could not be delivered automatically"),
    "link_done": N_("Done. You can sign in now."),
    "totp_on": N_("Two-step sign-in is on. Keep these recovery codes somewhere safe; each works once:"),
    "email_done": N_("Your e-mail address is confirmed."),
    "link_invalid": N_("This link was used already, has expired or is not known. Ask for a new one."),
    "none": N_("None."),
    "chart_label": N_("Orders (bars) and paid orders (line) each day from %(first)s to %(last)s"),
    "orders_count": N_("Orders: %(count)s"),
    "paid_count": N_("paid: %(count)s"),
    "status_count": N_("%(status)s: %(count)s"),
    "hot_line": N_("%(title)s: paid orders %(orders)s, units %(quantity)s"),
    "low_line": N_("%(title)s: %(count)s left (alert at %(threshold)s)"),
    "refund_line": N_("Refunds %(status)s: %(count)s, %(amount)s"),
    "refund_pending": N_("under way"),
    "refund_succeeded": N_("paid back"),
    "refund_failed": N_("failed"),
    "csv_ready": N_("The daily figures are ready:"),
    "fee_at": N_("(at %(rate)s)"),
    "group_mode": N_("Mode: %(name)s"),
    "group_channel": N_("Channel: %(name)s"),
    "group_supplier": N_("Supplier: %(name)s"),
    "no_rate": N_("nothing finished"),
    "delivery_ready": N_("The delivery success table is ready:"),
    "name_card_key": N_("card keys"),
    "name_loop_key": N_("loop keys"),
    "name_manual": N_("by hand"),
    "name_recharge": N_("recharge"),
    "name_operator": N_("an operator"),
    "name_supplier": N_("suppliers"),
    "no_products": N_("No products yet."),
    "on_sale": N_("On sale"),
    "off_sale": N_("Not on sale"),
    "not_listed": N_("not listed"),
    "unlimited": N_("No limit"),
    "edit": N_("Edit"),
    "import_keys": N_("Import keys"),
    "bad_amount": N_("Write an amount such as 12.50."),
    "bad_number": N_("Write a whole number."),
    "bad_tier": N_("Line %(line)s: write the units, a space, then the unit price."),
    "tiers_saved": N_("The wholesale prices are saved."),
    "nothing_to_import": N_("Paste keys or choose a file."),
    "sending": N_("Sent so far: %(percent)s"),
    "waiting_report": N_("Sent. The keys are being checked…"),
    "report_summary": N_(
        "Accepted: %(imported)s. Duplicates: %(duplicates)s. Invalid: %(invalid)s. Blank lines: %(blank)s."
    ),
    "report_blank": N_("Line %(line)s: blank, skipped"),
    "report_repeat": N_("Line %(line)s: duplicate of line %(first)s"),
    "report_invalid": N_("Line %(line)s: invalid (%(reason)s)"),
    "stock_now": N_("Keys in stock: %(count)s"),
    "reset_sent": N_(
        "If an account has this address, a link to choose a new password is on its way. It works once, "
        "for a short time."
    ),
}
assert {f"cause_{cause}" for cause in TRIGGER_CAUSES.values()} <= set(SCRIPT_STRINGS)


#: The pages of merchant's e-mailed links (merchant.domain.accounts) and what each does.
LINK_PURPOSES = {
    "/console/setup": "account_setup",
    "/console/reset": "password_reset",
    "/console/verify-email": "email_verification",
}
LINK_HEADINGS = {
    "account_setup": N_("Set up your account"),
    "password_reset": N_("Choose a new password"),
    "email_verification": N_("Confirm your e-mail address"),
}


@dataclass(frozen=True)
class Seat:
    """The signed-in person at the console: who, the shop they act for and the shops they may switch to."""

    principal: Principal
    shop_id: UUID | None
    shops: list[tuple[UUID, str]]

    def may(self, permission: Permission) -> bool:
        """Whether the person may use `permission` in the chosen shop (a platform:* one: on the platform)."""
        if permission.startswith("platform:"):
            return permission in self.principal.permissions_in(None)
        return self.shop_id is not None and permission in self.principal.permissions_in(self.shop_id)


def console_language(request: Request) -> Language:
    return negotiate(
        LANGUAGES,
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_CHOICE),
        request.headers.get("accept-language"),
    )


def page_strings(request: Request, messages: dict[str, str]) -> dict[str, str]:
    """A page script's own strings (key: msgid) in the request's language."""
    lang = console_language(request)
    return {key: gettext(lang, message) for key, message in messages.items()}


def script_response(content: bytes) -> Response:
    """A page script of the console, cached briefly."""
    media_type = "text/javascript; charset=utf-8"
    return Response(content, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})


def context(request: Request) -> pages.PageContext:
    path = request.url.path.removeprefix(storefront_root(request))
    query = request.url.query
    return pages.PageContext(console_language(request), storefront_root(request), "", path + f"?{query}")


def to_sign_in(request: Request) -> RedirectResponse:
    """Where a page without a good session sends the browser: sign-in, then back to the page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = storefront_root(request) + SIGN_IN + "?" + urlencode({"next": here})
    return RedirectResponse(target, status_code=303, headers=PRIVATE)


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    ctx = context(request)
    strings = {key: gettext(ctx.lang, message) for key, message in SCRIPT_STRINGS.items()}
    strings |= {f"status_{status}": gettext(ctx.lang, label) for status, label in pages.STATUS_LABELS.items()}
    values = {"status_labels": pages.STATUS_LABELS, **values}
    content = pages.render(f"console/{template}", ctx, strings=strings, **values)
    return html(request, content, status_code)


def console_pages_router(gw: Gateway) -> APIRouter:
    web = APIRouter(tags=["console pages"], include_in_schema=False)

    async def seat(request: Request) -> Seat | None:
        """The person of the request's session (None without one that merchant knows) and their shop: the
        switcher's choice, else the first shop they belong to (platform staff: the default shop)."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            principal = await authenticate(gw, request, "session", token)
        except Unauthorized:
            return None
        offered = list(principal.memberships)
        if principal.platform_roles and DEFAULT_SHOP_ID not in offered:
            offered.append(DEFAULT_SHOP_ID)
        wanted = [request.query_params.get("shop"), request.cookies.get(SHOP_COOKIE)]
        chosen = next((s for s in (_uuid(w) for w in wanted) if s and principal.sees(s)), None)
        if chosen is not None and chosen not in offered:
            offered.append(chosen)
        shops = [(shop_id, await shop_name(shop_id)) for shop_id in offered]
        return Seat(principal, chosen or next(iter(offered), None), shops)

    async def shop_name(shop_id: UUID) -> str:
        try:
            return (await gw.shops.by_id(shop_id)).name
        except NotFound:
            return str(shop_id)

    async def seated(request: Request) -> Seat | Response:
        """The request's seat, or the page that answers instead: sign-in without a session, the error's."""
        try:
            found = await seat(request)
        except DomainError as error:
            return page(request, "message.html", error.status_code, heading=N_("Something went wrong"),
                        message=error.message)  # fmt: skip
        return to_sign_in(request) if found is None else found

    async def console_page(
        request: Request, section: str, template: str, needs: Permission | None = None, **values: Any
    ) -> Response:
        """The section's page for a person whose role opens it (and, for a page that changes things,
        allows `needs`); a 403 page naming why for the others."""
        found = await seated(request)
        if isinstance(found, Response):
            return found
        if found.principal.totp_enrolment_required:
            target = storefront_root(request) + TOTP_SETUP
            return RedirectResponse(target, status_code=303, headers=PRIVATE)
        shown = [s for s in SECTIONS if found.may(s.permission)]
        current = next(s for s in SECTIONS if s.key == section)
        allowed = {name: found.may(permission) for name, permission in ACTIONS.items()}
        common: dict[str, Any] = {"seat": found, "sections": shown, "current": current, "allowed": allowed}
        if found.shop_id is None:
            message = N_("You are not a member of any shop yet. Ask a shop's owner to invite you.")
            return page(request, "message.html", 403, heading=current.title, message=message, **common)
        if current not in shown or (needs is not None and not found.may(needs)):
            message = N_("Your role in this shop cannot open this page.")
            if current.permission.startswith("platform:"):
                message = N_("Only the platform's staff can open this page.")
            return page(request, "message.html", 403, heading=current.title, message=message, **common)
        response = page(request, template, **common, **values)
        if request.query_params.get("shop") == str(found.shop_id):
            response.set_cookie(SHOP_COOKIE, str(found.shop_id), path="/", samesite="strict", httponly=True)
        return response

    @web.get("/console")
    async def console_root(request: Request) -> Response:
        return RedirectResponse(storefront_root(request) + HOME, status_code=303)

    @web.get(HOME)
    async def dashboard(request: Request) -> Response:
        return await console_page(request, "dashboard", "dashboard.html")

    @web.get("/console/sign-in")
    async def sign_in(request: Request) -> Response:
        wanted = request.query_params.get("next", "")
        target = wanted if wanted.startswith("/console/") and not wanted.startswith("//") else HOME
        return page(request, "sign_in.html", next_page=target)

    @web.get("/console/forgot-password")
    async def forgot_password(request: Request) -> Response:
        """Ask for a password-reset link (merchant e-mails it when the address has an account)."""
        return page(request, "forgot_password.html")

    @web.get("/console/setup")
    @web.get("/console/reset")
    @web.get("/console/verify-email")
    async def link(request: Request) -> Response:
        """An e-mailed one-time link's page: set the password (a new account's or a reset), or confirm the
        address. Nothing is used until the person submits (a mail scanner that opens the link uses none)."""
        purpose = LINK_PURPOSES[request.url.path.removeprefix(storefront_root(request))]
        token = request.query_params.get("token", "")
        if not TOKEN.fullmatch(token):
            message = N_("This link is not complete. Open it from the e-mail.")
            return page(request, "message.html", 404, heading=LINK_HEADINGS[purpose], message=message)
        return page(request, "link.html", purpose=purpose, token=token, heading=LINK_HEADINGS[purpose])

    @web.get(TOTP_SETUP)
    async def totp_setup(request: Request) -> Response:
        """Platform staff and shop owners set up TOTP before anything else (the API refuses them until
        then); anyone may add it here."""
        found = await seated(request)
        if isinstance(found, Response):
            return found
        return page(request, "totp.html", seat=found, required=found.principal.totp_enrolment_required)

    @web.get("/console/orders")
    async def orders(request: Request) -> Response:
        return await console_page(request, "orders", "orders.html")

    @web.get("/console/orders/{order_no}")
    async def order(request: Request, order_no: str) -> Response:
        if not ORDER_NO.fullmatch(order_no):
            return page(request, "message.html", 404, heading=N_("Orders"), message=N_("No such order."))
        return await console_page(request, "orders", "order.html", order_no=order_no)

    @web.get("/console/products")
    async def products(request: Request) -> Response:
        return await console_page(
            request, "products", "products.html", tabs=CATALOG_TABS, tab="products", tabs_label=CATALOG_LABEL
        )

    @web.get("/console/products/new")
    async def new_product(request: Request) -> Response:
        return await console_page(request, "products", "product.html", "catalog:write", product_id=None)

    @web.get("/console/products/{product_id}")
    async def edit_product(request: Request, product_id: str) -> Response:
        return await product_page(request, product_id, "product.html", "catalog:write")

    @web.get("/console/products/{product_id}/keys")
    async def key_import(request: Request, product_id: str) -> Response:
        return await product_page(request, product_id, "key_import.html", "keys:import")

    async def product_page(request: Request, product_id: str, template: str, needs: Permission) -> Response:
        if _uuid(product_id) is None:
            return page(request, "message.html", 404, heading=N_("Products"), message=N_("No such product."))
        return await console_page(request, "products", template, needs, product_id=product_id)

    @web.get("/console/manual-queue")
    async def manual_queue(request: Request) -> Response:
        return await console_page(request, "manual", "manual_queue.html")

    @web.get("/console/static/{name}")
    async def static(name: str) -> Response:
        found = CONSOLE_FILES.get(name)
        if found is None:
            raise NotFound(f"no file {name[:64]!r}")
        content, media_type = found
        return Response(content, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})

    from gateway.entrypoints.console_keys import add_key_pages
    from gateway.entrypoints.console_platform import add_platform_pages
    from gateway.entrypoints.console_risk import add_risk_pages  # they import this module
    from gateway.entrypoints.console_settings import add_catalog_pages, add_settings_pages
    from gateway.entrypoints.console_tickets import add_ticket_pages

    add_risk_pages(web, console_page)
    add_settings_pages(web, console_page)
    add_catalog_pages(web, console_page)
    add_platform_pages(web, console_page)
    add_ticket_pages(web, console_page)
    add_key_pages(web, console_page)
    return web


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None
