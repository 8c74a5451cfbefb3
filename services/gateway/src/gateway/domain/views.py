"""How the owners' answers are shaped for buyers: catalog entries, order views, amounts, links."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from faka_common.contracts.order_watch import Announced

# ISO 4217 currencies whose minor unit is not 1/100 of the major unit.
MINOR_UNIT_EXPONENT: dict[str, int] = {
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
    "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip

# Statuses in which the buyer may see the delivered keys.
KEY_REVEALING_STATUSES = frozenset({"delivered", "completed"})
# Statuses in which the order is still moving on its own (the order page refreshes itself).
PENDING_STATUSES = frozenset(
    {"pending_risk", "review", "reserving", "awaiting_payment", "paid", "fulfilling"}
)
# Statuses an order only passes through, each with the statuses it follows: after those, its view differs
# in nothing but the status (no payment link, payment or delivery time, or keys comes with it), so the order
# page's stream sends the last view with the new status instead of reading the order again (two reads of
# five in a keyed sale). After any other status (an announcement missed) the stream reads the order.
TRANSIT_STATUSES: dict[str, frozenset[str]] = {
    "reserving": frozenset({"pending_risk", "review"}),
    "fulfilling": frozenset({"paid"}),
}


def moved_view(
    view: dict[str, Any],
    announced: Announced,
    access: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The order page's view after an announced move, when the announcement tells all that changed (no read of
    the order needed): a transit status; the payment of an order awaiting it (the view gains the time it
    was paid and loses its payment link and methods); the delivery of a paid order (it gains the time it
    was delivered; the caller reveals the keys) while the watcher's `access` still opens the order (see
    `opens_after`). None: the order must be read."""
    status = view.get("status")
    if status in TRANSIT_STATUSES.get(announced.status, ()):
        return {**view, "status": announced.status}
    if announced.status == "awaiting_payment" and status in AWAITING_AFTER:
        return _awaiting_payment(view, announced, access)
    if announced.status == "paid" and status == "awaiting_payment" and announced.at:
        return {**view, "status": "paid", "paid_at": announced.at, "pay_url": None, "payment_methods": []}
    if (
        announced.status == "delivered"
        and status in DELIVERED_AFTER
        and announced.at
        and opens_after(access, announced, now or datetime.now(UTC))
    ):
        return {**view, "status": "delivered", "delivered_at": announced.at}
    return None


#: The statuses a move to awaiting payment is told after.
AWAITING_AFTER = frozenset({"pending_risk", "review", "reserving"})


