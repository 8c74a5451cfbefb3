"""Order consumers: each is a guarded transition on the locked order row (a misfit is logged and ignored), and
the read models kept from merchant's ShopChanged (shops) and inventory's product events (the catalog)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeAlias
from uuid import UUID

from faka_common.contracts import (
    AllocationFailed,
    DeliveryFailed,
    DeliverySucceeded,
    KeysAllocated,
    OrderApproved,
    OrderCancelled,
    OrderDelivered,
    OrderRejected,
    RiskDecided,
    StockReserved,
    StockUnavailable,
)
from faka_common.contracts.delivery import DeliveryEvent
from faka_common.contracts.envelope import Message
from faka_common.contracts.inventory import InventoryEvent, ProductChanged
from faka_common.contracts.order import OrderNeedsAttention
from faka_common.contracts.quality import ProductPaused, ProductResumed
from faka_common.contracts.shops import ShopChanged
from uuid6 import uuid7

from order.domain import late_payment
from order.domain.model import InvalidTransition, Order, Trigger
from order.domain.shops import KnownShop
from order.service_layer.payments import settle_free_order
from order.service_layer.pricing import settle_coupon_use
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

#: The events the order acts on; each names the shop of the order it is about.
ShopEvent: TypeAlias = RiskDecided | InventoryEvent | DeliveryEvent


def _now() -> datetime:
    return datetime.now(UTC)


async def _transition(
    event: ShopEvent, order_id: UUID, uow: OrderUnitOfWork, step: Callable[[Order], Message | None]
) -> Order | None:
    """Lock the order of the event's shop, run `step` (which applies a trigger and may return a message to
    publish), save. An unknown order (or another shop's: the event names the wrong shop) or a trigger that
    does not fit the state is logged as a no-op."""
    order = await uow.orders.lock(event.shop_id, order_id)
    if order is None:
        log.warning("%s for no order %s of shop %s; ignoring", event.type_name, order_id, event.shop_id)
        return None
    before = order.status
    try:
        outgoing = step(order)
    except InvalidTransition as error:
        log.info("%s ignored for order %s: %s", event.type_name, order.order_no, error)
        return None
    await settle_coupon_use(uow, order, before, order.updated_at)
    await uow.orders.save(order)
    if outgoing is not None:
        uow.publish(outgoing)
    log.info("order %s: %s -> %s on %s", order.order_no, before, order.status, event.type_name)
    return order


async def on_risk_decided(event: RiskDecided, uow: OrderUnitOfWork, payment_window: timedelta) -> None:
    def step(order: Order) -> Message | None:
        at = _now()
        if event.verdict == "approve":
            expires_at = order.approve(at, payment_window)
            return OrderApproved(
                order_id=order.id,
                shop_id=order.shop_id,
                order_no=order.order_no,
                product_id=order.product_id,
                quantity=order.quantity,
                payment_expires_at=expires_at,
            )
        if event.verdict == "reject":
            order.fail(Trigger.REJECT, ("risk: " + ", ".join(event.reasons)) if event.reasons else "risk", at)
            return OrderRejected(
                order_id=order.id, shop_id=order.shop_id, order_no=order.order_no, reasons=event.reasons
            )
        order.apply(Trigger.REVIEW, at)
        return None

    await _transition(event, event.order_id, uow, step)


async def on_stock_reserved(event: StockReserved, uow: OrderUnitOfWork) -> None:
    """Stock held: the order awaits payment; one with nothing to pay is paid at once, without a provider."""
    paid = False

    def step(order: Order) -> None:
        nonlocal paid
        paid = order.reserve(_now())

    order = await _transition(event, event.order_id, uow, step)
    if order is not None and paid:
        await settle_free_order(order, uow)


async def on_stock_unavailable(event: StockUnavailable, uow: OrderUnitOfWork) -> None:
    def step(order: Order) -> Message:
        order.fail(Trigger.STOCK_UNAVAILABLE, "out_of_stock", _now())
        return OrderCancelled(
            order_id=order.id, shop_id=order.shop_id, order_no=order.order_no, reason="out_of_stock"
        )

    await _transition(event, event.order_id, uow, step)


async def on_keys_allocated(event: KeysAllocated, uow: OrderUnitOfWork) -> None:
    def step(order: Order) -> None:
        order.apply(Trigger.KEYS_ALLOCATED, _now())

    await _transition(event, event.order_id, uow, step)


async def on_allocation_failed(event: AllocationFailed, uow: OrderUnitOfWork) -> None:
    """A paid order's allocation failed: the seller is told, in the same transaction. One with no stock
    left (a late payment whose stock was sold) is also owed an automatic refund."""
    owed: list[Order] = []

    def step(order: Order) -> Message:
        # A free order took no money: there is nothing to refund automatically, only the seller to tell.
        refund = late_payment.needs_auto_refund(order.status, event.reason) and not order.free
        order.fail(Trigger.ALLOCATION_FAILED, event.reason, _now())
        if not refund:
            return OrderNeedsAttention(
                order_id=order.id,
                shop_id=order.shop_id,
                order_no=order.order_no,
                reason=late_payment.ATTENTION_ALLOCATION_FAILED,
                detail=f"allocation failed ({event.reason[:60]}); refund the buyer or deliver by hand",
            )
        order.status_reason = late_payment.AUTO_REFUND_PENDING
        owed.append(order)
        return OrderNeedsAttention(
            order_id=order.id,
            shop_id=order.shop_id,
            order_no=order.order_no,
            reason=late_payment.ATTENTION_OUT_OF_STOCK,
            detail=f"paid order found no stock ({event.reason[:60]}); refunding it automatically",
        )

    await _transition(event, event.order_id, uow, step)
    for order in owed:
        await uow.auto_refunds.add(order, f"R{uuid7().hex}", late_payment.REFUND_REASON, _now())
        log.warning("order %s paid but out of stock: automatic refund owed", order.order_no)


async def on_delivery_succeeded(event: DeliverySucceeded, uow: OrderUnitOfWork) -> None:
    def step(order: Order) -> Message:
        at = _now()
        order.deliver(at)
        return OrderDelivered(
            order_id=order.id, shop_id=order.shop_id, order_no=order.order_no, delivered_at=at
        )

    await _transition(event, event.order_id, uow, step)


async def on_delivery_failed(event: DeliveryFailed, uow: OrderUnitOfWork) -> None:
    def step(order: Order) -> None:
        order.fail(Trigger.DELIVERY_FAILED, event.reason, _now())

    await _transition(event, event.order_id, uow, step)


async def lock_orders(messages: list[Message], uow: OrderUnitOfWork) -> None:
    """Before a batch's handlers: lock every order the batch is about, in the order of their ids. Each
    handler locks its order again (already held); two batches that share orders (risk's and inventory's,
    side by side) then wait for each other instead of deadlocking. The handlers' saves are written
    together when the batch commits (`defer_saves`): they touch orders through `lock` and `save` alone."""
    await uow.orders.lock_in_order(
        [order_id for m in messages if isinstance(order_id := getattr(m, "order_id", None), UUID)]
    )
    uow.orders.defer_saves()


async def on_product_changed(event: ProductChanged, uow: OrderUnitOfWork) -> None:
    """Keep the product's selling terms for the placements to come (the catalog read model)."""
    await uow.catalog.changed(event)


async def on_product_paused(event: ProductPaused, uow: OrderUnitOfWork) -> None:
    await uow.catalog.paused(event.product_id, True)


async def on_product_resumed(event: ProductResumed, uow: OrderUnitOfWork) -> None:
    await uow.catalog.paused(event.product_id, False)


async def on_shop_changed(event: ShopChanged, uow: OrderUnitOfWork) -> None:
    """Keep what the order service needs of the shop: its slug (the buyer's links), name and status (whether
    it takes orders). The topic is keyed by shop and each event is the whole shop, so the latest one wins."""
    await uow.shops.save(KnownShop(event.shop_id, event.slug, event.name, event.status))
    log.info("shop %s (%s) is %s", event.shop_id, event.slug, event.status)
