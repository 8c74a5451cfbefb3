"""Rate limits of the public routes, as moving windows in Redis (the `limits` package) shared by every
gateway: failed guesses of an order's secret, e-mail lookups, order placement, and order links e-mailed."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

from faka_common.errors import DomainError
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from gateway.bootstrap import Gateway
from gateway.config import Settings

log = logging.getLogger(__name__)

#: What a guess is about: an order (its token or password), an e-mail (its password) or a Telegram chat
#: (the deep-link tokens it presents).
LookupKind = Literal["order", "email", "chat"]


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the window lets one more through."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LimitKey:
    """One moving window: `item` (e.g. 10 per minute) over the identifiers that name whose window it is."""

    item: RateLimitItem
    identifiers: tuple[str, ...]
    what: str
    #: What is being limited, for the 429's message ("order lookups", "orders placed").
    action: str = "order lookups"

    @property
    def key(self) -> str:
        return self.item.key_for(*self.identifiers)


def email_id(email: str) -> str:
    """An e-mail address hashed and case-folded, so Redis never holds a buyer's address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


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
) -> list[LimitKey]:
    """The client address's window (when the address is known) and the subject's."""
    keys = [LimitKey(per_subject, (*base, *subject), subject_what, action)]
    if client_ip:
        keys.insert(0, LimitKey(per_ip, (*base, "ip", client_ip), "your address", action))
    return keys


def lookup_keys(settings: Settings, kind: LookupKind, client_ip: str | None, subject: str) -> list[LimitKey]:
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


def placement_keys(settings: Settings, client_ip: str | None, email: str) -> list[LimitKey]:
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


def link_email_keys(settings: Settings, client_ip: str | None, order_no: str) -> list[LimitKey]:
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
    url = settings.lookup_limit_storage_url or settings.redis_url
    return url if url.startswith("async+") else f"async+{url}"


class LookupLimits:
    """Moving-window limits. When the store cannot be reached the request is let through (and logged):
    the secrets themselves still protect the orders, and buyers keep their order pages."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        options: dict[str, float | str | bool] = (
            {"wrap_exceptions": True} if "redis" in storage_url(settings) else {}
        )
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url(settings), **options))

    def keys(self, kind: LookupKind, client_ip: str | None, subject: str) -> list[LimitKey]:
        return lookup_keys(self.settings, kind, client_ip, subject)

    async def _refuse(self, key: LimitKey) -> RateLimited:
        stats = await self.limiter.get_window_stats(key.item, *key.identifiers)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(f"too many {key.action} for {key.what}; try again in {wait} seconds", wait)

    async def full(self, keys: list[LimitKey]) -> RateLimited | None:
        """The refusal (429) for the first full window, or None; counts nothing."""
        try:
            for key in keys:
                if not await self.limiter.test(key.item, *key.identifiers):
                    return await self._refuse(key)
        except StorageError as error:
            log.warning("rate limits unavailable (%s); letting the request through", error)
        return None

    async def count(self, keys: list[LimitKey]) -> None:
        """Count one attempt in every window (a full window stays full)."""
        try:
            for key in keys:
                await self.limiter.hit(key.item, *key.identifiers)
        except StorageError as error:
            log.warning("rate limits unavailable (%s); attempt not counted", error)

    async def take(self, keys: list[LimitKey]) -> None:
        """Count one attempt in every window, refusing (429) when one is full; an attempt refused by one
        window is not counted in the others (a full e-mail window does not eat the address's)."""
        refusal = await self.full(keys)
        if refusal is not None:
            raise refusal
        try:
            for key in keys:
                if not await self.limiter.hit(key.item, *key.identifiers):
                    raise await self._refuse(key)
        except StorageError as error:
            log.warning("rate limits unavailable (%s); letting the request through", error)


def lookup_limits(gw: Gateway) -> LookupLimits:
    """The gateway's limiter, made on first use (kept on the gateway so every router shares it)."""
    limits = getattr(gw, "lookup_limits", None)
    if not isinstance(limits, LookupLimits):
        limits = LookupLimits(gw.settings)
        setattr(gw, "lookup_limits", limits)  # noqa: B010
    return limits