def _awaiting_payment(
    view: dict[str, Any], announced: Announced, access: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The view once the order awaits payment: the payment link and methods the last read gave for then
    (`once_awaiting_payment`, kept with `access`), when the announced window is the one the view shows (an
    approval after review starts another)."""
    once = access.get("once_awaiting_payment") if access else None
    if (
        not isinstance(once, Mapping)
        or not announced.at
        or not _same_moment(announced.at, view.get("expires_at"))
    ):
        return None
    told = {"pay_url": once.get("pay_url"), "payment_methods": list(once.get("payment_methods") or [])}
    return {**view, "status": "awaiting_payment", **told}


def _same_moment(one: str, other: Any) -> bool:
    try:
        return datetime.fromisoformat(one) == datetime.fromisoformat(str(other))
    except (TypeError, ValueError):
        return False


#: The statuses a delivery announcement is told after (the stream reads the order after any other).
DELIVERED_AFTER = frozenset({"paid", "fulfilling"})


def opens_after(access: Mapping[str, Any] | None, announced: Announced, now: datetime) -> bool:
    """Whether the secret that opened the order page's stream still opens the order at the announced move:
    the query password always does (rotating the tokens leaves it); a token only while it works and is of
    the secret version announced (a rotation since makes it of an older one). Anything unknown: no."""
    if not access or announced.secret_version is None:
        return False
    if access.get("by") == "password":
        return True
    if access.get("by") != "token" or access.get("secret_version") != announced.secret_version:
        return False
    try:
        return now < datetime.fromisoformat(str(access.get("until")))
    except (TypeError, ValueError):
        return False


# Statuses in which the sandbox provider takes a payment (a payment racing the expiry still counts).
PAYABLE_STATUSES = frozenset({"awaiting_payment", "expired"})


def format_amount(amount: int, currency: str) -> str:
    """Minor units as major units with the currency code: 1234 CNY -> '12.34 CNY'."""
    exponent = MINOR_UNIT_EXPONENT.get(currency.upper(), 2)
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    if exponent == 0:
        major = str(value)
    else:
        unit = 10**exponent
        major = f"{value // unit}.{value % unit:0{exponent}d}"
    return f"{sign}{major} {currency}"


def reveals_keys(status: str | None) -> bool:
    return status in KEY_REVEALING_STATUSES


def in_stock(product: dict[str, Any]) -> bool:
    """Loop-key products have no finite stock (available is null) and are always in stock."""
    available = (product.get("stock") or {}).get("available")
    return available is None or int(available) > 0


def storefront_product(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": product["product_id"],
        "title": product["title"],
        "description": product.get("description", ""),
        "price": product["price"],
        "currency": product["currency"],
        "delivery_type": product.get("delivery_type"),
        "category_id": product.get("category_id"),
        "sort_order": product.get("sort_order", 0),
        "max_per_order": product.get("max_per_order"),
        "max_per_buyer": product.get("max_per_buyer"),
        "usage_instructions": product.get("usage_instructions", ""),
        "in_stock": in_stock(product),
        "available": (product.get("stock") or {}).get("available"),
        "variant_of": product.get("variant_of"),
        "variant_label": product.get("variant_label"),
        "variants": [],
    }


def on_sale(product: dict[str, Any]) -> bool:
    """Active and visible (a hidden product stays buyable by link); sold out only hides it when the
    product says so (hide_when_sold_out), otherwise it is listed with in_stock false."""
    if not (product.get("active", False) and product.get("visible", True)):
        return False
    return in_stock(product) or not product.get("hide_when_sold_out", False)


def storefront_catalog(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The products on sale, in the order given (sort_order, then creation). A product with variants (SKUs)
    carries them in `variants` (itself first, labelled by its variant_label or title); a variant whose main
    product is not on sale is listed on its own."""
    listed = [storefront_product(p) for p in products if on_sale(p)]
    mains = {item["id"]: item for item in listed if not item.get("variant_of")}
    items = []
    for item in listed:
        main = mains.get(item.get("variant_of") or "")
        if main is None:
            items.append(item)
            continue
        if not main["variants"]:
            main["variants"].append(variant_option(main))
        main["variants"].append(variant_option(item))
    return items


def variant_option(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "label": item.get("variant_label") or item["title"],
        "price": item["price"],
        "currency": item["currency"],
        "in_stock": item["in_stock"],
        "available": item["available"],
    }


def secret_query(token: str | None = None, password: str | None = None) -> str:
    """The query string that carries the buyer's order secret (token preferred)."""
    if token:
        return urlencode({"token": token})
    if password:
        return urlencode({"password": password})
    return ""


def order_api_url(base_url: str, order_no: str, token: str) -> str:
    return f"{base_url}/api/v1/orders/{quote(order_no, safe='')}?{secret_query(token=token)}"


def order_page_url(base_url: str, order_no: str, token: str) -> str:
    return f"{base_url}/orders/{quote(order_no, safe='')}?{secret_query(token=token)}"


def placed_order_view(placed: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The buyer's answer to placing an order: where to follow it, and its access token."""
    order_no, token = str(placed["order_no"]), str(placed["token"])
    return {
        "order_no": order_no,
        "token": token,
        "status": placed["status"],
        "amount": placed["amount"],
        "currency": placed["currency"],
        "expires_at": placed.get("expires_at"),
        "order_url": order_api_url(base_url, order_no, token),
        "page_url": order_page_url(base_url, order_no, token),
    }


def buyer_order_view(order: dict[str, Any], keys: dict[str, Any] | None) -> dict[str, Any]:
    """The order service's view, plus the delivered keys once the order is delivered (never before); how
    the secret opened it (`access`) is the gateway's alone."""
    view = dict(order)
    view.pop("items", None)
    view.pop("usage_instructions", None)
    view.pop("access", None)
    view.pop("once_awaiting_payment", None)
    if reveals_keys(order.get("status")):
        keys = keys or {}
        view["items"] = [{"content": k["content"]} for k in keys.get("keys", [])]
        view["usage_instructions"] = keys.get("usage_instructions", "")
    return view


#: At most this many left (a finite count) is shown as "low" on the storefront: the shop's own low-stock
#: threshold is not public (the read model never carries it).
LOW_STOCK = 5


def stock_state(item: dict[str, Any]) -> str:
    """available, low or sold_out, for a product or one of its options."""
    if not item.get("in_stock"):
        return "sold_out"
    available = item.get("available")
    return "low" if available is not None and int(available) <= LOW_STOCK else "available"


def product_state(product: dict[str, Any]) -> str:
    """A product with options is as available as its best option."""
    options = product.get("variants") or [product]
    states = {stock_state(option) for option in options}
    for state in ("available", "low"):
        if state in states:
            return state
    return "sold_out"


def lowest_price(product: dict[str, Any]) -> tuple[int, str]:
    """The price a product is listed at: its cheapest option's."""
    options = product.get("variants") or [product]
    cheapest = min(options, key=lambda option: int(option["price"]))
    return int(cheapest["price"]), str(cheapest["currency"])


def storefront_sections(
    products: list[dict[str, Any]], categories: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The catalog by category, in the categories' order; a product whose category is unknown or hidden
    comes last under no name. Each section: {"name": str | None, "products": [...]}."""
    named = [c for c in categories if c.get("visible", True)]
    by_id: dict[str, list[dict[str, Any]]] = {str(c["category_id"]): [] for c in named}
    rest: list[dict[str, Any]] = []
    for product in products:
        by_id.get(str(product.get("category_id")), rest).append(product)
    sections: list[dict[str, Any]] = [
        {"name": str(c["name"]), "products": by_id[str(c["category_id"])]}
        for c in sorted(named, key=lambda c: int(c.get("sort_order") or 0))
        if by_id[str(c["category_id"])]
    ]
    if rest:
        sections.append({"name": None, "products": rest})
    return sections


def catalog_product(catalog: list[dict[str, Any]], product_id: str) -> dict[str, Any] | None:
    """The catalog entry a product page shows: the product, or the main product one of whose options it
    is."""
    for item in catalog:
        if item["id"] == product_id or any(v["id"] == product_id for v in item.get("variants") or []):
            return item
    return None
