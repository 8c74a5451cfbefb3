"""Use cases driven from the HTTP edge and the expiry job; each opens and commits its own unit of work."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from faka_common.contracts import OrderCancelled, OrderPlaced
from faka_common.contracts.order import OrderLinkRequested
from faka_common.errors import Busy, Conflict, DomainError, NotFound
from uuid6 import uuid7

from order.adapters.inventory import Catalog, Product
from order.domain import credentials, fulfilment, pricing
from order.domain.model import Order, Trigger
from order.domain.pricing import Coupon
from order.domain.shops import check_takes_orders, storefront_root
from order.service_layer.pricing import settle_coupon_use
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

MAX_AMOUNT = 2**63 - 1
NO_SUCH_ORDER = "no order with that number and secret"
EXPIRY_BATCH = 100
MAX_PASSWORD = 128


@dataclass(frozen=True)
class PlaceOrder:
    shop_id: UUID
    product_id: UUID
    quantity: int
    buyer_email: str
    query_password: str | None = None
    locale: str = "zh-CN"
    buyer_ip: str | None = None
    coupon_code: str | None = None
    buyer_fields: dict[str, str] = field(default_factory=dict)
    buyer_phone: str | None = None
    #: Passed to risk on OrderPlaced, not kept on the order.
    device_id: str | None = None


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    token: str


async def _redeem(
    uow: OrderUnitOfWork, shop_id: UUID, code: str, buyer_email: str, product: Product, at: datetime
) -> Coupon:
    """Check the shop's coupon (saying why it does not apply) and count its use atomically."""
    coupon = await uow.coupons.get(shop_id, pricing.normalize_code(code))
    if coupon is None:
        raise pricing.coupon_unknown(code)
    coupon.check(product.product_id, product.category_id, product.currency, at)
    if not await uow.coupons.take_use(shop_id, coupon.code, at):
        raise pricing.coupon_used_up(coupon.code)
    limit = coupon.per_buyer_limit
    if limit is not None and await uow.coupons.uses_by(shop_id, coupon.code, buyer_email) >= limit:
        raise pricing.coupon_buyer_limit(coupon.code, limit)
    return coupon


async def late_orders(
    uow: OrderUnitOfWork, late_after: timedelta, horizon: timedelta, now: datetime | None = None
) -> int:
    """How many orders, in every shop, placed within `horizon`, have waited longer than `late_after` for
    their stock (risk's decision or the reservation). Older ones stuck for good (an event dead-lettered,
    say) are the watchdog's: counted, enough of them would close every shop."""
    at = now or datetime.now(UTC)
    async with uow:
        return await uow.orders.count_waiting(at - horizon, at - late_after)


def admit(late: int, bound: int) -> None:
    """Turn a new order away at once (`Busy`: 503 with Retry-After) while `bound` or more orders are late
    for their stock (0: no bound). Past what the platform serves, each new order would otherwise queue
    behind all of them, and every buyer would wait longer than the last. Counting the late ones, not all
    that wait, holds the wait itself near `late_after` whatever the box's pace, and one order stuck alone
    turns nobody away."""
    if bound and late >= bound:
        raise Busy(f"too many orders are waiting for their stock: try again in {Busy.retry_after} s")


