"""The seller's dashboard: the order service's figures of the shop over the last days (one request) with the
inventory's low stock (one request), asked together; the platform console's: every shop's figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from gateway.adapters.owners import json_body, served_shop
from gateway.bootstrap import Gateway
from gateway.domain.dashboard import delivery_rows, fees_and_net, low_stock

#: Where the dashboard cuts its days. Shops have no time zone of their own yet; when they get one, it goes
#: here for the shop (the order service cuts days in any IANA zone it is given).
TIME_ZONE = "UTC"


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def period(days: int, now: datetime | None = None) -> dict[str, str]:
    """The `days` days up to today (included), as the order service's figures take them."""
    last = today(now)
    first = last - timedelta(days=days - 1)
    return {"first": first.isoformat(), "last": last.isoformat(), "tz": TIME_ZONE}


async def platform_figures(gw: Gateway, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Every shop's figures together (the platform console's): the dashboard's, without low stock."""
    answer = await gw.order.request(
        "GET", "/internal/platform-figures", platform=True, params=period(days, now)
    )
    found: dict[str, Any] = json_body(answer)
    shop_ids = sorted({str(row["shop_id"]) for row in found.get("gmv_by_shop", [])})
    fees = fees_and_net(found.get("gmv_by_shop", []), await fee_rates(gw, shop_ids))
    return {**found, **fees, "today": found["days"][-1], "low_stock": None}


async def delivery_figures(gw: Gateway, days: int, now: datetime | None = None) -> dict[str, Any]:
    """The shop's delivery success over the `days` days up to today: the delivery service's figures and
    the one table the dashboard and its CSV show."""
    answer = await gw.delivery.request("GET", "/internal/delivery-figures", params=period(days, now))
    found: dict[str, Any] = json_body(answer)
    return {**found, "rows": delivery_rows(found)}


#: Shops a call to merchant's fee rates names (its limit): one call for up to this many selling shops.
FEE_RATES_PER_CALL = 200


async def fee_rates(gw: Gateway, shop_ids: list[str]) -> dict[str, int]:
    """Each shop's fee rate in basis points (the one the platform set, else the platform's default), asked of
    merchant for up to FEE_RATES_PER_CALL shops a call, the calls together."""
    chunks = [shop_ids[i : i + FEE_RATES_PER_CALL] for i in range(0, len(shop_ids), FEE_RATES_PER_CALL)]
    answers = await asyncio.gather(
        *(gw.merchant.request("GET", "/internal/shops/fee-rates", params={"shop_id": c}) for c in chunks)
    )
    set_rates = {item["shop_id"]: item["fee_rate_bps"] for a in answers for item in json_body(a)["items"]}
    default = gw.settings.default_fee_rate_bps
    return {shop: default if set_rates.get(shop) is None else set_rates[shop] for shop in shop_ids}


async def fee_rate(gw: Gateway, shop_id: UUID) -> int:
    """The shop's fee rate in basis points: the one the platform set, else the platform's default."""
    shop = await gw.shops.by_id(shop_id)
    return gw.settings.default_fee_rate_bps if shop.fee_rate_bps is None else shop.fee_rate_bps


async def dashboard(
    gw: Gateway, days: int, with_stock: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    """The shop's figures for the `days` days up to today (included): each day, the period's totals, orders
    by status, latency, hot products, refunds; `today` is the series' last day; `low_stock` the products
    at or under their threshold (None without `with_stock`: the inventory is not asked)."""
    asked = [gw.order.request("GET", "/internal/shop-figures", params=period(days, now))]
    if with_stock:
        asked.append(gw.inventory.request("GET", "/internal/products"))
    answers = await asyncio.gather(*asked)
    found: dict[str, Any] = json_body(answers[0])
    low = low_stock(json_body(answers[1]).get("items", [])) if with_stock else None
    shop_id = served_shop.get().shop_id
    rate = await fee_rate(gw, shop_id)
    fees = fees_and_net(found.get("gmv_by_shop", []), {str(shop_id): rate})
    return {**found, **fees, "fee_rate_bps": rate, "today": found["days"][-1], "low_stock": low}
