"""The seller's dashboard figures on a real PostgreSQL: one shop's orders placed and paid per day, GMV per
currency, orders by status, paid→delivered latency, the most paid-for products and refunds, with every day
of the period in the series; another shop's orders never count, and the platform's figures count every
shop's together; days are cut in the asked time zone; a period the route cannot serve is a 422 naming what
is wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.http import SHOP_HEADER
from order.domain.model import Order

from .conftest import Db, ShopCatalog, awaiting_payment_order, order_api

pytestmark = pytest.mark.integration

SHOP, OTHER_SHOP = uuid4(), uuid4()
GAME, GIFT = uuid4(), uuid4()
DAY = date(2026, 11, 20)


@pytest.fixture
async def api(db: Db) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, ShopCatalog()) as client:
        yield client


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


async def sold(
    db: Db,
    shop: UUID,
    placed: datetime,
    amount: int = 1000,
    currency: str = "CNY",
    product: UUID = GAME,
    paid_after: timedelta | None = timedelta(minutes=1),
    delivered_after: timedelta | None = None,
    status: str = "paid",
) -> Order:
    """An order of `shop` placed then, paid `paid_after` later (None: never) and delivered
    `delivered_after` after the payment."""
    order = await awaiting_payment_order(db, amount, shop_id=shop, currency=currency, product_id=product,
                                         product_title=f"Product {str(product)[:4]}")  # fmt: skip
    paid_at = placed + paid_after if paid_after is not None else None
    delivered_at = paid_at + delivered_after if paid_at and delivered_after is not None else None
    await db.fetch(
        "UPDATE orders SET created_at = $1, paid_at = $2, delivered_at = $3, status = $4 WHERE id = $5",
        placed, paid_at, delivered_at, status if paid_at else "awaiting_payment", order.id,
    )  # fmt: skip
    return order


async def refund(db: Db, order: Order, amount: int, status: str, requested_at: datetime) -> None:
    await db.fetch(
        "INSERT INTO refunds (id, refund_no, shop_id, order_id, provider, trade_no, amount, currency, reason,"
        " status, requested_at) VALUES ($1, $2, $3, $4, 'sandbox', 'T', $5, $6, 'broken key', $7, $8)",
        uuid4(), f"R{uuid4().hex[:12]}", order.shop_id, order.id, amount, order.currency, status,
        requested_at,
    )  # fmt: skip


async def figures(api: httpx.AsyncClient, shop: UUID = SHOP, **params: Any) -> dict[str, Any]:
    answer = await api.get("/internal/shop-figures", params=params, headers={SHOP_HEADER: str(shop)})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_shops_figures_count_its_own_orders_per_day_and_never_another_shops(
    api: httpx.AsyncClient, db: Db
) -> None:
    before = DAY - timedelta(days=1)
    delivered = [
        await sold(db, SHOP, at(DAY, 9), 1000, delivered_after=timedelta(seconds=seconds))
        for seconds in (2, 4, 6, 8, 100)
    ]
    await sold(db, SHOP, at(DAY, 10), 500, product=GIFT, delivered_after=timedelta(seconds=10))
    await sold(db, SHOP, at(DAY, 11), 700, currency="USD", product=GIFT)
    await sold(db, SHOP, at(DAY, 12), 9999, paid_after=None)
    await sold(db, SHOP, at(before, 23, 50), 300, paid_after=timedelta(minutes=20))  # placed the day before
    await refund(db, delivered[0], 400, "succeeded", at(DAY, 15))
    await refund(db, delivered[1], 100, "failed", at(DAY, 16))
    other = await sold(db, OTHER_SHOP, at(DAY, 9), 123_456, delivered_after=timedelta(hours=5))
    await refund(db, other, 123_456, "succeeded", at(DAY, 10))

    found = await figures(api, first=(DAY - timedelta(days=6)).isoformat(), last=DAY.isoformat())

    assert (found["time_zone"], found["first"], found["last"]) == ("UTC", "2026-11-14", "2026-11-20")
    week = [(DAY - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    assert [d["day"] for d in found["days"]] == week
    assert found["days"][:5] == [
        {"day": (DAY - timedelta(days=n)).isoformat(), "orders": 0, "paid_orders": 0, "gmv": {}}
        for n in range(6, 1, -1)
    ]
    assert found["days"][5] == {"day": "2026-11-19", "orders": 1, "paid_orders": 0, "gmv": {}}
    assert found["days"][6] == {"day": "2026-11-20", "orders": 8, "paid_orders": 8,
                                "gmv": {"CNY": 5 * 1000 + 500 + 300, "USD": 700}}  # fmt: skip
    assert found["totals"] == {"orders": 9, "paid_orders": 8, "gmv": {"CNY": 5800, "USD": 700}}
    assert found["by_status"] == {"awaiting_payment": 1, "paid": 8}
    latency = found["delivery_latency"]
    assert latency["delivered"] == 6
    assert latency["p50_seconds"] == pytest.approx(7.0)  # of 2, 4, 6, 8, 10, 100
    assert latency["p95_seconds"] == pytest.approx(77.5)
    assert [(p["product_id"], p["paid_orders"], p["quantity"]) for p in found["hot_products"]] == [
        (str(GAME), 6, 6),
        (str(GIFT), 2, 2),
    ]
    assert found["refunds"] == [
        {"currency": "CNY", "status": "failed", "refunds": 1, "amount": 100},
        {"currency": "CNY", "status": "succeeded", "refunds": 1, "amount": 400},
    ]
    assert found["gmv_by_shop"] == [
        {"shop_id": str(SHOP), "currency": "CNY", "amount": 5800},
        {"shop_id": str(SHOP), "currency": "USD", "amount": 700},
    ]
    theirs = await figures(api, OTHER_SHOP, first=DAY.isoformat(), last=DAY.isoformat())
    assert theirs["totals"] == {"orders": 1, "paid_orders": 1, "gmv": {"CNY": 123_456}}
    assert theirs["delivery_latency"]["p50_seconds"] == pytest.approx(5 * 3600)


async def test_the_platforms_figures_count_every_shops_orders_together(
    api: httpx.AsyncClient, db: Db
) -> None:
    mine = await sold(db, SHOP, at(DAY, 9), 1000, delivered_after=timedelta(seconds=4))
    await sold(db, OTHER_SHOP, at(DAY, 10), 250, currency="USD", delivered_after=timedelta(seconds=8))
    await sold(db, OTHER_SHOP, at(DAY, 11), 999, paid_after=None)
    await refund(db, mine, 1000, "succeeded", at(DAY, 12))

    answer = await api.get(
        "/internal/platform-figures", params={"first": DAY.isoformat(), "last": DAY.isoformat()}
    )

    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["totals"] == {"orders": 3, "paid_orders": 2, "gmv": {"CNY": 1000, "USD": 250}}
    assert found["by_status"] == {"awaiting_payment": 1, "paid": 2}
    assert found["delivery_latency"]["delivered"] == 2
    assert found["refunds"] == [{"currency": "CNY", "status": "succeeded", "refunds": 1, "amount": 1000}]
    # the fee base: each shop's paid amounts apart, as each pays its own rate
    assert sorted((g["shop_id"], g["currency"], g["amount"]) for g in found["gmv_by_shop"]) == sorted(
        [(str(SHOP), "CNY", 1000), (str(OTHER_SHOP), "USD", 250)]
    )
    assert (await figures(api, SHOP, first=DAY.isoformat(), last=DAY.isoformat()))["totals"]["orders"] == 1


async def test_days_are_cut_in_the_asked_time_zone(api: httpx.AsyncClient, db: Db) -> None:
    await sold(db, SHOP, at(DAY, 17, 30))  # 01:30 on the next day in Shanghai (UTC+8)
    in_utc = await figures(api, first=DAY.isoformat(), last=(DAY + timedelta(days=1)).isoformat())
    assert [(d["day"], d["orders"]) for d in in_utc["days"]] == [("2026-11-20", 1), ("2026-11-21", 0)]
    shanghai = await figures(
        api, first=DAY.isoformat(), last=(DAY + timedelta(days=1)).isoformat(), tz="Asia/Shanghai"
    )
    assert [(d["day"], d["orders"]) for d in shanghai["days"]] == [("2026-11-20", 0), ("2026-11-21", 1)]
    assert shanghai["time_zone"] == "Asia/Shanghai"


async def test_a_period_without_sales_is_a_series_of_zeros(api: httpx.AsyncClient) -> None:
    found = await figures(api, first=DAY.isoformat(), last=DAY.isoformat())
    assert found["days"] == [{"day": "2026-11-20", "orders": 0, "paid_orders": 0, "gmv": {}}]
    assert found["by_status"] == {} and found["hot_products"] == [] and found["refunds"] == []
    assert found["delivery_latency"] == {"delivered": 0, "p50_seconds": None, "p95_seconds": None}


async def test_a_period_the_route_cannot_serve_is_a_422_naming_what_is_wrong(api: httpx.AsyncClient) -> None:
    for params, named in (
        ({"first": "2026-11-20", "last": "2026-11-19"}, "last"),
        ({"first": "2024-01-01", "last": "2026-11-19"}, "366"),
        ({"first": "2026-11-20", "last": "2026-11-20", "tz": "Mars/Olympus"}, "tz"),
        ({"first": "2026-11-20", "last": "2026-11-20", "tz": "../../etc/passwd"}, "tz"),
        ({"first": "yesterday", "last": "2026-11-20"}, "first"),
        ({"last": "2026-11-20"}, "first"),
    ):
        refused = await api.get("/internal/shop-figures", params=params, headers={SHOP_HEADER: str(SHOP)})
        assert refused.status_code == 422, (params, refused.text)
        assert named in refused.text, (params, refused.text)
