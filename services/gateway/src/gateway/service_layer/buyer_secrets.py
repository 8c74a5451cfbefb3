"""The buyer's order secrets (the token of the order link, or the query password) and how guessing them is
throttled. Every route that checks one goes through `guarded`: only failures are counted (per client address
and per order); a full window stops a password before the order service spends an scrypt on it, while a
token (an HMAC check) is always tried, so a valid link is never refused however many guesses others made.
Secrets travel to the order service in JSON bodies, never in a URL (URLs end up in logs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faka_common.errors import DomainError, NotFound

from gateway.adapters.owners import json_body, segment
from gateway.bootstrap import Gateway
from gateway.service_layer.rate_limits import lookup_limits

NO_SUCH_ORDER = "no order with that number and secret"

T = TypeVar("T")


@dataclass(frozen=True)
class OrderSecret:
    token: str | None = None
    password: str | None = None

    def body(self) -> dict[str, str | None]:
        """How the secret travels to the order service (a JSON body)."""
        return {"token": self.token or None, "password": self.password or None}

    def __bool__(self) -> bool:
        return bool(self.token or self.password)


async def guarded(
    gw: Gateway,
    order_no: str,
    secret: OrderSecret,
    client_ip: str | None,
    check: Callable[[OrderSecret], Awaitable[T]],
) -> T:
    """Run `check` (an order-service call that checks the secret and answers 404 when it is wrong) under the
    order-secret windows. A failure is counted in the client's and the order's windows. While one is full,
    a password is refused (429) without being checked and a token is still checked (a wrong one is a 429).

    A token alone is checked whatever the windows hold, so they are read only once it failed: a buyer's
    page reading its order (several times a sale, through the event stream) costs no moving-window reads,
    which had cost the gateway more CPU than the call to the order service."""
    if not secret:
        raise NotFound(NO_SUCH_ORDER)
    limits = lookup_limits(gw)
    windows = limits.keys("order", client_ip, order_no)
    refusal, tried = None, secret
    if secret.password:
        refusal = await limits.full(windows)
        tried = secret if refusal is None else OrderSecret(token=secret.token)
        if refusal is not None and not tried:
            raise refusal
    try:
        return await check(tried)
    except DomainError as error:
        if error.status_code != 404:
            raise
        if not secret.password:
            refusal = await limits.full(windows)
        await limits.count(windows)
        if refusal is not None:
            raise refusal from error
        raise


async def fetch_order(gw: Gateway, order_no: str, secret: OrderSecret) -> dict[str, Any]:
    """The order service's view of the order (unguarded: callers go through `guarded`); the same 404 for an
    unknown order, a missing or a wrong secret."""
    path = f"/internal/orders/{segment(order_no)}/view"
    body: dict[str, Any] = json_body(await gw.order.request("POST", path, json=secret.body(), platform=True))
    return body


async def order_for(gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None) -> dict[str, Any]:
    """The order's view for the holder of its secret, guarded."""
    return await guarded(gw, order_no, secret, client_ip, lambda tried: fetch_order(gw, order_no, tried))


async def start_payment(
    gw: Gateway, order_no: str, provider: str, secret: OrderSecret, client_ip: str | None
) -> Any:
    """A pay URL or QR payload from the chosen provider, for the holder of the order's secret."""
    path = f"/internal/orders/{segment(order_no)}/payments"

    async def pay(tried: OrderSecret) -> Any:
        return json_body(
            await gw.order.request("POST", path, json={"provider": provider, **tried.body()}, platform=True)
        )

    return await guarded(gw, order_no, secret, client_ip, pay)


async def cancel(gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None) -> dict[str, Any]:
    """The buyer gives up an unpaid order (the secret checked like a lookup)."""
    path = f"/internal/orders/{segment(order_no)}/cancel"

    async def cancel_with(tried: OrderSecret) -> dict[str, Any]:
        order: dict[str, Any] = json_body(
            await gw.order.request("POST", path, json=tried.body(), platform=True)
        )
        return order

    return await guarded(gw, order_no, secret, client_ip, cancel_with)


async def buyer_orders(gw: Gateway, email: str, password: str, client_ip: str | None) -> dict[str, Any]:
    """The buyer's recent orders whose query password matches; the same empty list for an unknown e-mail,
    a wrong password or no orders. Every attempt counts against the client's and the e-mail's windows."""
    limits = lookup_limits(gw)
    await limits.take(limits.keys("email", client_ip, email))
    response = await gw.order.request(
        "POST", "/internal/orders/lookup", json={"email": email, "password": password}, platform=True
    )
    body = json_body(response)
    return {"items": list(body.get("items", [])) if isinstance(body, dict) else []}
