"""The order's business metrics, counted from the transitions a transaction committed: orders by state and
shop, GMV, fulfilments by mode and outcome, the time from paid to delivered, payment discrepancies, and what
the reconciler found at the providers."""

from __future__ import annotations

from collections.abc import Iterable

from faka_common.metrics import shop_label
from prometheus_client import Counter, Gauge, Histogram

from order.domain.model import Order, Status, Transition

LATE_ORDERS = Gauge(
    "faka_order_late_orders",
    "Orders of every shop waiting for their stock over LATE_AFTER_SECONDS, at this replica's last count",
)
TURNED_AWAY = Counter(
    "faka_order_placements_turned_away_total",
    "New orders turned away busy (503) because MAX_LATE_ORDERS orders were late for their stock",
)
TRANSITIONS = Counter(
    "faka_order_transitions_total",
    "Order state changes (from_state `none` is the placement); the edges of the order's state table",
    ["from_state", "to_state"],
)
SHOP_ORDERS = Counter(
    "faka_shop_orders_total",
    "Orders entering each state, per shop (the per-shop dashboard)",
    ["shop", "state"],
)
GMV = Counter(
    "faka_gmv_minor_units_total",
    "Paid order amounts in minor units (cents / 分), per shop and currency, when the order is paid",
    ["shop", "currency"],
)
FULFILMENTS = Counter(
    "faka_order_fulfilments_total",
    "Paid orders that ended delivered or delivery_failed, by how the product is fulfilled",
    ["mode", "outcome"],
)
PAID_TO_DELIVERED = Histogram(
    "faka_order_paid_to_delivered_seconds",
    "Time from an order's payment to its delivery, by how the product is fulfilled",
    ["mode"],
    # automatic modes are seconds; manual and recharge goods wait for a person or a supplier: up to a day
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
PAYMENT_DISCREPANCIES = Counter(
    "faka_payment_discrepancies_total",
    "Payments kept for a refund, not delivered on: wrong amount or currency, a second or unexpected one",
    ["reason"],
)
RECONCILED = Counter(
    "faka_reconciliation_orders_total",
    "Orders the reconciler asked a provider about: asked, completed (paid at the provider, no notification "
    "reached us) or failed (the provider could not answer)",
    ["outcome"],
)

_ENDS = {Status.DELIVERED: "delivered", Status.DELIVERY_FAILED: "delivery_failed"}


def count_transitions(moved: Iterable[tuple[Order, Transition]]) -> None:
    """Count transitions just committed; `order` is the order as it was saved in that transaction."""
    for order, step in moved:
        to_state = step.to_state
        TRANSITIONS.labels(step.from_state.value if step.from_state else "none", to_state.value).inc()
        SHOP_ORDERS.labels(shop_label(order.shop_id), to_state.value).inc()
        if to_state is Status.PAID:
            GMV.labels(shop_label(order.shop_id), order.currency).inc(order.amount)
        if to_state in _ENDS:
            FULFILMENTS.labels(order.delivery_type, _ENDS[to_state]).inc()
        if to_state is Status.DELIVERED and order.paid_at is not None:
            PAID_TO_DELIVERED.labels(order.delivery_type).observe((step.at - order.paid_at).total_seconds())


def count_discrepancy(reason: str) -> None:
    """A payment flagged for a refund (the order's status_reason), after its transaction committed."""
    PAYMENT_DISCREPANCIES.labels(reason).inc()


def count_reconciliation(asked: int, completed: int, failed: int) -> None:
    """One reconciliation round's findings (each completion was committed as it was found)."""
    RECONCILED.labels("asked").inc(asked)
    RECONCILED.labels("completed").inc(completed)
    RECONCILED.labels("failed").inc(failed)
