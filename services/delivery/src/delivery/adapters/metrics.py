"""The delivery's metrics: supplier attempts by supplier, phase and outcome, suppliers' circuit breakers,
deliveries sent to the manual queue by mode and reason, buyers' tickets by category and level, suppliers
paused by their claim rate. (Deliveries by mode and outcome are the order's `faka_order_fulfilments_total`:
the order sees both ends of every mode.)"""

from __future__ import annotations

from faka_common.contracts.delivery import DeliveryDelayed, DeliveryNeedsAttention
from faka_common.contracts.quality import SupplierPaused
from faka_common.metrics import BoundedLabel, on_committed, shop_label
from prometheus_client import Counter, Gauge, Histogram
from purgatory import AsyncCircuitBreakerFactory

from delivery.adapters.deliveries import Attempt

#: Suppliers are configured by shops (a handful each): past 500 in one process the rest are `other`.
supplier_label = BoundedLabel(500)

SUPPLIER_ATTEMPTS = Counter(
    "faka_supplier_attempts_total",
    "Finished calls to a supplier (submit or status query) by outcome: succeeded, transient, permanent, ...",
    ["supplier", "phase", "outcome"],
)
SUPPLIER_LATENCY = Histogram(
    "faka_supplier_call_seconds",
    "How long a supplier took to answer a call",
    ["phase"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
SUPPLIER_BREAKER_OPEN = Gauge(
    "faka_supplier_breaker_open",
    "1 after this replica saw the supplier's circuit breaker open, 0 after it saw it close (the state "
    "itself is shared by every replica in Redis)",
    ["supplier"],
)
ATTENTION = Counter(
    "faka_delivery_attention_total",
    "Deliveries sent to the manual queue, by mode and reason",
    ["mode", "reason"],
)
TICKETS = Counter(
    "faka_tickets_opened_total",
    "Buyers' tickets opened, by category and level (L1: a key replacement was asked; L2: the shop answers)",
    ["category", "level"],
)
SUPPLIERS_PAUSED = Counter(
    "faka_suppliers_paused_total",
    "Suppliers paused because their claim rate passed the shop's pause threshold (no new routes until an "
    "operator resumes them), by shop",
    ["shop"],
)
#: Currencies are a handful; the bound only guards against a shop inventing codes.
currency_label = BoundedLabel(50)
LEDGER_ENTRIES = Gauge(
    "faka_supplier_ledger_entries",
    "Entries booked in the suppliers' ledgers (deposits, claim deductions), by kind and currency, as the "
    "database holds them (read every ledger_sample_seconds; the same on every replica)",
    ["kind", "currency"],
)
LEDGER_AMOUNT = Gauge(
    "faka_supplier_ledger_amount",
    "The sum of those entries in minor units (deposits positive, claim deductions negative), by kind and "
    "currency",
    ["kind", "currency"],
)
DELAYED = Counter(
    "faka_delivery_delayed_total", "Paid deliveries the SLA watchdog found overdue (sent to the manual queue)"
)


def count_attempt(attempt: Attempt) -> None:
    """An attempt whose outcome was just committed."""
    supplier = supplier_label(attempt.supplier_id) if attempt.supplier_id else "none"
    SUPPLIER_ATTEMPTS.labels(supplier, attempt.phase, attempt.outcome).inc()
    if attempt.latency_ms is not None:
        SUPPLIER_LATENCY.labels(attempt.phase).observe(attempt.latency_ms / 1000)


def watch_breakers(factory: AsyncCircuitBreakerFactory) -> None:
    """Follow the suppliers' breakers (named by supplier id) into SUPPLIER_BREAKER_OPEN."""

    def on_event(name: str, kind: str, event: object) -> None:
        if kind == "state_changed":
            SUPPLIER_BREAKER_OPEN.labels(supplier_label(name)).set(getattr(event, "state", "") == "opened")

    factory.add_listener(on_event)


def show_ledger(totals: list[tuple[str, str, int, int]]) -> None:
    """The ledger totals just read: (kind, currency, entries, amount)."""
    for kind, currency, entries, amount in totals:
        LEDGER_ENTRIES.labels(kind, currency_label(currency)).set(entries)
        LEDGER_AMOUNT.labels(kind, currency_label(currency)).set(amount)


def count_ticket(category: str, level: str) -> None:
    """A ticket whose opening was just committed."""
    TICKETS.labels(category, level).inc()


@on_committed(DeliveryNeedsAttention)
def _needs_attention(event: DeliveryNeedsAttention) -> None:
    ATTENTION.labels(event.mode, event.reason).inc()


@on_committed(DeliveryDelayed)
def _delayed(event: DeliveryDelayed) -> None:
    DELAYED.inc()


@on_committed(SupplierPaused)
def _supplier_paused(event: SupplierPaused) -> None:
    SUPPLIERS_PAUSED.labels(shop_label(event.shop_id)).inc()
