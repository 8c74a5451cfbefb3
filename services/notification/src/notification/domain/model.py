"""Notifications: which template, which language, and whether one was already sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

Status = Literal["pending", "sent", "failed"]

ORDER_DELIVERED = "order_delivered"
EMAIL = "email"

SUPPORTED_LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


def pick_locale(requested: str | None) -> str:
    """The supported locale closest to the buyer's: exact (case-insensitive, `_` or `-`), then the same
    language (`en-US` → `en`, `zh-TW` → `zh-CN`), else the default zh-CN."""
    if not requested or not requested.strip():
        return DEFAULT_LOCALE
    wanted = requested.strip().replace("_", "-").lower()
    for locale in SUPPORTED_LOCALES:
        if locale.lower() == wanted:
            return locale
    language = wanted.split("-", 1)[0]
    for locale in SUPPORTED_LOCALES:
        if locale.lower().split("-", 1)[0] == language:
            return locale
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class BuyerContact:
    """The read model of a placed order: whom to write to, in which language, about what."""

    order_id: UUID
    order_no: str
    email: str
    locale: str
    product_title: str


@dataclass(frozen=True)
class OrderKeys:
    """The plaintext keys of an order, held only in memory long enough to send them."""

    order_id: UUID
    keys: list[str] = field(repr=False)
    usage_instructions: str = field(default="", repr=False)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str = field(repr=False)
    html: str = field(repr=False)


@dataclass(frozen=True)
class Notification:
    id: UUID
    order_id: UUID
    template: str
    channel: str
    recipient: str
    status: Status
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None

    @property
    def already_sent(self) -> bool:
        return self.status == "sent"


def message_id(order_id: UUID, template: str, domain: str = "faka.local") -> str:
    """A stable Message-ID per (order, template), so a resend after a crash is recognisable downstream."""
    return f"<{template}.{order_id}@{domain}>"


class NotificationError(Exception):
    """A fault while notifying (retried by the consumer, then dead-lettered)."""


class BuyerContactMissing(NotificationError):
    """The order's OrderPlaced has not been processed yet (another topic, no ordering): retry later."""
