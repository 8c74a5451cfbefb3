"""The inventory's metrics: products crossing their low-stock threshold, per shop."""

from __future__ import annotations

from faka_common.contracts.inventory import LowStock
from faka_common.metrics import on_committed, shop_label
from prometheus_client import Counter

LOW_STOCK = Counter(
    "faka_low_stock_alerts_total",
    "Products whose available keys fell to or below their low-stock threshold (once per crossing)",
    ["shop"],
)


@on_committed(LowStock)
def _low_stock(event: LowStock) -> None:
    LOW_STOCK.labels(shop_label(event.shop_id)).inc()
