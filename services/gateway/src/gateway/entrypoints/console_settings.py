"""The seller console's settings pages (/console/settings/…: members and roles, API tokens, the audit log,
payment channels, notification channels, suppliers and their scores) and the catalog's categories and
coupons (/console/catalog/…). Shells of the console's own (`console_page`: the seat, the section, the
role's 403), each tab asking for the permission its API reads with; static/console_admin.js fetches their
data from the admin APIs with console.js's helpers. A role that may not change a thing is shown no action
for it, and the API refuses it (403) anyway. Writes the role table guards with a second factor (an API
token, a payment channel's credentials) ask for a code from the authenticator app and try again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, get_args

from faka_common.contracts.accounts import ApiTokenScope, ShopRole
from faka_common.contracts.payment_channels import CREDENTIALS
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from gateway.entrypoints.console_pages import CATALOG_LABEL, CATALOG_TABS, Section, console_language
from gateway.entrypoints.i18n import gettext
from gateway.entrypoints.pages import N_

ConsolePage = Callable[..., Awaitable[Response]]

SETTINGS_TABS = (
    Section("members", "console/settings/members", "people:read", N_("Members and roles")),
    Section("tokens", "console/settings/api-tokens", "people:read", N_("API tokens")),
    Section("audit", "console/settings/audit", "audit:read", N_("Audit log")),
    Section("payments", "console/settings/payments", "payments:read", N_("Payment channels")),
    Section("notifications", "console/settings/notifications", "notifications:read", N_("Notifications")),
    Section("suppliers", "console/settings/suppliers", "delivery:read", N_("Suppliers")),
)
ROLES: dict[ShopRole, str] = {
    "owner": N_("Owner"),
    "manager": N_("Manager"),
    "operator": N_("Operator"),
    "support": N_("Support"),
    "viewer": N_("Viewer"),
}
SCOPES: dict[ApiTokenScope, str] = {
    "catalog:read": N_("Read the catalog"),
    "catalog:write": N_("Change the catalog"),
    "keys:import": N_("Import keys"),
    "keys:export": N_("Export keys"),
    "orders:read": N_("Read orders"),
    "orders:write": N_("Change orders and refund"),
    "delivery:read": N_("Read deliveries"),
    "delivery:write": N_("Deliver and manage suppliers"),
    "pricing:read": N_("Read prices and coupons"),
    "pricing:write": N_("Change prices and coupons"),
}
assert set(ROLES) == set(get_args(ShopRole)) and set(SCOPES) == set(get_args(ApiTokenScope))

#: What the admin script shows, in the page's language (merged into the console's strings).
ADMIN_STRINGS = {
    "nothing_here": N_("Nothing here yet."),
    "remove": N_("Remove"),
    "revoke": N_("Revoke"),
    "change_role": N_("Change the role"),
    "member_added": N_("%(email)s is a member now. A new person gets an e-mail to set up the account."),
    "member_removed": N_("%(email)s is no longer a member."),
    "role_changed": N_("%(email)s is %(role)s now."),
    "token_once": N_("The token, shown this once: copy it now. Scripts send it as Authorization: Bearer."),
    "token_revoked": N_("The token %(name)s is revoked."),
    "token_line": N_("Scopes: %(scopes)s. Made %(created)s, last used %(used)s, expires %(expires)s."),
    "never": N_("never"),
    "revoked_at": N_("Revoked %(at)s"),
    "audit_line": N_("%(who)s: %(action)s (%(outcome)s)"),
    "audit_from": N_("from %(ip)s"),
    "platform_wide": N_("the platform"),
    "channel_enabled": N_("Offered to buyers"),
    "channel_disabled": N_("Not offered"),
    "channel_none": N_("Not set up: the platform's channel stands in."),
    "secret_set": N_("stored"),
    "secret_unset": N_("not stored"),
    "channel_saved": N_("The %(provider)s channel is saved."),
    "channel_removed": N_("The %(provider)s channel is removed."),
    "set_up": N_("Set up"),
    "replace_credentials": N_("Replace the credentials"),
    "enabled": N_("Offer it to buyers"),
    "save": N_("Save"),
    "saved_channels": N_("The notification settings are saved."),
    "keep_secret": N_("Leave it empty to keep the stored one."),
    "sms_account": N_("SMS account %(name)s: set up (its secret %(secret)s)."),
    "supplier_on": N_("Switched on"),
    "supplier_off": N_("Switched off"),
    "supplier_paused": N_("Paused by its claim rate"),
    "switch_on": N_("Switch on"),
    "switch_off": N_("Switch off"),
    "account": N_("Account"),
    "balance": N_("Balance %(amount)s"),
    "claims_line": N_("Claims: %(claims)s, replacements %(replacements)s, %(amount)s"),
    "keys_withheld": N_("Card keys held back from sale while it is paused: %(count)s"),
    "breaker_closed": N_("working"),
    "breaker_open": N_("failing: not tried for now"),
    "breaker_half_open": N_("being tried again"),
    "percent": N_("%(value)s %%"),
    "ms": N_("%(value)s ms"),
    "category_added": N_("The category %(name)s is added."),
    "visible": N_("Shown in the shop"),
    "hidden_category": N_("Hidden"),
    "coupon_added": N_("The coupon %(code)s is added."),
    "coupon_disabled": N_("The coupon %(code)s is disabled."),
    "disable": N_("Disable"),
    "coupon_off_fixed": N_("%(amount)s off"),
    "coupon_off_percent": N_("%(value)s %% off"),
    "coupon_uses": N_("Used %(used)s of %(limit)s"),
    "coupon_active": N_("Active"),
    "coupon_inactive": N_("Disabled"),
    "everything": N_("Everything"),
    **{f"role_{role}": label for role, label in ROLES.items()},
    **{f"scope_{scope}": label for scope, label in SCOPES.items()},
}


ONE_LINE = 512


def credential_fields(model: type[BaseModel], secrets: tuple[str, ...]) -> list[dict[str, Any]]:
    """A provider's credentials as the channel form asks for them: each field's name, whether it is a secret,
    takes several lines (a PEM key: longer than a line's 512 characters) and must be given."""
    return [
        {
            "name": name,
            "secret": name in secrets,
            "lines": max((getattr(m, "max_length", None) or 0 for m in info.metadata), default=0) > ONE_LINE,
            "required": info.is_required(),
        }
        for name, info in model.model_fields.items()
    ]


#: Each payment provider's credential fields, for the channel forms.
PROVIDER_FIELDS = {
    provider: credential_fields(model, model.SECRETS) for provider, model in CREDENTIALS.items()
}


def admin_strings(request: Request, *extra: dict[str, str]) -> dict[str, str]:
    """The admin script's strings (and `extra`'s) in the page's language."""
    lang = console_language(request)
    merged = {key: value for table in (ADMIN_STRINGS, *extra) for key, value in table.items()}
    return {key: gettext(lang, message) for key, message in merged.items()}


def add_settings_pages(web: APIRouter, console_page: ConsolePage) -> None:
    """The settings pages on the console's router, drawn by its `console_page`."""

    async def settings_page(request: Request, key: str, template: str, **values: Any) -> Response:
        tab = next(t for t in SETTINGS_TABS if t.key == key)
        return await console_page(
            request, "settings", template, tab.permission, tabs=SETTINGS_TABS, tab=key,
            tabs_label=N_("Settings"), admin_strings=admin_strings(request), **values,
        )  # fmt: skip

    @web.get("/console/settings")
    async def settings(request: Request) -> Response:
        return await console_page(
            request, "settings", "settings.html", tabs=SETTINGS_TABS, tab=None, tabs_label=N_("Settings")
        )

    @web.get("/console/settings/members")
    async def members(request: Request) -> Response:
        return await settings_page(request, "members", "settings_members.html", roles=ROLES)

    @web.get("/console/settings/api-tokens")
    async def api_tokens(request: Request) -> Response:
        return await settings_page(request, "tokens", "settings_tokens.html", scopes=SCOPES)

    @web.get("/console/settings/audit")
    async def audit(request: Request) -> Response:
        return await settings_page(request, "audit", "audit.html", source="/api/admin/audit")

    @web.get("/console/settings/payments")
    async def payments(request: Request) -> Response:
        return await settings_page(request, "payments", "settings_payments.html", providers=PROVIDER_FIELDS)

    @web.get("/console/settings/notifications")
    async def notifications(request: Request) -> Response:
        return await settings_page(request, "notifications", "settings_notifications.html")

    @web.get("/console/settings/suppliers")
    async def suppliers(request: Request) -> Response:
        return await settings_page(request, "suppliers", "settings_suppliers.html")


def add_catalog_pages(web: APIRouter, console_page: ConsolePage) -> None:
    """The catalog's categories and coupons pages (tabs of the products section)."""

    async def catalog_page(request: Request, key: str, template: str) -> Response:
        tab = next(t for t in CATALOG_TABS if t.key == key)
        return await console_page(
            request, "products", template, tab.permission, tabs=CATALOG_TABS, tab=key,
            tabs_label=CATALOG_LABEL, admin_strings=admin_strings(request),
        )  # fmt: skip

    @web.get("/console/catalog/categories")
    async def categories(request: Request) -> Response:
        return await catalog_page(request, "categories", "catalog_categories.html")

    @web.get("/console/catalog/coupons")
    async def coupons(request: Request) -> Response:
        return await catalog_page(request, "coupons", "catalog_coupons.html")
