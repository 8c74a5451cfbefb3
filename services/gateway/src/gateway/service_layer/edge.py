"""The gateway's storefront operations: each calls the owning service's internal API and shapes the answer.

Owners' 4xx answers arrive as DomainErrors (status and code kept) and are passed on; an unreachable owner
is `Unavailable` (503)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Busy, Conflict, DomainError, Unavailable
from faka_common.sandbox_payment import signed_notification

from gateway.adapters.owners import json_body, segment
from gateway.adapters.storefront import StorefrontUnavailable
from gateway.bootstrap import Gateway
from gateway.domain.shops import Shop, open_shop
from gateway.domain.views import (
    PAYABLE_STATUSES,
    buyer_order_view,
    placed_order_view,
    reveals_keys,
    storefront_catalog,
)
from gateway.service_layer import buyer_secrets
from gateway.service_layer.buyer_secrets import OrderSecret
from gateway.service_layer.challenges import Solution, pass_checkout
from gateway.service_layer.rate_limits import lookup_limits, placement_keys

log = logging.getLogger(__name__)

# --- admin -----------------------------------------------------------------------------------------


async def create_product(gw: Gateway, product: dict[str, Any]) -> Any:
    return json_body(await gw.inventory.request("POST", "/internal/products", json=product))


async def list_products(gw: Gateway) -> Any:
    return json_body(await gw.inventory.request("GET", "/internal/products"))


async def get_product(gw: Gateway, product_id: uuid.UUID) -> Any:
    return json_body(await gw.inventory.request("GET", f"/internal/products/{product_id}"))


# --- storefront ------------------------------------------------------------------------------------


async def catalog(gw: Gateway, shop: Shop) -> list[dict[str, Any]]:
    """The shop's products on sale from its storefront read model in Redis (one round trip, the inventory
    is not asked); from the inventory's API (for the shop) only when the shop's read model is not built or
    cannot be read."""
    try:
        products = await gw.storefront.products(shop.id)
    except StorefrontUnavailable as error:
        log.warning("storefront read model unavailable (%s); asking the inventory", error)
    else:
        if products is not None:
            return storefront_catalog(products)
        log.warning("storefront read model of shop %s not built; asking the inventory", shop.id)
    body = json_body(await gw.inventory.request("GET", "/internal/products", shop=shop.id))
    return storefront_catalog(list(body.get("items", [])))


async def place_order(
    gw: Gateway,
    shop: Shop,
    root: str,
    order: dict[str, Any],
    buyer_ip: str | None,
    idempotency_key: str | None = None,
    solution: Solution | None = None,
) -> dict[str, Any]:
    """Place the order in `shop`, whose storefront is at `root` (its links lead there). First the checkout's
    challenges (`challenges.pass_checkout`, with the request's `solution`: 428 when a rule asks for one);
    then a suspended or closed shop takes none (409). An `Idempotency-Key` goes to the order service, which
    replays the first answer.
    Every placement counts against the client's and the e-mail's hourly windows (429 once one is full):
    unpaid orders hold stock for the payment window, so placing them at speed starves real buyers. The
    challenge checkpoint's script takes them (one Redis round trip for both) when they are in its Redis. One
    the order service turns away busy is given back."""
    limits = lookup_limits(gw)
    email = str(order.get("buyer_email", ""))
    windows = placement_keys(gw.settings, buyer_ip, email)
    # a closed shop's 409 comes after the challenge, and takes nothing from the windows
    placement = windows if shop.takes_orders else []
    taken = await pass_checkout(gw, shop.id, buyer_ip, email, solution, placement)
    open_shop(shop)
    if not taken:
        await limits.take(windows)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    try:
        response = await gw.order.request(
            "POST", "/internal/orders", json={**order, "buyer_ip": buyer_ip}, headers=headers
        )
    except Busy:
        # turned away busy, nothing placed: a buyer who tries again on Retry-After through a long rush is
        # not to run into the hourly limits meant for orders placed
        await limits.give_back(windows)
        raise
    placed = json_body(response)
    view = placed_order_view(placed, gw.base_url + root)
    view.update({name: placed[name] for name in ("unit_price", "discount", "coupon_code") if name in placed})
    return view


async def fetch_keys(gw: Gateway, order: Mapping[str, Any]) -> dict[str, Any] | None:
    order_id = str(order["order_id"])
    try:
        return await gw.reveals.order_keys(order_shop(order), uuid.UUID(order_id))
    except DomainError as error:
        if error.status_code != 404:
            raise
        log.warning("order %s is delivered but the inventory holds no keys for it", order_id)
        return None


async def buyer_order(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None = None
) -> dict[str, Any]:
    """The buyer's order view (the secret checked under `buyer_secrets.guarded`); the keys are fetched (and
    audit-logged) only once delivered."""
    view, _ = await buyer_order_and_access(gw, order_no, secret, client_ip)
    return view


async def buyer_order_and_access(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`buyer_order`, and how the secret opened the order (the order service's `access`) with what the view
    shows once the order awaits payment, before it does (`once_awaiting_payment`: the order page's stream
    tells that move by its announcement, `views.moved_view`)."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    access, once = order.get("access"), order.get("once_awaiting_payment")
    if not isinstance(access, dict):
        return await revealed_view(gw, order), None
    kept = {**access, "once_awaiting_payment": once} if isinstance(once, dict) else access
    return await revealed_view(gw, order), kept


async def revealed_view(gw: Gateway, order: dict[str, Any]) -> dict[str, Any]:
    """The buyer's view of the order (as read, or as an announcement told it), with its keys fetched (and
    audit-logged) once it is delivered, never before."""
    keys = None
    if reveals_keys(order.get("status")):
        if order.get("delivery_type") in DELIVERED_BY_DELIVERY:
            keys = await fetch_delivered_content(gw, order)
        else:
            keys = await fetch_keys(gw, order)
    return buyer_order_view(order, keys)


async def cancel_order(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None = None
) -> dict[str, Any]:
    """The buyer gives up an unpaid order. The secret is checked like a lookup (the same 404 for an unknown
    order or a wrong secret, counted against the same windows)."""
    return buyer_order_view(await buyer_secrets.cancel(gw, order_no, secret, client_ip), None)


def order_shop(order: Mapping[str, Any]) -> uuid.UUID:
    """The shop of an order the buyer opened: what is fetched for it is that shop's."""
    return uuid.UUID(str(order.get("shop_id") or DEFAULT_SHOP_ID))


