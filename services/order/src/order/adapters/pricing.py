"""Prices apart from the product's own: its price tiers by quantity, and coupons with their redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from faka_common.db.statements import Compiled
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from order.adapters.tables import coupon_redemptions, coupons, order_price_tiers
from order.domain.model import Order
from order.domain.pricing import Coupon, PriceTier

#: Read for every order placed: compiled once (building it per read was a quarter of placing's CPU, py-spy).
_TIERS = Compiled(
    select(order_price_tiers.c.min_quantity, order_price_tiers.c.unit_price)
    .where(
        order_price_tiers.c.shop_id == bindparam("shop_id"),
        order_price_tiers.c.product_id == bindparam("product_id"),
    )
    .order_by(order_price_tiers.c.min_quantity)
)


class PriceTierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_product(self, shop_id: UUID, product_id: UUID) -> list[PriceTier]:
        rows = await _TIERS.rows(self._session, {"shop_id": shop_id, "product_id": product_id})
        return [PriceTier(r["min_quantity"], r["unit_price"]) for r in rows]

    async def replace(self, shop_id: UUID, product_id: UUID, tiers: list[PriceTier]) -> None:
        await self._session.execute(
            delete(order_price_tiers).where(
                order_price_tiers.c.shop_id == shop_id, order_price_tiers.c.product_id == product_id
            )
        )
        if tiers:
            await self._session.execute(
                insert(order_price_tiers),
                [
                    {
                        "shop_id": shop_id,
                        "product_id": product_id,
                        "min_quantity": t.min_quantity,
                        "unit_price": t.unit_price,
                    }
                    for t in tiers
                ],
            )


def _coupon(row: Any) -> Coupon:
    return Coupon(**dict(row._mapping))


def _coupon_code(shop_id: UUID, code: str) -> ColumnElement[bool]:
    return and_(coupons.c.shop_id == shop_id, coupons.c.code == code)


class CouponRepository:
    """Coupons by (shop, code): a code names a coupon within its shop only."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, coupon: Coupon) -> bool:
        """False when the coupon's shop has a coupon with this code."""
        result = await self._session.execute(
            insert(coupons)
            .values(**{name: getattr(coupon, name) for name in coupons.c.keys()})  # noqa: SIM118
            .on_conflict_do_nothing()
            .returning(coupons.c.code)
        )
        return result.first() is not None

    async def get(self, shop_id: UUID, code: str) -> Coupon | None:
        row = (await self._session.execute(select(coupons).where(_coupon_code(shop_id, code)))).first()
        return _coupon(row) if row else None

    async def recent(self, shop_id: UUID, limit: int) -> list[Coupon]:
        query = (
            select(coupons)
            .where(coupons.c.shop_id == shop_id)
            .order_by(coupons.c.created_at.desc())
            .limit(limit)
        )
        return [_coupon(row) for row in (await self._session.execute(query)).all()]

    async def disable(self, shop_id: UUID, code: str) -> Coupon | None:
        result = await self._session.execute(
            update(coupons).where(_coupon_code(shop_id, code)).values(active=False).returning(*coupons.c)
        )
        row = result.first()
        return _coupon(row) if row else None

    async def take_use(self, shop_id: UUID, code: str, now: datetime) -> bool:
        """Count one use, atomically: the conditional UPDATE re-checks the limit on the row's latest version
        under its lock, so a limit of N is taken exactly N times however many orders race. The row stays
        locked until the transaction ends (which also serialises the per-buyer count)."""
        result = await self._session.execute(
            update(coupons)
            .where(
                _coupon_code(shop_id, code),
                coupons.c.active.is_(True),
                or_(coupons.c.usage_limit.is_(None), coupons.c.used_count < coupons.c.usage_limit),
                or_(coupons.c.expires_at.is_(None), coupons.c.expires_at > now),
            )
            .values(used_count=coupons.c.used_count + 1)
            .returning(coupons.c.code)
        )
        return result.first() is not None

    async def uses_by(self, shop_id: UUID, code: str, buyer_email: str) -> int:
        """The buyer's uses of the shop's coupon that count: orders that did not end unpaid."""
        query = select(func.count()).where(
            coupon_redemptions.c.shop_id == shop_id,
            coupon_redemptions.c.code == code,
            func.lower(coupon_redemptions.c.buyer_email) == buyer_email.strip().lower(),
            coupon_redemptions.c.released_at.is_(None),
        )
        return int((await self._session.execute(query)).scalar_one())

    async def record_redemption(self, order: Order, code: str, discount: int, at: datetime) -> None:
        await self._session.execute(
            insert(coupon_redemptions).values(
                order_id=order.id,
                shop_id=order.shop_id,
                code=code,
                buyer_email=order.buyer_email,
                discount=discount,
                redeemed_at=at,
            )
        )

    async def release(self, order_id: UUID, at: datetime) -> str | None:
        """Give back the use of the order's coupon, once: the conditional UPDATE of the redemption row takes
        its lock and re-checks `released_at` on the latest version, so of two transitions (or redeliveries)
        racing only one gives anything back. The coupon code given back, else None."""
        return await self._move_use(order_id, released_at=at)

    async def reclaim(self, order_id: UUID) -> str | None:
        """A late payment completed an order whose use was given back: count it again, once, even past the
        coupon's limit (the buyer paid the discounted price). The coupon code taken again, else None."""
        return await self._move_use(order_id, released_at=None)

    async def _move_use(self, order_id: UUID, released_at: datetime | None) -> str | None:
        """Release (`released_at` set) or reclaim (None) the order's redemption if it is not so already, and
        count its coupon's use down or up with it."""
        released = coupon_redemptions.c.released_at
        result = await self._session.execute(
            update(coupon_redemptions)
            .where(
                coupon_redemptions.c.order_id == order_id,
                released.is_(None) if released_at is not None else released.is_not(None),
            )
            .values(released_at=released_at)
            .returning(coupon_redemptions.c.shop_id, coupon_redemptions.c.code)
        )
        redeemed = result.first()
        if redeemed is None:
            return None
        used = coupons.c.used_count
        await self._session.execute(
            update(coupons)
            .where(_coupon_code(redeemed.shop_id, redeemed.code))
            .values(used_count=func.greatest(used - 1, 0) if released_at is not None else used + 1)
        )
        return str(redeemed.code)
