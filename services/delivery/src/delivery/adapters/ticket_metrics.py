"""The tickets' SLA metrics: tickets found overdue and tickets escalated to the platform (counted once their
transaction committed), and the open overdue tickets by level as the last sweep counted them (every
replica counts the same rows: alert on the max, not the sum)."""

from __future__ import annotations

from faka_common.contracts.tickets import TicketEscalated, TicketOverdue
from faka_common.metrics import on_committed
from prometheus_client import Counter, Gauge

TICKETS_OVERDUE = Counter(
    "faka_tickets_overdue_total",
    "Tickets that passed an SLA deadline while waiting for their support, by level and deadline",
    ["level", "deadline"],
)
TICKETS_ESCALATED = Counter(
    "faka_tickets_escalated_total",
    "Tickets sent to the platform (L3), by who sent them: buyer, shop, or system (the shop's deadlines)",
    ["by"],
)
OVERDUE_OPEN = Gauge(
    "faka_tickets_overdue_open",
    "Open tickets past an SLA deadline, by level, as this replica's last sweep counted them (all shops)",
    ["level"],
)
LEVELS = ("L2", "L3")


def count_overdue_open(counts: dict[str, int]) -> None:
    for level in LEVELS:
        OVERDUE_OPEN.labels(level).set(counts.get(level, 0))


@on_committed(TicketOverdue)
def _overdue(event: TicketOverdue) -> None:
    TICKETS_OVERDUE.labels(event.level, event.deadline).inc()


@on_committed(TicketEscalated)
def _escalated(event: TicketEscalated) -> None:
    TICKETS_ESCALATED.labels(event.by).inc()
