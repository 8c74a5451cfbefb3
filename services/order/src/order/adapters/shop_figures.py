"""A shop's sales figures over a period in one statement: orders placed (by day and by their status now),
orders paid and what they paid (by day and currency), the paid orders' paid→delivered latency (p50, p95), the
most paid-for products, the refunds asked and the paid amounts by shop (the platform's fee base). Placed
orders are read by the (shop_id, created_at) index, paid ones by (shop_id, paid_at) and refunds by
(shop_id, requested_at) (migrations 0012, 0013)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from order.domain.figures import HOT_PRODUCTS, Period

#: Days are cut in the period's time zone: a timestamp's day is its local date there.
FIGURES_SQL = """
WITH bounds AS (
    SELECT CAST(:first AS date) AS first_day, CAST(:last AS date) AS last_day
), window_ AS (
    SELECT CAST(first_day AS timestamp) AT TIME ZONE :tz AS start_at,
           CAST(last_day + 1 AS timestamp) AT TIME ZONE :tz AS end_at
    FROM bounds
), placed AS (
    SELECT o.status, CAST(o.created_at AT TIME ZONE :tz AS date) AS day
    FROM orders o, window_ w
    WHERE o.shop_id = :shop AND o.created_at >= w.start_at AND o.created_at < w.end_at
), paid AS (
    SELECT o.shop_id, o.product_id, o.product_title, o.quantity, o.amount, o.currency,
           CAST(o.paid_at AT TIME ZONE :tz AS date) AS day,
           EXTRACT(EPOCH FROM o.delivered_at - o.paid_at) AS delivery_seconds
    FROM orders o, window_ w
    WHERE o.shop_id = :shop AND o.paid_at >= w.start_at AND o.paid_at < w.end_at
), asked AS (
    SELECT r.amount, r.currency, r.status
    FROM refunds r, window_ w
    WHERE r.shop_id = :shop AND r.requested_at >= w.start_at AND r.requested_at < w.end_at
)
SELECT
    (SELECT COALESCE(json_agg(json_build_object('day', day, 'orders', n) ORDER BY day), '[]')
     FROM (SELECT day, count(*) AS n FROM placed GROUP BY day) d) AS placed_by_day,
    (SELECT COALESCE(json_agg(json_build_object('day', day, 'currency', currency, 'orders', n,
                                                'amount', amount) ORDER BY day, currency), '[]')
     FROM (SELECT day, currency, count(*) AS n, sum(amount) AS amount FROM paid GROUP BY day, currency) d
    ) AS paid_by_day,
    (SELECT COALESCE(json_object_agg(status, n ORDER BY status), '{}')
     FROM (SELECT status, count(*) AS n FROM placed GROUP BY status) s) AS by_status,
    (SELECT json_build_object(
         'delivered', count(delivery_seconds),
         'p50_seconds', percentile_cont(0.5) WITHIN GROUP (ORDER BY delivery_seconds),
         'p95_seconds', percentile_cont(0.95) WITHIN GROUP (ORDER BY delivery_seconds))
     FROM paid) AS latency,
    (SELECT COALESCE(json_agg(h ORDER BY h.paid_orders DESC, h.title, h.product_id), '[]')
     FROM (SELECT product_id, max(product_title) AS title, count(*) AS paid_orders, sum(quantity) AS quantity
           FROM paid GROUP BY product_id
           ORDER BY count(*) DESC, max(product_title), product_id LIMIT :hot) h) AS hot_products,
    (SELECT COALESCE(json_agg(json_build_object('currency', currency, 'status', status, 'refunds', n,
                                                'amount', amount) ORDER BY currency, status), '[]')
     FROM (SELECT currency, status, count(*) AS n, sum(amount) AS amount
           FROM asked GROUP BY currency, status) r
    ) AS refunds,
    (SELECT COALESCE(json_agg(json_build_object('shop_id', shop_id, 'currency', currency, 'amount', amount)
                              ORDER BY shop_id, currency), '[]')
     FROM (SELECT shop_id, currency, sum(amount) AS amount FROM paid GROUP BY shop_id, currency) g
    ) AS gmv_by_shop
"""
FIGURES = text(FIGURES_SQL)
#: The same figures over every shop (the platform console's): the statement without its shop filter. It
#: reads the period's orders by their times alone (no index leads with them: a scan, for staff only).
PLATFORM_FIGURES = text(
    FIGURES_SQL.replace("o.shop_id = :shop AND ", "").replace("r.shop_id = :shop AND ", "")
)
assert ":shop" not in str(PLATFORM_FIGURES)


@dataclass(frozen=True)
class FigureRows:
    """What the statement grouped, as JSON values (days as ISO dates, amounts as numbers)."""

    placed_by_day: list[dict[str, Any]]
    paid_by_day: list[dict[str, Any]]
    by_status: dict[str, int]
    latency: dict[str, Any]
    hot_products: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    #: The period's paid amounts by shop and currency: what the platform's fee is taken from.
    gmv_by_shop: list[dict[str, Any]]


class ShopFigures:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def over(self, shop_id: UUID | None, period: Period) -> FigureRows:
        """The shop's figures; with no shop, the whole platform's."""
        params = {"first": period.first, "last": period.last, "tz": period.time_zone, "hot": HOT_PRODUCTS}
        statement = PLATFORM_FIGURES if shop_id is None else FIGURES
        if shop_id is not None:
            params["shop"] = shop_id
        row = (await self._session.execute(statement, params)).one()
        return FigureRows(**row._mapping)
