"""The seller console's key pools (/console/keys…): the shop's card-key products with their stock and, for
whom the role allows it, the export of the unsold keys; one product's pool, key by key (id, state, batch,
dates and a fingerprint prefix, never the key's text), with void and replace of an unsold key. Exporting,
voiding and replacing want a second factor from the last five minutes (the page asks for a code when the
API says so); the export is in the audit trail with every write. Shells of the console's own
(`console_page`: the seat, the section, the role's 403) whose data static/console_keys.js fetches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.entrypoints.console_pages import page, page_strings, script_response
from gateway.entrypoints.pages import N_
from gateway.entrypoints.web import STATIC_DIR

ConsolePage = Callable[..., Awaitable[Response]]
SCRIPT = (STATIC_DIR / "console_keys.js").read_bytes()
#: What the key pages' script shows, in the page's language (merged into the console's strings).
KEY_STRINGS = {
    "no_card_products": N_("No card-key products yet."),
    "pool": N_("Keys"),
    "no_keys": N_("No keys match."),
    "key_available": N_("In stock"),
    "key_reserved": N_("Reserved for an order"),
    "key_sold": N_("Sold"),
    "key_void": N_("Voided"),
    "key_expired": N_("Expired"),
    "key_withdrawn": N_("Held back: its supplier is paused"),
    "void": N_("Void"),
    "replace": N_("Replace"),
    "replacement": N_("The new key"),
    "voided": N_("The key is voided: it will never be sold."),
    "replaced": N_("The key is voided and its replacement is in stock."),
}


def add_key_pages(web: APIRouter, console_page: ConsolePage) -> None:
    """The key pool pages on the console's router, drawn by its `console_page`."""

    @web.get("/console/keys")
    async def key_pools(request: Request) -> Response:
        strings = page_strings(request, KEY_STRINGS)
        return await console_page(request, "keys", "keys.html", key_strings=strings)

    @web.get("/console/keys/console_keys.js")
    async def keys_script() -> Response:
        return script_response(SCRIPT)

    @web.get("/console/keys/{product_id}")
    async def key_pool(request: Request, product_id: str) -> Response:
        try:
            UUID(product_id)
        except ValueError:
            return page(request, "message.html", 404, heading=N_("Key pools"), message=N_("No such product."))
        strings = page_strings(request, KEY_STRINGS)
        return await console_page(
            request, "keys", "key_pool.html", key_strings=strings, product_id=product_id
        )
