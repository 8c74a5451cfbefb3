"""Rate limits of the public routes, as moving windows in Redis shared by every gateway: failed guesses of
an order's secret, e-mail lookups, order placement, and order links e-mailed. The windows, their keys and
sizes are the gateway's; `faka_common.rate_limits` counts in them."""

from __future__ import annotations

from typing import Literal

from faka_common.rate_limits import Limiter, Window, async_storage_url, email_id
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute

from gateway.bootstrap import Gateway
from gateway.config import Settings

#: What a guess is about: an order (its token or password), an e-mail (its password) or a Telegram chat
#: (the deep-link tokens it presents).
LookupKind = Literal["order", "email", "chat"]


def subject_id(kind: LookupKind, subject: str) -> str:
    """Order numbers as they are (they are public-ish and [A-Za-z0-9_-]); e-mails hashed."""
    return email_id(subject) if kind == "email" else subject


def namespace(settings: Settings) -> tuple[str, str]:
    return ("faka", settings.kafka_namespace or "default")


def _windows(
    base: tuple[str, ...],
    client_ip: str | None,
    per_ip: RateLimitItem,
    subject: tuple[str, str],
    per_subject: RateLimitItem,
    subject_what: str,
    action: str,
) -> list[Window]:
    """The client address's window (when the address is known) and the subject's."""
    keys = [Window(per_subject, (*base, *subject), subject_what, action)]
    if client_ip:
        keys.insert(0, Window(per_ip, (*base, "ip", client_ip), "your address", action))
    return keys


def lookup_keys(settings: Settings, kind: LookupKind, client_ip: str | None, subject: str) -> list[Window]:
    """`faka/<namespace>/lookup/<kind>/ip/<client ip>` per minute and `.../<kind>/subject/<id>` per hour."""
    per_subject = (
        settings.lookup_per_email_per_hour if kind == "email" else settings.lookup_per_order_per_hour
    )
    return _windows(
        (*namespace(settings), "lookup", kind),
        client_ip,
        RateLimitItemPerMinute(settings.lookup_per_ip_per_minute),
        ("subject", subject_id(kind, subject)),
        RateLimitItemPerHour(per_subject),
        {"order": "this order", "email": "this e-mail address", "chat": "this chat"}[kind],
        "order lookups",
    )


def placement_keys(settings: Settings, client_ip: str | None, email: str) -> list[Window]:
    """`faka/<namespace>/place/ip/<client ip>` and `.../place/email/<hashed e-mail>`, per hour."""
    return _windows(
        (*namespace(settings), "place"),
        client_ip,
        RateLimitItemPerHour(settings.orders_per_ip_per_hour),
        ("email", email_id(email)),
        RateLimitItemPerHour(settings.orders_per_email_per_hour),
        "this e-mail address",
        "orders placed",
    )


def link_email_keys(settings: Settings, client_ip: str | None, order_no: str) -> list[Window]:
    """`faka/<namespace>/link-email/ip/<client ip>` and `.../link-email/order/<order no>`, per hour."""
    return _windows(
        (*namespace(settings), "link-email"),
        client_ip,
        RateLimitItemPerHour(settings.link_emails_per_ip_per_hour),
        ("order", order_no),
        RateLimitItemPerHour(settings.link_emails_per_order_per_hour),
        "this order",
        "order link e-mails",
    )


def storage_url(settings: Settings) -> str:
    return async_storage_url(settings.lookup_limit_storage_url or settings.redis_url)


class LookupLimits(Limiter):
    """The gateway's windows in the shared moving-window limiter (`faka_common.rate_limits`). When the store
    cannot be reached the request is let through (and logged): the secrets themselves still protect the
    orders, and buyers keep their order pages."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(storage_url(settings))
        self.settings = settings

    def keys(self, kind: LookupKind, client_ip: str | None, subject: str) -> list[Window]:
        return lookup_keys(self.settings, kind, client_ip, subject)


def lookup_limits(gw: Gateway) -> LookupLimits:
    """The gateway's limiter, made on first use (kept on the gateway so every router shares it)."""
    limits = getattr(gw, "lookup_limits", None)
    if not isinstance(limits, LookupLimits):
        limits = LookupLimits(gw.settings)
        setattr(gw, "lookup_limits", limits)  # noqa: B010
    return limits
