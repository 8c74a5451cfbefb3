"""The seller's dashboard as the gateway shapes it: which products are low on stock, the platform's fees and
what is left of the sales (net), and the daily series as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.domain.views import LOW_STOCK, format_amount


def low_stock(products: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The active products with a finite stock at or under their low-stock threshold (the shop's own, else
    the storefront's LOW_STOCK), fewest left first."""
    low = []
    for product in products:
        available = (product.get("stock") or {}).get("available")
        threshold = product.get("low_stock_threshold")
        limit = LOW_STOCK if threshold is None else int(threshold)
        if product.get("active", True) and available is not None and int(available) <= limit:
            low.append({"product_id": product["product_id"], "title": product["title"],
                        "available": int(available), "threshold": limit})  # fmt: skip
    return sorted(low, key=lambda item: (item["available"], item["title"]))


#: A fee rate's unit: a basis point is 1/10,000 of an amount.
BASIS = 10_000


def fee_of(amount: int, rate_bps: int) -> int:
    """The platform's fee on `amount` minor units at `rate_bps`, to the nearest minor unit (a half up)."""
    return (amount * rate_bps + BASIS // 2) // BASIS


def fees_and_net(gmv_by_shop: Iterable[Mapping[str, Any]], rate_of: Mapping[str, int]) -> dict[str, Any]:
    """The period's fees and net sales by currency: each shop's paid amounts at its own rate (`rate_of`,
    by shop id), summed after rounding, so a shop's fee is the same in its own figures and the platform's."""
    gmv: dict[str, int] = {}
    fees: dict[str, int] = {}
    for row in gmv_by_shop:
        currency, amount = str(row["currency"]), int(row["amount"])
        gmv[currency] = gmv.get(currency, 0) + amount
        fees[currency] = fees.get(currency, 0) + fee_of(amount, rate_of[str(row["shop_id"])])
    return {
        "fees": dict(sorted(fees.items())),
        "net": {currency: gmv[currency] - fees[currency] for currency in sorted(gmv)},
    }


def daily_csv(days: Iterable[Mapping[str, Any]]) -> str:
    """day, orders, paid_orders and one gmv_<currency> column (major units) for each currency sold in the
    period; a day without sales in a currency is 0 there."""
    rows = list(days)
    currencies = sorted({currency for day in rows for currency in day["gmv"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["day", "orders", "paid_orders", *(f"gmv_{currency}" for currency in currencies)])
    for day in rows:
        gmv = [format_amount(int(day["gmv"].get(c, 0)), c).rsplit(" ", 1)[0] for c in currencies]
        writer.writerow([day["day"], day["orders"], day["paid_orders"], *gmv])
    return out.getvalue()


#: The delivery figures' groups, in the order the dashboard shows them.
DELIVERY_GROUPS = (("mode", "by_mode", "deliveries"), ("channel", "by_channel", "attempts"),
                   ("supplier", "by_supplier", "attempts"))  # fmt: skip
DELIVERY_COLUMNS = ("group", "name", "total", "succeeded", "failed", "success_rate")


def delivery_rows(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Delivery success as one table: a row per mode (deliveries), channel and supplier (attempts), each
    with its success rate among the finished ones (None when none finished)."""
    rows = []
    for group, key, counted in DELIVERY_GROUPS:
        for found in figures.get(key, []):
            succeeded, failed = int(found["succeeded"]), int(found["failed"])
            finished = succeeded + failed
            rows.append({
                "group": group,
                "name": str(found.get(group) or found.get("name") or found.get("supplier_id")),
                "total": int(found[counted]),
                "succeeded": succeeded,
                "failed": failed,
                "success_rate": round(succeeded / finished, 4) if finished else None,
            })  # fmt: skip
    return rows


def delivery_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The delivery success table as CSV: group, name, total, succeeded, failed, success_rate (0-1)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(DELIVERY_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in DELIVERY_COLUMNS])
    return out.getvalue()
