"""Operator use cases for pricing: a product's wholesale tiers, and coupons (create, list, disable)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from faka_common.errors import Conflict, NotFound

from order.adapters.inventory import Catalog
from order.domain.model import Order, Status
from order.domain.pricing import (
    Coupon,
    CouponKind,
    PriceTier,
    check_tiers,
    coupon_use_change,
    normalize_code,
)
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

UowFactory = Callable[[], OrderUnitOfWork]
COUPON_LIST_LIMIT = 500


async def price_tiers(
    shop_id: UUID, product_id: UUID, uow: OrderUnitOfWork, catalog: Catalog
) -> list[PriceTier]:
    """The tiers of one of the shop's products (NotFound for another shop's product or none)."""
    await catalog.product(product_id, shop_id)
    async with uow:
        return await uow.tiers.for_product(shop_id, product_id)


async def set_price_tiers(
    shop_id: UUID, product_id: UUID, tiers: list[PriceTier], uow: OrderUnitOfWork, catalog: Catalog
) -> list[PriceTier]:
    """Replace the tiers of one of the shop's products (an empty list removes them); applies to orders
    placed from now on. NotFound for another shop's product or none."""
    ordered = check_tiers(tiers)
    await catalog.product(product_id, shop_id)
    async with uow:
        await uow.tiers.replace(shop_id, product_id, ordered)
        await uow.commit()
    log.info("product %s price tiers set: %s", product_id, [(t.min_quantity, t.unit_price) for t in ordered])
    return ordered


async def create_coupon(
    uow: OrderUnitOfWork,
    *,
    shop_id: UUID,
    code: str,
    kind: CouponKind,
    value: int,
    currency: str | None = None,
    product_id: UUID | None = None,
    category_id: UUID | None = None,
    usage_limit: int | None = None,
    per_buyer_limit: int | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Coupon:
    coupon = Coupon.new(
        shop_id=shop_id,
        code=code,
        kind=kind,
        value=value,
        currency=currency,
        product_id=product_id,
        category_id=category_id,
        usage_limit=usage_limit,
        per_buyer_limit=per_buyer_limit,
        expires_at=expires_at,
        now=now or datetime.now(UTC),
    )
    async with uow:
        if not await uow.coupons.add(coupon):
            raise Conflict(f"the shop has a coupon {coupon.code} already")
        await uow.commit()
    log.info("coupon %s created (%s %d)", coupon.code, coupon.kind, coupon.value)
    return coupon


async def list_coupons(shop_id: UUID, uow: OrderUnitOfWork) -> list[Coupon]:
    async with uow:
        return await uow.coupons.recent(shop_id, COUPON_LIST_LIMIT)


async def disable_coupon(shop_id: UUID, code: str, uow: OrderUnitOfWork) -> Coupon:
    """No order may use the shop's coupon from now on; orders that used it keep their discount."""
    async with uow:
        coupon = await uow.coupons.disable(shop_id, normalize_code(code))
        if coupon is None:
            raise NotFound(f"no coupon {normalize_code(code)[:40]!r}")
        await uow.commit()
    log.info("coupon %s disabled", coupon.code)
    return coupon


async def settle_coupon_use(uow: OrderUnitOfWork, order: Order, before: Status, at: datetime) -> None:
    """After `order` moved from `before`, in the same transaction: give its coupon use back when it ended
    unpaid, count it again when a late payment completed it. Each happens at most once per order (the
    redemption row records it), so a redelivered event or a second transition changes nothing more."""
    if order.coupon_code is None:
        return
    change = coupon_use_change(before, order.status)
    if change < 0 and await uow.coupons.release(order.id, at) is not None:
        log.info(
            "order %s ended %s: coupon %s use given back", order.order_no, order.status, order.coupon_code
        )
    elif change > 0 and await uow.coupons.reclaim(order.id) is not None:
        log.info("order %s paid late: coupon %s use counted again", order.order_no, order.coupon_code)
