"""Products that pause themselves: delivery's outcomes and buyers' after-sales cases counted per product and
hour, the product paused (once, announced) when its after-sales rate passes the shop's threshold, resumed by
an operator; and the figures a buyer sees before buying."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from faka_common.contracts.delivery import DeliveryFailed, DeliverySucceeded
from faka_common.contracts.quality import ProductPaused, ProductResumed
from faka_common.contracts.quality import ProductQualityPolicy as PolicyBody
from faka_common.errors import NotFound

from inventory.adapters.product_quality import hour_of
from inventory.domain.model import Product
from inventory.domain.quality import QualityPolicy, Tally, median_seconds, time_bucket
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)

#: What the product page shows: the last 7 days.
FIGURES_WINDOW = timedelta(days=7)


def now_utc() -> datetime:
    return datetime.now(UTC)


async def _product_of(uow: InventoryUnitOfWork, shop_id: UUID, product_id: UUID | None) -> Product | None:
    """The event's product when it is the event's shop's (delivery events of other products are ignored)."""
    if product_id is None:
        return None
    product = await uow.products.get(product_id)
    return product if product is not None and product.shop_id == shop_id else None


async def record_delivery(event: DeliverySucceeded, uow: InventoryUnitOfWork) -> None:
    """A delivered order counts for its product (and its paid-to-delivered time); the product is judged."""
    product = await _product_of(uow, event.shop_id, event.product_id)
    if product is None:
        return
    at = event.delivered_at or now_utc()
    await uow.quality.count(
        product.shop_id, product.id, at, delivered_orders=1, delivered_items=event.item_count
    )
    if event.paid_at is not None:
        seconds = max(0.0, (at - event.paid_at).total_seconds())
        await uow.quality.time(product.shop_id, product.id, at, time_bucket(seconds))
    await judge(uow, product, now_utc())


async def record_deliveries(events: Sequence[DeliverySucceeded], uow: InventoryUnitOfWork) -> None:
    """What `record_delivery` does for each event of a run, in a few statements: per product one read of the
    product, its shop's policy and its window's tally, one count per hour, one per delivery-time bucket.
    The judgement steps through the run's deliveries in order as the single handler would (a delivery can
    only lower the rate, but one that brings the window to the minimum sample can pause the product)."""
    now = now_utc()
    products: dict[UUID, Product | None] = {}
    runs: dict[UUID, list[DeliverySucceeded]] = {}
    for event in events:
        if event.product_id is None:
            continue
        if event.product_id not in products:
            products[event.product_id] = await uow.products.get(event.product_id)
        product = products[event.product_id]
        if product is not None and product.shop_id == event.shop_id:
            runs.setdefault(product.id, []).append(event)
    for product_id, delivered in runs.items():
        product = products[product_id]
        assert product is not None
        await _record_run(uow, product, delivered, now)


async def _record_run(
    uow: InventoryUnitOfWork, product: Product, delivered: list[DeliverySucceeded], now: datetime
) -> None:
    # the window as it stood before this run, for the judgement below: read before the run is counted
    before = None
    if product.paused_at is None:
        policy = await uow.quality.policy(product.shop_id)
        since = policy.since(now, product.resumed_at)
        before = (policy, since, await uow.quality.tally(product.id, since))
    orders: Counter[datetime] = Counter()
    items: Counter[datetime] = Counter()
    times: Counter[tuple[datetime, int]] = Counter()
    for event in delivered:
        at = event.delivered_at or now
        orders[hour_of(at)] += 1
        items[hour_of(at)] += event.item_count
        if event.paid_at is not None:
            times[hour_of(at), time_bucket(max(0.0, (at - event.paid_at).total_seconds()))] += 1
    for hour, count in orders.items():
        await uow.quality.count(
            product.shop_id, product.id, hour, delivered_orders=count, delivered_items=items[hour]
        )
    for (hour, bucket), count in times.items():
        await uow.quality.time(product.shop_id, product.id, hour, bucket, count)
    if before is None:
        return
    policy, since, tally = before
    for event in delivered:
        if hour_of(event.delivered_at or now) >= since:
            tally = replace(
                tally,
                delivered_orders=tally.delivered_orders + 1,
                delivered_items=tally.delivered_items + event.item_count,
            )
        if await _pause_if_over(uow, product, policy, tally, now):
            return