async def place_order(
    command: PlaceOrder,
    uow: OrderUnitOfWork,
    catalog: Catalog,
    tokens: credentials.OrderTokens,
    payment_window: timedelta,
    now: datetime | None = None,
) -> PlacedOrder:
    """Price the order (tier, coupon), check the purchase limits, store it as pending_risk and announce
    OrderPlaced, all in one transaction: a coupon use or a limit is never counted for an order not kept.
    All of it is the shop's: the product (inventory answers 404 for another shop's), tiers, coupon, limits.
    A shop the shops read model knows is not active takes none (409; the gateway refuses first).

    The product's terms come from the catalog read model, read with the shop and tiers; a product it does
    not hold (not yet told, or told before it kept everything) is asked of inventory (`catalog`)."""
    shop = command.shop_id
    buyer_fields = fulfilment.check_buyer_fields(command.buyer_fields)
    # hashed before the transaction (scrypt, about 50 ms): no pooled connection waits idle in a transaction
    # for it; a placement the product or shop then refuses has paid it for nothing
    password_hash = None
    if command.query_password:
        salt = credentials.email_salt(tokens.secret, command.buyer_email)
        password_hash = await asyncio.to_thread(credentials.hash_password, command.query_password, salt)
    at = now or datetime.now(UTC)
    order_id = uuid7()
    # Most placements read, then write the order and its OrderPlaced in one statement: no transaction
    # around them (two round trips of five). A limit per buyer or a coupon is counted in one.
    async with uow.alone():
        # the product's terms, the shop and its tiers in one statement (read on its own, it sees what a
        # statement of a read-committed transaction would); an order in a closed shop still keeps nothing
        known, tiers, held = await uow.shops.with_price_tiers(shop, command.product_id)
        product = held or await catalog.product(command.product_id, shop)
        _check_on_sale(product, command, buyer_fields)
        check_takes_orders(known)
        if product.max_per_buyer is not None:
            await uow.begin()
            await uow.orders.lock_buyer(shop, product.product_id, command.buyer_email)
            bought = await uow.orders.units_bought(shop, product.product_id, command.buyer_email)
            pricing.check_purchase_limits(command.quantity, None, product.max_per_buyer, bought)
        unit_price = pricing.unit_price_for(product.price, tiers, command.quantity)
        coupon = None
        if command.coupon_code:
            await uow.begin()  # nothing when the limit began it
            coupon = await _redeem(uow, shop, command.coupon_code, command.buyer_email, product, at)
        priced = pricing.price(unit_price, command.quantity, coupon)
        order = Order.place(
            id=order_id,
            shop_id=shop,
            order_no=credentials.new_order_no(at),
            product_id=product.product_id,
            product_title=product.title,
            quantity=command.quantity,
            unit_price=priced.unit_price,
            currency=product.currency,
            buyer_email=command.buyer_email,
            buyer_ip=command.buyer_ip,
            locale=command.locale,
            password_hash=password_hash,
            now=at,
            payment_window=payment_window,
            discount=priced.discount,
            coupon_code=coupon.code if coupon else None,
            delivery_type=product.delivery_type,
            face_value=product.face_value,
            buyer_fields=buyer_fields,
            buyer_phone=command.buyer_phone,
        )
        uow.publish(
            OrderPlaced(
                order_id=order.id,
                shop_id=order.shop_id,
                order_no=order.order_no,
                product_id=order.product_id,
                product_title=order.product_title,
                quantity=order.quantity,
                amount=order.amount,
                currency=order.currency,
                buyer_email=order.buyer_email,
                buyer_ip=order.buyer_ip,
                buyer_phone=order.buyer_phone,
                device_id=command.device_id,
                locale=order.locale,
                discount=order.discount,
                coupon_code=order.coupon_code,
                unit_price=order.unit_price,
                delivery_type=order.delivery_type,
            )
        )
        await uow.orders.add(order, uow.take_outbox())
        if coupon is not None:
            await uow.coupons.record_redemption(order, coupon.code, priced.discount, at)
        await uow.commit()
    log.info("order %s placed (%s)", order.order_no, order.id)
    return PlacedOrder(order, tokens.issue(order.order_no, order.secret_version, at))


def _check_on_sale(product: Product, command: PlaceOrder, buyer_fields: dict[str, str]) -> None:
    """409 for a product off sale (paused by its after-sales rate, or inactive); 400 for an amount too large,
    missing recharge fields, or more units than one order may buy."""
    if product.paused:
        raise Conflict(
            f"product {command.product_id} is not on sale: paused because buyers reported too many problems "
            "with it, until the shop resumes it"
        )
    if not product.active:
        raise Conflict(f"product {command.product_id} is not on sale")
    if product.price * command.quantity > MAX_AMOUNT:
        raise DomainError("order amount is too large")
    fulfilment.check_recharge_fields(product.delivery_type, buyer_fields)
    pricing.check_purchase_limits(command.quantity, product.max_per_order, None, 0)


@dataclass(frozen=True)
class OpenedOrder:
    order: Order
    token_until: datetime | None
    """When the buyer's token stops working, if the token opened the order; None: the query password did."""
    enabled_channels: list[str] | None = None
    """The providers of the shop's enabled channels, read with the order when asked (`open_order`)."""


