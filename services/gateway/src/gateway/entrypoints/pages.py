"""The small HTML pages (sandbox checkout, order page). Every dynamic value goes through `e` (html.escape)."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from gateway.domain.shops import Shop
from gateway.domain.views import PENDING_STATUSES, format_amount, reveals_keys, secret_query
from gateway.service_layer.buyer_secrets import OrderSecret

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse}td,th{padding:.25rem .75rem;text-align:left;vertical-align:top}"
    "th{color:#666;font-weight:normal}code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}"
    "button,.button{font-size:1.1rem;padding:.5rem 1.5rem;background:#1677ff;color:#fff;border:0;"
    "border-radius:.3rem;text-decoration:none;cursor:pointer}.muted{color:#666}.pre{white-space:pre-wrap}"
)

STATUS_LABELS = {
    "pending_risk": "being checked",
    "review": "being reviewed",
    "reserving": "reserving stock",
    "awaiting_payment": "awaiting payment",
    "paid": "paid, delivering",
    "fulfilling": "paid, delivering",
    "delivery_failed": "delivery failed; the shop will contact you",
    "delivered": "delivered",
    "completed": "completed",
}


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def layout(
    title: str, body: str, refresh_seconds: int | None = None, live: bool = False, root: str = ""
) -> str:
    """`live`: the page follows its order's event stream and reloads on a change; the refresh is then only
    for browsers without scripts. `root`: where the shop's storefront lives ("" or /s/<slug>); the page's
    own links are relative to it, so they stay in the shop."""
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    if refresh and live:
        refresh = f"<noscript>{refresh}</noscript>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<base href="{e(root)}/"><title>{e(title)}</title>{refresh}<style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


def order_page_path(order_no: str, token: str | None = None, password: str | None = None) -> str:
    return f"/orders/{quote(order_no, safe='')}?{secret_query(token, password)}"


def relative(path: str) -> str:
    """A site path as a link relative to the page's base (its shop's storefront)."""
    return path.lstrip("/")


def order_events_path(order_no: str, secret: OrderSecret) -> str:
    return f"api/v1/orders/{quote(order_no, safe='')}/events?{secret_query(secret.token, secret.password)}"


def live_script(events_path: str, status: str) -> str:
    """Reloads the page when the order's event stream shows another status than the page does."""
    return (
        f"<script>(function(){{var s=new EventSource({json.dumps(events_path)});"
        "s.addEventListener('order',function(m){"
        f"if(JSON.parse(m.data).status!=={json.dumps(status)}){{s.close();location.reload();}}}});"
        "s.addEventListener('error',function(){if(s.readyState===2){location.reload();}});})();</script>"
    )


def safe_link(url: Any) -> str | None:
    """Only http(s) and site-relative links are rendered as links."""
    if not isinstance(url, str) or not url:
        return None
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https") or (scheme == "" and url.startswith("/") and not url.startswith("//")):
        return url
    return None


def status_label(status: Any) -> str:
    return STATUS_LABELS.get(str(status), str(status).replace("_", " "))


def order_table(order: dict[str, Any]) -> str:
    rows = [
        ("Order number", e(order.get("order_no"))),
        ("Product", e(order.get("product_title"))),
        ("Quantity", e(order.get("quantity"))),
        ("Amount", e(format_amount(int(order.get("amount", 0)), str(order.get("currency", ""))))),
        ("Status", e(status_label(order.get("status")))),
        ("Created", e(order.get("created_at"))),
    ]
    for label, field in (("Paid", "paid_at"), ("Delivered", "delivered_at")):
        if order.get(field):
            rows.append((label, e(order[field])))
    return (
        "<table>"
        + "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
        + "</table>"
    )


def pay_buttons(view: dict[str, Any], secret: OrderSecret | None) -> str:
    """One pay button per payment method the order offers (the sandbox's checkout link when the order
    service gave one); each posts the buyer's secret in the form body to the order page's pay route."""
    pay_url = safe_link(view.get("pay_url"))
    methods = [str(m) for m in view.get("payment_methods") or [] if not (pay_url and m == "sandbox")]
    parts = [f'<a class="button" href="{e(pay_url)}">Pay now</a>'] if pay_url else []
    if methods:
        fields = secret.body() if secret is not None else {}
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{e(value)}">'
            for name, value in fields.items()
            if value
        )
        action = f"orders/{quote(str(view.get('order_no', '')), safe='')}/pay"
        for method in methods:
            label = "Pay now" if not parts and len(methods) == 1 else f"Pay with {method}"
            parts.append(
                f'<form method="post" action="{e(action)}" style="display:inline">{hidden}'
                f'<input type="hidden" name="provider" value="{e(method)}">'
                f'<button type="submit">{e(label)}</button></form>'
            )
    return f"<p>{' '.join(parts)}</p>" if parts else ""


def order_page(
    view: dict[str, Any],
    telegram_link: str | None = None,
    secret: OrderSecret | None = None,
    root: str = "",
) -> str:
    """The buyer's order page: the order, pay buttons while awaiting payment, the keys once delivered, and
    a link that gets the order's notices on Telegram."""
    status = view.get("status")
    parts = [f"<h1>Order {e(view.get('order_no'))}</h1>", order_table(view)]
    if status == "awaiting_payment":
        parts.append(pay_buttons(view, secret))
    if reveals_keys(status):
        items = view.get("items", [])
        if items:
            keys = "".join(f"<li><code>{e(item.get('content'))}</code></li>" for item in items)
            parts.append(f"<h2>Your keys</h2><ol>{keys}</ol>")
        else:
            parts.append('<p class="muted">Your keys are being prepared; check your e-mail.</p>')
        if view.get("usage_instructions"):
            parts.append(f'<h2>How to use</h2><p class="pre">{e(view["usage_instructions"])}</p>')
    if telegram_link:
        parts.append(
            f'<p><a href="{e(telegram_link)}" rel="noopener">Get notices on Telegram</a> '
            '<span class="muted">(delivery, delays and refunds of this order)</span></p>'
        )
    refresh = 5 if status in PENDING_STATUSES else None
    live = bool(refresh and secret is not None and view.get("order_no"))
    if refresh:
        parts.append('<p class="muted">This page updates itself.</p>')
    if live and secret is not None:
        events = order_events_path(str(view["order_no"]), secret)
        # the path is URL-quoted (no "<" can close the script); the status is one of the fixed statuses
        parts.append(live_script(events, str(status)))
    return layout(f"Order {view.get('order_no', '')}", "".join(parts), refresh, live, root)