async def record_failure(event: DeliveryFailed, uow: InventoryUnitOfWork) -> None:
    product = await _product_of(uow, event.shop_id, event.product_id)
    if product is not None:
        await uow.quality.count(product.shop_id, product.id, now_utc(), failed_orders=1)


async def count_case(uow: InventoryUnitOfWork, product: Product, now: datetime) -> None:
    """A buyer reported a key of the product invalid and it was replaced, or refused by the policy (not for
    being another order's or replaced before): an after-sales case. The product is judged."""
    await uow.quality.count(product.shop_id, product.id, now, cases=1)
    await judge(uow, product, now)


async def judge(uow: InventoryUnitOfWork, product: Product, now: datetime) -> None:
    """Pause the product (once, announced) when its after-sales rate over the shop's window passes the
    threshold with at least the minimum of deliveries counted."""
    if product.paused_at is not None:
        return
    policy = await uow.quality.policy(product.shop_id)
    tally = await uow.quality.tally(product.id, policy.since(now, product.resumed_at))
    await _pause_if_over(uow, product, policy, tally, now)


async def _pause_if_over(
    uow: InventoryUnitOfWork, product: Product, policy: QualityPolicy, tally: Tally, now: datetime
) -> bool:
    """Pause the product (once, announced) when `tally` passes the policy; whether it is paused now."""
    if not policy.pauses(tally):
        return False
    reason = (
        f"after-sales rate {tally.after_sales_rate:.3f} > {policy.pause_rate} "
        f"({tally.cases} cases / {tally.delivered_items} delivered in {policy.window_days} days)"
    )
    if not await uow.quality.pause(product.id, reason, now):
        return True
    uow.publish(
        ProductPaused(
            product_id=product.id,
            shop_id=product.shop_id,
            title=product.title,
            cases=tally.cases,
            delivered=tally.delivered_items,
            rate=round(tally.after_sales_rate, 4),
            threshold=policy.pause_rate,
            window_days=policy.window_days,
        )
    )
    log.warning("product %s of shop %s paused: %s", product.id, product.shop_id, reason)
    return True


async def resume_product(uow: InventoryUnitOfWork, shop_id: UUID, product_id: UUID, by: str) -> None:
    """An operator puts the paused product back on sale; it is judged afresh from the next hour."""
    if not await uow.quality.resume(shop_id, product_id, now_utc()):
        if await uow.products.in_shop(shop_id, product_id) is None:
            raise NotFound(f"no product {product_id}")
        return  # not paused: nothing to resume
    uow.publish(ProductResumed(product_id=product_id, shop_id=shop_id, resumed_by=by))
    await uow.commit()
    log.info("product %s of shop %s resumed by %s", product_id, shop_id, by)


async def put_policy(uow: InventoryUnitOfWork, shop_id: UUID, body: PolicyBody) -> QualityPolicy:
    policy = QualityPolicy(body.window_days, body.min_deliveries, body.pause_rate)
    await uow.quality.put_policy(shop_id, policy)
    await uow.commit()
    return policy


@dataclass(frozen=True)
class ProductQuality:
    """A product's figures: over the shop's window (what pauses it) and over the last 7 days (what the
    buyer sees: delivery success rate and typical paid-to-delivered time)."""

    product: Product
    policy: QualityPolicy
    window: Tally
    last_7_days: Tally
    median_delivery_seconds: int | None
    #: How many products the 7-day figures combine (the product, or its main product and variants).
    products_combined: int = 1


async def product_quality(
    uow: InventoryUnitOfWork, shop_id: UUID, product_id: UUID, family: bool = False
) -> ProductQuality:
    """Read from the hourly rollup (at most a week or the window of rows), never from the deliveries. With
    `family`, the 7-day figures are those of the product's main product and all its variants together (the
    options its storefront page sells); the pause and its window stay the product's own."""
    product = await uow.products.in_shop(shop_id, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    now = now_utc()
    policy = await uow.quality.policy(shop_id)
    shown = await uow.quality.family(shop_id, product.id, product.variant_of) if family else [product.id]
    return ProductQuality(
        product,
        policy,
        await uow.quality.tally(product.id, policy.since(now, product.resumed_at)),
        await uow.quality.tally_of(shown, now - FIGURES_WINDOW),
        median_seconds(await uow.quality.times(shown, now - FIGURES_WINDOW)),
        len(shown),
    )
