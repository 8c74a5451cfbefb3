"""Gateway operations for payments, refunds, reconciliation, pricing and buyer lookups: each calls the
order service's internal API and passes its answer (or its clear 4xx) on. Buyer lookups are rate-limited
(moving windows in Redis) so order numbers, e-mails and passwords cannot be guessed at speed."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from faka_common.errors import DomainError
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.service_layer import edge

log = logging.getLogger(__name__)

LookupKind = Literal["order", "email"]


async def start_payment(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{edge.segment(order_no)}/payments"
    return edge.json_body(await gw.order.request("POST", path, json=body))


async def refund(gw: Gateway, order_no: str, body: dict[str, Any]) -> Any:
    path = f"/internal/orders/{edge.segment(order_no)}/refunds"
    return edge.json_body(await gw.order.request("POST", path, json=body))


async def reconciliation(gw: Gateway, day: str) -> Any:
    return edge.json_body(await gw.order.request("GET", "/internal/reconciliation", params={"date": day}))


async def order_call(gw: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Any other order-service call whose answer goes back unchanged."""
    response = await gw.order.request(method, path, **kwargs)
    return response.status_code, edge.json_body(response)


# --- pricing (admin) -------------------------------------------------------------------------------


async def price_tiers(gw: Gateway, product_id: UUID) -> Any:
    return edge.json_body(await gw.order.request("GET", f"/internal/products/{product_id}/price-tiers"))


async def set_price_tiers(gw: Gateway, product_id: UUID, body: dict[str, Any]) -> Any:
    path = f"/internal/products/{product_id}/price-tiers"
    return edge.json_body(await gw.order.request("PUT", path, json=body))


async def create_coupon(gw: Gateway, body: dict[str, Any]) -> Any:
    return edge.json_body(await gw.order.request("POST", "/internal/coupons", json=body))


async def list_coupons(gw: Gateway) -> Any:
    return edge.json_body(await gw.order.request("GET", "/internal/coupons"))


async def disable_coupon(gw: Gateway, code: str) -> Any:
    path = f"/internal/coupons/{edge.segment(code)}/disable"
    return edge.json_body(await gw.order.request("POST", path))


# --- buyer lookups and their rate limits -----------------------------------------------------------


class RateLimited(DomainError):
    """Too many lookups; `retry_after` seconds until the window lets one more through."""

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

    @property
    def key(self) -> str:
        return self.item.key_for(*self.identifiers)


def subject_id(kind: LookupKind, subject: str) -> str:
    """Order numbers as they are (they are public-ish and [A-Za-z0-9_-]); e-mails hashed and case-folded,
    so Redis never holds a buyer's address."""
    if kind == "email":
        return hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
    return subject


def lookup_keys(settings: Settings, kind: LookupKind, client_ip: str | None, subject: str) -> list[LimitKey]:
    """`faka/<namespace>/lookup/<kind>/ip/<client ip>` per minute and `.../<kind>/subject/<id>` per hour."""
    base = ("faka", settings.kafka_namespace or "default", "lookup", kind)
    per_subject = (
        settings.lookup_per_order_per_hour if kind == "order" else settings.lookup_per_email_per_hour
    )
    keys = [
        LimitKey(
            RateLimitItemPerHour(per_subject),
            (*base, "subject", subject_id(kind, subject)),
            "this order" if kind == "order" else "this e-mail address",
        )
    ]
    if client_ip:
        keys.insert(
            0,
            LimitKey(
                RateLimitItemPerMinute(settings.lookup_per_ip_per_minute),
                (*base, "ip", client_ip),
                "your address",
            ),
        )
    return keys


def storage_url(settings: Settings) -> str:
    url = settings.lookup_limit_storage_url or settings.redis_url
    return url if url.startswith("async+") else f"async+{url}"


class LookupLimits:
    """Moving-window limits on buyer lookups. When the store cannot be reached the lookup is let through
    (and logged): the secrets themselves still protect the orders, and buyers keep their order pages."""

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
        return RateLimited(
            f"too many order lookups for {key.what}; try again in {wait} seconds", retry_after=wait
        )

    async def check(self, keys: list[LimitKey]) -> None:
        """Refuse (429) when any window is full; counts nothing."""
        try:
            for key in keys:
                if not await self.limiter.test(key.item, *key.identifiers):
                    raise await self._refuse(key)
        except StorageError as error:
            log.warning("lookup rate limits unavailable (%s); letting the lookup through", error)

    async def count(self, keys: list[LimitKey]) -> None:
        """Count one lookup in every window (a full window stays full)."""
        try:
            for key in keys:
                await self.limiter.hit(key.item, *key.identifiers)
        except StorageError as error:
            log.warning("lookup rate limits unavailable (%s); lookup not counted", error)

    async def take(self, keys: list[LimitKey]) -> None:
        """Count one lookup in every window, refusing (429) when one is full."""
        try:
            for key in keys:
                if not await self.limiter.hit(key.item, *key.identifiers):
                    raise await self._refuse(key)
        except StorageError as error:
            log.warning("lookup rate limits unavailable (%s); letting the lookup through", error)


def lookup_limits(gw: Gateway) -> LookupLimits:
    """The gateway's lookup limiter, made on first use (kept on the gateway so every router shares it)."""
    limits = getattr(gw, "lookup_limits", None)
    if not isinstance(limits, LookupLimits):
        limits = LookupLimits(gw.settings)
        setattr(gw, "lookup_limits", limits)  # noqa: B010
    return limits


async def buyer_orders(gw: Gateway, email: str, password: str, client_ip: str | None) -> dict[str, Any]:
    """The buyer's recent orders whose query password matches; the same empty list for an unknown e-mail,
    a wrong password or no orders. Every attempt counts against the client's and the e-mail's windows."""
    limits = lookup_limits(gw)
    await limits.take(limits.keys("email", client_ip, email))
    response = await gw.order.request(
        "POST", "/internal/orders/lookup", json={"email": email, "password": password}
    )
    body = edge.json_body(response)
    return {"items": list(body.get("items", [])) if isinstance(body, dict) else []}
