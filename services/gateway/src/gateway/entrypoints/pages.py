"""The storefront's HTML pages: Jinja2 templates (gateway/templates, autoescaped) in the buyer's language
(`i18n`), with the little script and style sheet of gateway/static. Every dynamic value is escaped by the
template engine; every visible string is a msgid of the message catalogs."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import segno
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from gateway.domain.shops import Shop
from gateway.domain.views import (
    PENDING_STATUSES,
    format_amount,
    lowest_price,
    product_state,
    reveals_keys,
    secret_query,
    stock_state,
    storefront_sections,
)
from gateway.entrypoints.i18n import LANGUAGES, Language, translations
from gateway.service_layer.buyer_secrets import OrderSecret


def N_(message: str) -> str:
    """Marks a msgid for the catalogs where it is translated later (a status label, a language name)."""
    return message


STATUS_LABELS = {
    "pending_risk": N_("Being checked"),
    "review": N_("Being reviewed"),
    "reserving": N_("Reserving stock"),
    "awaiting_payment": N_("Awaiting payment"),
    "paid": N_("Paid, delivering"),
    "fulfilling": N_("Paid, delivering"),
    "delivery_failed": N_("Delivery failed"),
    "delivered": N_("Delivered"),
    "completed": N_("Completed"),
    "rejected": N_("Declined"),
    "expired": N_("Expired"),
    "cancelled": N_("Cancelled"),
    "refunded": N_("Refunded"),
    "partially_refunded": N_("Partly refunded"),
}
#: Why an order stopped, as the buyer is told it (the order service keeps its own reasons: a risk rule's
#: name is not for buyers).
STATUS_EXPLANATIONS = {
    "pending_risk": N_("The shop is checking your order. This takes a moment."),
    "review": N_("The shop is reviewing your order by hand; this page changes as soon as it is done."),
    "reserving": N_("Your items are being reserved."),
    "paid": N_("Payment received. Your items are on their way."),
    "fulfilling": N_("Payment received. Your items are on their way."),
    "delivery_failed": N_("Delivery failed. The shop has been told and will contact you."),
    "rejected": N_("The shop's checks declined this order. Nothing was charged."),
    "expired": N_("The payment window closed before a payment arrived. Nothing was charged."),
    "cancelled": N_("This order was cancelled. Nothing was charged."),
    "refunded": N_("This order was refunded."),
    "partially_refunded": N_("Part of this order was refunded."),
}
#: What the shop promises about delivery, by delivery type.
DELIVERY_PROMISES = {
    "card_key": N_("Delivered automatically, seconds after payment"),
    "loop_key": N_("Delivered automatically, seconds after payment"),
    "manual": N_("Delivered by the shop by hand, usually within hours"),
    "recharge": N_("Topped up to your account by the supplier, usually within minutes"),
}
STOCK_LABELS = {"available": N_("In stock"), "low": N_("Only a few left"), "sold_out": N_("Sold out")}
#: A product paused by its after-sales rate (not sold until the shop resumes it), as its card says.
PAUSED = N_("Paused")
SHOP_STATUSES = {"suspended": N_("suspended"), "closed": N_("closed")}
PROVIDER_NAMES = {
    "alipay": N_("Alipay"),
    "wechatpay": N_("WeChat Pay"),
    "epay": N_("Epay"),
    "usdt": N_("USDT"),
    "sandbox": N_("Sandbox"),
}
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}
#: Statuses with nothing left to do but go back to the shop.
ENDED_STATUSES = frozenset({"rejected", "expired", "cancelled"})


def status_label(status: Any) -> str:
    return STATUS_LABELS.get(str(status), str(status).replace("_", " "))


@dataclass(frozen=True)
class PageContext:
    """What every page needs of its request: the language, where the shop's storefront lives ("" or
    /s/<slug>), the shop's name and languages, and the page's own path and query (for the switch)."""

    lang: Language = "en"
    root: str = ""
    shop_name: str = ""
    path: str = "/"
    languages: tuple[Language, ...] = LANGUAGES
    extra: dict[str, Any] = field(default_factory=dict)

    def switch_links(self) -> list[tuple[Language, str, str]]:
        """(language, its name, the link to this page in it) for the shop's other languages."""
        parts = urlsplit(self.path)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
        return [
            (lang, LANGUAGE_NAMES[lang], relative(parts.path) + "?" + urlencode([*query, ("lang", lang)]))
            for lang in self.languages
            if lang != self.lang
        ]


def for_shop(shop: Shop, lang: Language, root: str = "", path: str = "/") -> PageContext:
    languages = tuple(code for code in LANGUAGES if code in shop.languages) or LANGUAGES
    return PageContext(lang, root, shop.name, path, languages)


