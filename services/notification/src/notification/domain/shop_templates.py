"""A shop's own wording of its buyers' e-mails: which notices a shop may word (an e-mail's subject and text,
per language), the placeholders each may use, and the platform's part each keeps. The platform's part (the
keys and how to use them, the order's link, a ticket's answer) is never a placeholder: the platform renders it
and puts it where the shop's one marker stands (at the end without one), so no shop template can read,
change or send it elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from faka_common.errors import DomainError

from notification.domain.model import (
    KEY_REPLACED,
    ORDER_DELAYED,
    ORDER_DELIVERED,
    ORDER_LINK,
    ORDER_REFUNDED,
    SUPPORTED_LOCALES,
    TICKET_REPLY,
)

MAX_SUBJECT = 200
MAX_BODY = 10_000
"""Characters of a shop's subject and text (the template, not what it renders to)."""

#: What every buyer notice may show (handlers' buyer_context): the order, and who speaks.
BUYER_FACTS = frozenset(
    {
        "order_no",
        "product_title",
        "quantity",
        "amount_text",
        "time_text",
        "shop_name",
        "signature",
        "support_contact",
    }
)


@dataclass(frozen=True)
class Wordable:
    """A notice a shop may word: the placeholders it may use and the marker of the platform's part."""

    template: str
    placeholders: frozenset[str]
    marker: str | None = None
    """Where the platform's part goes ("[[goods]]"); None: the notice has no platform's part."""


WORDABLE: dict[str, Wordable] = {
    w.template: w
    for w in (
        Wordable(ORDER_DELIVERED, BUYER_FACTS | {"mode", "item_count"}, "[[goods]]"),
        Wordable(KEY_REPLACED, BUYER_FACTS | {"ticket_id"}, "[[goods]]"),
        Wordable(ORDER_LINK, BUYER_FACTS, "[[link]]"),
        Wordable(TICKET_REPLY, BUYER_FACTS | {"ticket_id", "status", "author_name"}, "[[answer]]"),
        Wordable(ORDER_DELAYED, BUYER_FACTS),
        Wordable(ORDER_REFUNDED, BUYER_FACTS | {"refund_text", "reason"}),
    )
}

LANGUAGES = SUPPORTED_LOCALES

#: What a preview fills the placeholders with.
SAMPLE_FACTS: dict[str, object] = {
    "order_no": "F20261202SAMPLE",
    "product_title": "Steam Wallet 100",
    "quantity": 1,
    "amount_text": "CNY 100.00",
    "time_text": "2026-12-02 18:30",
    "shop_name": "Sample Shop",
    "signature": "Sample Shop",
    "support_contact": "help@shop.example",
    "mode": "card_key",
    "item_count": 1,
    "ticket_id": "00000000-0000-0000-0000-000000000001",
    "status": "open",
    "author_name": "Sample Shop",
    "refund_text": "CNY 100.00",
    "reason": "out of stock",
}
#: What a preview shows in the platform's part (never a real key).
SAMPLE_SECRETS: dict[str, object] = {
    "keys": ["SAMPLE-KEY-0000-0001"],
    "usage_instructions": "Redeem it in your account's wallet page.",
    "order_url": "https://shop.example/orders/F20261202SAMPLE?secret=sample",
    "reply": "Here is the answer to your request.",
    "help_url": "https://shop.example/orders/F20261202SAMPLE/help?secret=sample",
}


class TemplateRefused(DomainError):
    """A shop's template that cannot be used: the message names the field and why."""

    status_code = 422
    code = "template_refused"


@dataclass(frozen=True)
class ShopTemplate:
    """A shop's subject and text of one notice in one language."""

    shop_id: UUID
    template: str
    language: str
    subject: str
    body: str
    updated_by: str
    updated_at: datetime


def wordable(template: str, language: str) -> Wordable:
    """The notice a shop may word; TemplateRefused naming template or language otherwise."""
    found = WORDABLE.get(template)
    if found is None:
        raise TemplateRefused(
            f"template: {template!r} cannot be worded by a shop (these can: {sorted(WORDABLE)})"
        )
    if language not in LANGUAGES:
        raise TemplateRefused(f"language: {language!r} is not one of {list(LANGUAGES)}")
    return found


def check_sizes(subject: str, body: str) -> None:
    """TemplateRefused naming the field that is empty or over its limit."""
    for field, value, limit in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)):
        if not value.strip():
            raise TemplateRefused(f"{field}: must not be empty")
        if len(value) > limit:
            raise TemplateRefused(f"{field}: {len(value)} characters is over the limit of {limit}")