async def find_order(
    shop_id: UUID | None,
    order_no: str,
    uow: OrderUnitOfWork,
    tokens: credentials.OrderTokens,
    token: str | None = None,
    password: str | None = None,
    now: datetime | None = None,
) -> Order:
    """The shop's order (no shop: any shop's), for a buyer who holds its unexpired token or its query
    password; the same NotFound otherwise, and for another shop's order (see `open_order`)."""
    return (await open_order(shop_id, order_no, uow, tokens, token, password, now)).order


async def open_order(
    shop_id: UUID | None,
    order_no: str,
    uow: OrderUnitOfWork,
    tokens: credentials.OrderTokens,
    token: str | None = None,
    password: str | None = None,
    now: datetime | None = None,
    channels: bool = False,
) -> OpenedOrder:
    """`find_order`, and which secret opened the order. The token is checked first (an HMAC); the password
    (an scrypt) only when the token is not. `channels`: with the shop's enabled channels, in the same read
    (what the buyer's view of an order awaiting payment offers)."""
    order, enabled = None, None
    if order_no and len(order_no) <= 64:
        async with uow:
            if channels:
                found = await uow.channels.order_with_enabled(shop_id, order_no)
                order, enabled = found if found is not None else (None, None)
            else:
                order = await uow.orders.get_by_no(shop_id, order_no)
    until = None
    if token and order is not None:
        at = now or datetime.now(UTC)
        until = tokens.valid_until(order.order_no, order.secret_version, order.created_at, token, at)
    allowed = until is not None
    if not allowed and password and len(password) <= MAX_PASSWORD:
        stored = order.password_hash if order else None
        allowed = await asyncio.to_thread(credentials.password_valid, stored, password)
    if order is None or not allowed:
        raise NotFound(NO_SUCH_ORDER)
    return OpenedOrder(order, until, enabled)


