"""The inventory's metrics: products crossing their low-stock threshold and products low on stock now, per
shop, delivered keys replaced or refused replacement (with the refusal's reason), and products paused by their
after-sales rate."""

from __future__ import annotations

from faka_common.contracts.aftersales import KeyReplaced, KeyReplacementRefused
from faka_common.contracts.inventory import LowStock
from faka_common.contracts.quality import ProductPaused
from faka_common.db.uow import SessionFactory
from faka_common.metrics import on_committed, shop_label
from prometheus_client import Counter, Gauge
from sqlalchemy import text

LOW_STOCK = Counter(
    "faka_low_stock_alerts_total",
    "Products whose available keys fell to or below their low-stock threshold (once per crossing)",
    ["shop"],
)

LOW_STOCK_PRODUCTS = Gauge(
    "faka_low_stock_products",
    "Products at or below their low-stock threshold now (alerted and not refilled since), per shop",
    ["shop"],
)
PRODUCTS_PAUSED = Counter(
    "faka_products_paused_total",
    "Products paused because their after-sales rate passed the shop's threshold (not sold until an operator "
    "resumes them), by shop",
    ["shop"],
)
REPLACEMENTS = Counter(
    "faka_key_replacements_total",
    "Keys a buyer reported invalid: replaced, or refused with the reason (outside_window, out_of_stock, ...)",
    ["outcome", "reason"],
)


@on_committed(LowStock)
def _low_stock(event: LowStock) -> None:
    LOW_STOCK.labels(shop_label(event.shop_id)).inc()


@on_committed(KeyReplaced)
def _replaced(event: KeyReplaced) -> None:
    REPLACEMENTS.labels("replaced", "").inc()


@on_committed(KeyReplacementRefused)
def _refused(event: KeyReplacementRefused) -> None:
    REPLACEMENTS.labels("refused", event.reason).inc()


LOW_NOW = "SELECT shop_id, count(*) FROM products WHERE low_stock_alerted GROUP BY shop_id"


async def sample_low_stock(sessions: SessionFactory) -> int:
    """Set the low-stock gauge from the products table: one count per shop, once per stock fold period."""
    async with sessions() as session:
        rows = (await session.execute(text(LOW_NOW))).all()
    LOW_STOCK_PRODUCTS.clear()
    for shop_id, count in rows:
        LOW_STOCK_PRODUCTS.labels(shop_label(shop_id)).inc(count)
    return len(rows)


@on_committed(ProductPaused)
def _product_paused(event: ProductPaused) -> None:
    PRODUCTS_PAUSED.labels(shop_label(event.shop_id)).inc()