#: Products an operator or a supplier fulfils: what the buyer received is kept by delivery, not inventory.
DELIVERED_BY_DELIVERY = frozenset({"manual", "recharge"})


async def fetch_delivered_content(gw: Gateway, order: Mapping[str, Any]) -> dict[str, Any] | None:
    """What an operator or supplier delivered (audited by delivery), shaped like inventory's keys, with
    the product's usage instructions when the catalog still has them."""
    order_id = str(order["order_id"])
    try:
        response = await gw.delivery.request(
            "GET", f"/internal/deliveries/{segment(order_id)}/content", shop=order_shop(order)
        )
    except DomainError as error:
        if error.status_code != 404:
            raise
        log.info("order %s is delivered with no content kept by delivery", order_id)
        return None
    content = json_body(response)
    instructions = ""
    try:
        product = json_body(
            await gw.inventory.request(
                "GET", f"/internal/products/{segment(str(order['product_id']))}", shop=order_shop(order)
            )
        )
        instructions = str(product.get("usage_instructions", "")) if isinstance(product, dict) else ""
    except DomainError as error:
        log.info("usage instructions of order %s not shown: %s", order_id, error)
    return {"keys": [{"content": str(content.get("content", ""))}], "usage_instructions": instructions}


# --- payments --------------------------------------------------------------------------------------


# What a provider signs besides the body (Stripe, WeChat Pay v3); the order service verifies them.
NOTIFICATION_HEADERS = (
    "content-type",
    "stripe-signature",
    "wechatpay-serial",
    "wechatpay-signature",
    "wechatpay-signature-type",
    "wechatpay-timestamp",
    "wechatpay-nonce",
)


async def forward_notification(
    gw: Gateway, provider: str, body: bytes, headers: Mapping[str, str]
) -> tuple[int, bytes, str]:
    """Hand a provider's raw notification (body and signature headers) to the order service; its answer
    (status, body, content type: e.g. epay's plain `success`) is the provider's answer."""
    forwarded = {name: value for name in NOTIFICATION_HEADERS if (value := headers.get(name))}
    response = await gw.order.request(
        "POST",
        f"/internal/payments/{segment(provider)}/notify",
        content=body,
        headers=forwarded,
        platform=True,
    )
    return response.status_code, response.content, response.headers.get("content-type", "application/json")


def upstream_error(response: httpx.Response) -> DomainError:
    """A 4xx (kept) or anything else (503) answered to the sandbox provider's notification."""
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"payment notification answered {response.status_code}")
    if not 400 <= response.status_code < 500:
        return Unavailable(message)
    error = DomainError(message)
    error.status_code = response.status_code
    error.code = str(body.get("error", "payment_rejected"))
    return error


async def complete_sandbox_payment(
    gw: Gateway, order_no: str, token: str | None, client_ip: str | None
) -> dict[str, Any]:
    """Play the sandbox provider: sign a success notification for the order's amount and deliver it to the
    gateway's public notify URL over real HTTP. Returns the order view as it was before payment."""
    order = await buyer_secrets.order_for(gw, order_no, OrderSecret(token=token), client_ip)
    if order.get("status") not in PAYABLE_STATUSES:
        raise Conflict(f"order {order_no} is {order.get('status')}; there is nothing to pay")
    notification = signed_notification(
        order_no=str(order["order_no"]),
        trade_no="SBX" + uuid.uuid4().hex,
        amount=int(order["amount"]),
        currency=str(order["currency"]),
        secret=gw.sandbox_secret,
    )
    url = f"{gw.base_url}/api/v1/payments/sandbox/notify"
    try:
        response = await gw.provider_http.post(url, json=notification)
    except httpx.HTTPError as error:
        raise Unavailable(
            f"the payment notification could not reach {url}: {type(error).__name__}"
        ) from error
    if response.status_code != 200:
        raise upstream_error(response)
    log.info("sandbox payment %s notified for order %s", notification["trade_no"], order_no)
    return order
