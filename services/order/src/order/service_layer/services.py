"""Use cases driven from the HTTP edge and the expiry job; each opens and commits its own unit of work."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from faka_common.contracts import OrderCancelled, OrderPlaced
from faka_common.errors import Conflict, DomainError, NotFound
from uuid6 import uuid7

from order.adapters.inventory import Catalog
from order.domain import credentials
from order.domain.model import Order, Trigger
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

MAX_AMOUNT = 2**63 - 1
NO_SUCH_ORDER = "no order with that number and secret"
EXPIRY_BATCH = 100
MAX_PASSWORD = 128


@dataclass(frozen=True)
class PlaceOrder:
    product_id: UUID
    quantity: int
    buyer_email: str
    query_password: str | None = None
    locale: str = "zh-CN"
    buyer_ip: str | None = None


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    token: str


async def place_order(
    command: PlaceOrder,
    uow: OrderUnitOfWork,
    catalog: Catalog,
    token_secret: str,
    payment_window: timedelta,
    now: datetime | None = None,
) -> PlacedOrder:
    """Price the order from the catalog, store it as pending_risk and announce OrderPlaced atomically."""
    product = await catalog.product(command.product_id)
    if not product.active:
        raise Conflict(f"product {command.product_id} is not on sale")
    if product.price * command.quantity > MAX_AMOUNT:
        raise DomainError("order amount is too large")
    password_hash = None
    if command.query_password:
        password_hash = await asyncio.to_thread(credentials.hash_password, command.query_password)
    at = now or datetime.now(UTC)
    order = Order.place(
        id=uuid7(),
        order_no=credentials.new_order_no(at),
        product_id=product.product_id,
        product_title=product.title,
        quantity=command.quantity,
        unit_price=product.price,
        currency=product.currency,
        buyer_email=command.buyer_email,
        buyer_ip=command.buyer_ip,
        locale=command.locale,
        password_hash=password_hash,
        now=at,
        payment_window=payment_window,
    )
    async with uow:
        await uow.orders.add(order)
        uow.publish(
            OrderPlaced(
                order_id=order.id,
                order_no=order.order_no,
                product_id=order.product_id,
                product_title=order.product_title,
                quantity=order.quantity,
                amount=order.amount,
                currency=order.currency,
                buyer_email=order.buyer_email,
                buyer_ip=order.buyer_ip,
                locale=order.locale,
            )
        )
        await uow.commit()
    log.info("order %s placed (%s)", order.order_no, order.id)
    return PlacedOrder(order, credentials.order_token(token_secret, order.order_no))


async def find_order(
    order_no: str,
    uow: OrderUnitOfWork,
    token_secret: str,
    token: str | None = None,
    password: str | None = None,
) -> Order:
    """The order, for a buyer who holds its token or query password; the same NotFound otherwise."""
    order = None
    if order_no and len(order_no) <= 64:
        async with uow:
            order = await uow.orders.get_by_no(order_no)
    allowed = False
    if token:
        allowed = credentials.token_valid(token_secret, order_no, token) and order is not None
    if not allowed and password and len(password) <= MAX_PASSWORD:
        stored = order.password_hash if order else None
        allowed = await asyncio.to_thread(credentials.password_valid, stored, password)
    if order is None or not allowed:
        raise NotFound(NO_SUCH_ORDER)
    return order


async def expire_overdue(uow: OrderUnitOfWork, now: datetime | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Expire up to `limit` awaiting-payment orders past their window; releases go out as OrderCancelled."""
    at = now or datetime.now(UTC)
    async with uow:
        overdue = await uow.orders.lock_overdue(at, limit)
        for order in overdue:
            order.apply(Trigger.EXPIRE, at)
            await uow.orders.save(order)
            uow.publish(OrderCancelled(order_id=order.id, order_no=order.order_no, reason="expired"))
        await uow.commit()
    if overdue:
        log.info("expired %d unpaid orders", len(overdue))
    return len(overdue)