async def expire_overdue(uow: OrderUnitOfWork, now: datetime | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Expire up to `limit` awaiting-payment orders past their window; releases go out as OrderCancelled."""
    at = now or datetime.now(UTC)
    async with uow:
        overdue = await uow.orders.lock_overdue(at, limit)
        for order in overdue:
            before = order.status
            order.apply(Trigger.EXPIRE, at)
            await settle_coupon_use(uow, order, before, at)
            await uow.orders.save(order)
            uow.publish(
                OrderCancelled(
                    order_id=order.id, shop_id=order.shop_id, order_no=order.order_no, reason="expired"
                )
            )
        await uow.commit()
    if overdue:
        log.info("expired %d unpaid orders", len(overdue))
    return len(overdue)


CANCELLED_BY_BUYER = "cancelled_by_buyer"


async def cancel_order(
    shop_id: UUID | None,
    order_no: str,
    uow: OrderUnitOfWork,
    tokens: credentials.OrderTokens,
    token: str | None = None,
    password: str | None = None,
    now: datetime | None = None,
) -> Order:
    """The buyer (holder of the token or query password) gives up an order awaiting payment: its stock is
    released (OrderCancelled) and its coupon use given back, in one transaction. Same 404 as a lookup without
    the secret; 409 when the order is past awaiting payment (a payment racing the cancel wins the row lock
    first or finds the order cancelled, and then follows the late-payment policy)."""
    found = await find_order(shop_id, order_no, uow, tokens, token, password, now)
    at = now or datetime.now(UTC)
    async with uow:
        order = await uow.orders.lock(found.shop_id, found.id)
        assert order is not None, "an order row is never deleted"
        before = order.status
        order.fail(Trigger.CANCEL, CANCELLED_BY_BUYER, at)
        await settle_coupon_use(uow, order, before, at)
        await uow.orders.save(order)
        uow.publish(
            OrderCancelled(
                order_id=order.id, shop_id=order.shop_id, order_no=order.order_no, reason=CANCELLED_BY_BUYER
            )
        )
        await uow.commit()
    log.info("order %s cancelled by the buyer", order.order_no)
    return order


LOOKUP_WINDOW = timedelta(days=90)
LOOKUP_LIMIT = 50


async def find_buyer_orders(
    shop_id: UUID | None,
    email: str,
    password: str,
    uow: OrderUnitOfWork,
    tokens: credentials.OrderTokens,
    now: datetime | None = None,
) -> list[Order]:
    """The buyer's orders in the shop (no shop: in every shop) of the last 90 days (newest first, at most 50)
    whose query password matches.
    Unknown email, no password set and a wrong password all give the same empty list, after the same one
    scrypt: the password is hashed once with the address's keyed salt, whatever the orders found."""
    if not email or len(email) > 254 or not password or len(password) > MAX_PASSWORD:
        return []
    since = (now or datetime.now(UTC)) - LOOKUP_WINDOW
    async with uow:
        recent = await uow.orders.recent_for_buyer(shop_id, email, since, LOOKUP_LIMIT)
    salt = credentials.email_salt(tokens.secret, email)
    stored = [order.password_hash for order in recent]
    matching = await asyncio.to_thread(credentials.matching_hashes, stored, password, salt)
    return [order for order in recent if order.password_hash in matching]


async def placement_token(
    shop_id: UUID, order_no: str, uow: OrderUnitOfWork, tokens: credentials.OrderTokens
) -> str:
    """The very token given when the order was placed (secret version 0, issued as of the placement), for
    a replayed placement; like the original, it no longer works once the order's secret is rotated."""
    order = await _shop_order(shop_id, order_no, uow)
    return tokens.issue(order.order_no, 0, order.created_at)


async def rotate_secret(
    shop_id: UUID,
    order_no: str,
    uow: OrderUnitOfWork,
    tokens: credentials.OrderTokens,
    now: datetime | None = None,
) -> PlacedOrder:
    """The seller revokes every access token of one of the shop's orders (a leaked link) and gets a new one
    to pass on; the query password is unchanged."""
    at = now or datetime.now(UTC)
    async with uow:
        order = await uow.orders.lock_by_no(shop_id, order_no) if order_no and len(order_no) <= 64 else None
        if order is None:
            raise NotFound(f"no order {order_no[:64]!r}")
        order.secret_version += 1
        order.updated_at = at
        await uow.orders.save(order)
        await uow.commit()
    log.info("order %s: access secret rotated (version %d)", order.order_no, order.secret_version)
    return PlacedOrder(order, tokens.issue(order.order_no, order.secret_version, at))


async def request_order_link(
    shop_id: UUID | None, order_no: str, email: str, uow: OrderUnitOfWork, now: datetime | None = None
) -> bool:
    """The buyer lost the order's link and asks for it by e-mail: when `email` is the order's address (case
    and surrounding spaces ignored, compared in constant time), `OrderLinkRequested` is staged on the outbox
    and notification e-mails a fresh link to the order's address; another address, an unknown order and
    another shop's order change nothing (no shop: the order of any shop). Says whether it was staged; the
    caller answers the same either way."""
    at = now or datetime.now(UTC)
    async with uow:
        order = await uow.orders.get_by_no(shop_id, order_no) if order_no and len(order_no) <= 64 else None
        # an unknown order still costs one comparison, against nothing
        matches = credentials.same_email(order.buyer_email if order else "", email)
        if order is None or not matches:
            return False
        uow.publish(
            OrderLinkRequested(
                order_id=order.id, shop_id=order.shop_id, order_no=order.order_no, requested_at=at
            )
        )
        await uow.commit()
    log.info("order %s: link e-mail requested", order.order_no)
    return True


async def fresh_token(
    shop_id: UUID,
    order_no: str,
    uow: OrderUnitOfWork,
    tokens: credentials.OrderTokens,
    now: datetime | None = None,
) -> PlacedOrder:
    """A token issued now for the current secret version of one of the shop's orders: the link e-mailed at
    the buyer's request (a rotation since then revokes it like any other)."""
    order = await _shop_order(shop_id, order_no, uow)
    return PlacedOrder(order, tokens.issue(order.order_no, order.secret_version, now or datetime.now(UTC)))


async def shop_root(shop_id: UUID, uow: OrderUnitOfWork) -> str:
    """Where the shop's storefront lives under PUBLIC_BASE_URL ("/s/<slug>", or "" for the root), for the
    links a buyer is sent: the root for the default shop and for a shop not known yet (it opens any shop's
    order)."""
    async with uow:
        known = await uow.shops.get(shop_id)
    return storefront_root(shop_id, known)


async def _shop_order(shop_id: UUID, order_no: str, uow: OrderUnitOfWork) -> Order:
    """The shop's order with this number; NotFound for an unknown one and for another shop's."""
    async with uow:
        order = await uow.orders.get_by_no(shop_id, order_no) if order_no and len(order_no) <= 64 else None
    if order is None:
        raise NotFound(f"no order {order_no[:64]!r}")
    return order