@cache
def environment(lang: Language) -> Environment:
    env = Environment(
        loader=PackageLoader("gateway", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates ship with the code: no stat of their files at every page
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        amount=lambda value, currency: format_amount(int(value or 0), str(currency or "")),
        status_label=status_label,
        relative=relative,
        stock_labels=STOCK_LABELS,
        shop_statuses=SHOP_STATUSES,
        provider_names=PROVIDER_NAMES,
        product_state=product_state,
        lowest_price=lowest_price,
    )
    return env


def render(template: str, ctx: PageContext, **values: Any) -> str:
    return environment(ctx.lang).get_template(template).render(ctx=ctx, lang=ctx.lang, **values)


def order_page_path(order_no: str, token: str | None = None, password: str | None = None) -> str:
    return f"/orders/{quote(order_no, safe='')}?{secret_query(token, password)}"


def relative(path: str) -> str:
    """A site path as a link relative to the page's base (its shop's storefront)."""
    return path.lstrip("/")


def order_events_path(order_no: str, secret: OrderSecret) -> str:
    return f"api/v1/orders/{quote(order_no, safe='')}/events?{secret_query(secret.token, secret.password)}"


def safe_link(url: Any) -> str | None:
    """Only http(s) and site-relative links are rendered as links."""
    if not isinstance(url, str) or not url:
        return None
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https") or (scheme == "" and url.startswith("/") and not url.startswith("//")):
        return url
    return None


def pay_methods(view: dict[str, Any], secret: OrderSecret | None) -> dict[str, Any]:
    """The pay link (the sandbox's checkout when the order service gave one) and the other methods, each a
    form posting the buyer's secret in its body to the order page's pay route."""
    pay_url = safe_link(view.get("pay_url"))
    methods = [str(m) for m in view.get("payment_methods") or [] if not (pay_url and m == "sandbox")]
    fields = {k: v for k, v in (secret.body() if secret is not None else {}).items() if v}
    return {
        "pay_url": pay_url,
        "methods": methods,
        "hidden": fields,
        "action": f"orders/{quote(str(view.get('order_no', '')), safe='')}",
    }


def order_block(view: dict[str, Any], secret: OrderSecret | None) -> dict[str, Any]:
    """What the order page's status block shows, and the event stream it follows while the order moves."""
    status = str(view.get("status"))
    pending = status in PENDING_STATUSES and bool(secret) and bool(view.get("order_no"))
    return {
        "status": status,
        "explanation": STATUS_EXPLANATIONS.get(status),
        "pay": pay_methods(view, secret) if status == "awaiting_payment" else None,
        "delivered_keys": [str(item.get("content")) for item in view.get("items") or []]
        if reveals_keys(status)
        else None,
        "events": order_events_path(str(view["order_no"]), secret) if pending and secret else None,
        "ended": status in ENDED_STATUSES,
        "pending": status in PENDING_STATUSES,
        "cancellable": status == "awaiting_payment" and secret is not None and bool(secret),
    }


def order_page(
    view: dict[str, Any],
    telegram_link: str | None = None,
    secret: OrderSecret | None = None,
    root: str = "",
    ctx: PageContext | None = None,
) -> str:
    """The buyer's order page: the order, pay buttons and the deadline while awaiting payment, the keys with
    copy buttons once delivered, why an order stopped; it follows its event stream while the order moves."""
    ctx = ctx or PageContext(root=root)
    block = order_block(view, secret)
    return render(
        "order.html",
        ctx,
        order=view,
        block=block,
        telegram_link=telegram_link,
        refresh=5 if block["pending"] else None,
        live=block["events"] is not None,
    )


def sandbox_checkout_page(
    order: dict[str, Any], token: str, root: str = "", ctx: PageContext | None = None
) -> str:
    """The sandbox provider's checkout: the order and a button that pays it."""
    ctx = ctx or PageContext(root=root)
    order_no = str(order.get("order_no", ""))
    status = order.get("status")
    return render(
        "sandbox_checkout.html",
        ctx,
        order=order,
        action=f"pay/sandbox/{quote(order_no, safe='')}/complete?{secret_query(token=token)}"
        if status == "awaiting_payment"
        else None,
        checking=status in ("pending_risk", "review", "reserving"),
        refresh=3 if status in ("pending_risk", "review", "reserving") else None,
        order_link=relative(order_page_path(order_no, token)),
    )


def qr_svg(payload: str) -> Markup | None:
    """The payload as a QR code, an inline SVG drawn here (no image service, no CDN); None when there is
    nothing to draw or it is too long for a QR code. The SVG is segno's own markup: the payload is only
    in the modules it draws, never in text."""
    if not payload:
        return None
    try:
        code = segno.make(payload, error="m")
    except (segno.DataOverflowError, ValueError):
        return None
    out = io.BytesIO()
    code.save(out, kind="svg", scale=6, border=4, xmldecl=False, svgns=True, nl=False, svgclass="qr")
    return Markup(out.getvalue().decode())  # noqa: S704 - generated markup without the payload's text


def qr_payment_page(
    order_no: str, answer: dict[str, Any], root: str = "", ctx: PageContext | None = None
) -> str:
    """What a provider that answers with a QR payload (WeChat Native, USDT) wants the buyer to scan: the
    code, and the payload as text for a buyer on the phone that would scan it."""
    ctx = ctx or PageContext(root=root)
    payload = str(answer.get("qr_payload") or "")
    return render(
        "qr_payment.html",
        ctx,
        order_no=order_no,
        provider=str(answer.get("provider") or ""),
        payload=payload,
        qr=qr_svg(payload),
    )


def payment_received_page(
    order: dict[str, Any], token: str, root: str = "", ctx: PageContext | None = None
) -> str:
    ctx = ctx or PageContext(root=root)
    order_no = str(order.get("order_no", ""))
    return render(
        "payment_received.html", ctx, order=order, order_link=relative(order_page_path(order_no, token))
    )


def error_page(status_code: int, message: str, root: str = "", ctx: PageContext | None = None) -> str:
    """An error as a page: a heading in the buyer's language, the owner's message as it was given, and the
    way back to the shop."""
    ctx = ctx or PageContext(root=root)
    return render("error.html", ctx, status_code=status_code, message=message)


def shop_page(
    shop: Shop,
    products: list[dict[str, Any]],
    root: str = "",
    ctx: PageContext | None = None,
    categories: list[dict[str, Any]] | None = None,
    paused: frozenset[str] = frozenset(),
) -> str:
    """The shop's home: its products by category with price and stock state (or paused: every option paused
    by its after-sales rate), each leading to its page (a closed shop shows it is closed and offers
    nothing). Each card is made here, not in the template: a home of 1,000 products renders in a few
    milliseconds."""
    ctx = ctx or replace(for_shop(shop, "en", root), languages=LANGUAGES)
    sections = storefront_sections(products, categories or []) if shop.takes_orders else []
    gettext = translations(ctx.lang).gettext
    states = {state: gettext(label) for state, label in {**STOCK_LABELS, "paused": PAUSED}.items()}
    starting = gettext("from %(price)s")
    for section in sections:
        section["cards"] = [
            product_card(product, states, starting, paused) for product in section["products"]
        ]
    return render("home.html", ctx, shop=shop, sections=sections)


def product_card(
    product: dict[str, Any], states: dict[str, str], starting: str, paused: frozenset[str] = frozenset()
) -> dict[str, str]:
    price = format_amount(*lowest_price(product))
    options = product.get("variants") or [product]
    state = "paused" if all(str(o["id"]) in paused for o in options) else product_state(product)
    return {
        "href": f"products/{quote(str(product['id']), safe='')}",
        "title": str(product["title"]),
        "price": starting % {"price": price} if product.get("variants") else price,
        "state": state,
        "state_text": states[state],
    }


def product_page(
    shop: Shop,
    product: dict[str, Any],
    ctx: PageContext,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    chosen: str | None = None,
    challenge: dict[str, Any] | None = None,
) -> str:
    """One product: its options with price and stock, limits, the delivery the shop promises, how to use
    it, and the checkout form (e-mail, quantity, query password, coupon, what a recharge needs) with each
    field's error next to it; with the challenge the checkout must solve (the page's script solves it and
    sends the form again)."""
    options = product.get("variants") or [
        {k: product.get(k) for k in ("id", "price", "currency", "in_stock", "available")}
        | {"label": product.get("title")}
    ]
    buyable = [str(o["id"]) for o in options if o.get("in_stock")]
    wanted = (form or {}).get("product_id") or chosen
    return render(
        "product.html",
        ctx,
        shop=shop,
        product=product,
        options=options,
        chosen=wanted if wanted in buyable else next(iter(buyable), None),
        promise=DELIVERY_PROMISES.get(str(product.get("delivery_type"))),
        stock_state=stock_state,
        errors=errors or {},
        form={"quantity": "1", **(form or {})},
        challenge=challenge,
    )


def lookup_page(
    ctx: PageContext,
    found: list[dict[str, Any]] | None = None,
    not_found: bool = False,
    form: dict[str, str] | None = None,
) -> str:
    """Find an order: by its number and query password, or every recent order of an e-mail and query
    password; and the orders opened in this browser (kept by the page's script in localStorage)."""
    return render("lookup.html", ctx, found=found, not_found=not_found, form=form or {})
