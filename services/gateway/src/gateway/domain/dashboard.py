"""The seller's dashboard as the gateway shapes it: which products are low on stock, and the daily series as
CSV."""

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