def sandbox_checkout_page(order: dict[str, Any], token: str, root: str = "") -> str:
    """The sandbox provider's checkout: the order and a button that pays it."""
    order_no = str(order.get("order_no", ""))
    amount = format_amount(int(order.get("amount", 0)), str(order.get("currency", "")))
    parts = [
        "<h1>Sandbox checkout</h1>",
        '<p class="muted">A pretend payment provider for the demo; no money moves.</p>',
        "<table>",
        f"<tr><th>Order number</th><td>{e(order_no)}</td></tr>",
        f"<tr><th>Product</th><td>{e(order.get('product_title'))}</td></tr>",
        f"<tr><th>Amount</th><td><strong>{e(amount)}</strong></td></tr>",
        "</table>",
    ]
    status = order.get("status")
    refresh = None
    if status == "awaiting_payment":
        action = f"pay/sandbox/{quote(order_no, safe='')}/complete?{secret_query(token=token)}"
        parts.append(
            f'<form method="post" action="{e(action)}"><p><button type="submit">Pay now</button></p></form>'
        )
    elif status in ("pending_risk", "review", "reserving"):
        parts.append('<p class="muted">The order is still being checked; this page refreshes itself.</p>')
        refresh = 3
    else:
        parts.append(f"<p>This order is {e(status_label(status))}; there is nothing to pay.</p>")
    parts.append(f'<p><a href="{e(relative(order_page_path(order_no, token)))}">Your order page</a></p>')
    return layout(f"Pay order {order_no}", "".join(parts), refresh, root=root)


def qr_payment_page(order_no: str, answer: dict[str, Any], root: str = "") -> str:
    """What a provider that answers with a QR payload (WeChat Native, USDT) wants the buyer to scan."""
    payload = answer.get("qr_payload") or ""
    body = (
        f"<h1>Pay order {e(order_no)}</h1>"
        f"<p>Scan or open this with {e(answer.get('provider'))}:</p><p><code>{e(payload)}</code></p>"
        '<p class="muted">Your order page shows the payment once it arrives.</p>'
    )
    return layout(f"Pay order {order_no}", body, root=root)


def payment_received_page(order: dict[str, Any], token: str, root: str = "") -> str:
    order_no = str(order.get("order_no", ""))
    amount = format_amount(int(order.get("amount", 0)), str(order.get("currency", "")))
    body = (
        "<h1>Payment received</h1>"
        f"<p>{e(amount)} for order {e(order_no)} ({e(order.get('product_title'))}).</p>"
        "<p>Your keys will appear on your order page in a moment and are also sent by e-mail.</p>"
        f'<p><a class="button" href="{e(relative(order_page_path(order_no, token)))}">'
        "Go to your order</a></p>"
    )
    return layout("Payment received", body, root=root)


def error_page(status_code: int, message: str, root: str = "") -> str:
    return layout(
        "Something went wrong",
        f'<h1>{e(status_code)}</h1><p>{e(message)}</p><p><a href="./">Back to the shop</a></p>',
        root=root,
    )


def shop_page(shop: Shop, products: list[dict[str, Any]], root: str = "") -> str:
    """The storefront: products on sale, each with a small order form (a closed shop shows it is closed)."""
    parts = [f"<h1>{e(shop.name)}</h1>"]
    if not shop.takes_orders:
        parts.append(f'<p class="closed">This shop is {e(shop.status)} and takes no orders.</p>')
        return layout(shop.name, "".join(parts), root=root)
    if not products:
        parts.append('<p class="muted">Nothing on sale yet.</p>')
    for product in products:
        price = format_amount(int(product["price"]), str(product["currency"]))
        parts.append(f'<h2>{e(product["title"])}</h2><p class="pre">{e(product.get("description"))}</p>')
        options = [v for v in product.get("variants") or [] if v.get("in_stock")]
        if not product.get("variants"):
            parts.append(f"<p><strong>{e(price)}</strong></p>")
        if not (options or (product.get("in_stock") and not product.get("variants"))):
            parts.append('<p class="muted">Sold out.</p>')
            continue
        if options:
            choices = "".join(
                f'<option value="{e(v["id"])}">{e(v["label"])} · '
                f"{e(format_amount(int(v['price']), str(v['currency'])))}</option>"
                for v in options
            )
            chooser = f'<p><label>Option <select name="product_id">{choices}</select></label></p>'
        else:
            chooser = f'<input type="hidden" name="product_id" value="{e(product["id"])}">'
        parts.append(
            '<form method="post" action="shop/orders">'
            f"{chooser}"
            '<p><label>E-mail <input type="email" name="email" required maxlength="254"></label> '
            '<label>Quantity <input type="number" name="quantity" value="1" min="1" max="1000"></label></p>'
            '<p><label>Query password (optional) <input type="password" name="query_password" '
            'minlength="6" maxlength="64"></label></p>'
            '<p><button type="submit">Buy</button></p></form>'
        )
    return layout(shop.name, "".join(parts), root=root)
