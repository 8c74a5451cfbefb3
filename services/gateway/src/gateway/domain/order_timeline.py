"""One order's timeline for the seller: what the order service recorded (transitions with their triggers,
payments, payments set aside for a refund, refunds, its release for delivery) and what delivery did (its
attempts), as one list in the order things happened. Each entry names its kind and what caused it."""

from __future__ import annotations

from typing import Any

#: Who or what moves an order along each trigger of the order service's state machine.
TRIGGER_CAUSES = {
    "approve": "risk",
    "review": "risk",
    "reject": "risk",
    "stock_reserved": "inventory",
    "stock_unavailable": "inventory",
    "keys_allocated": "inventory",
    "allocation_failed": "inventory",
    "pay": "payment",
    "expire": "payment_window",
    "cancel": "buyer",
    "delivered": "delivery",
    "delivery_failed": "delivery",
    "complete": "delivery",
    "refund": "refund",
    "refund_partially": "refund",
}


def timeline(history: dict[str, Any], delivery: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every entry of the order's history and of its delivery's attempts, oldest first (ties keep the order
    they were recorded in: a transition before the payment it came with)."""
    entries: list[dict[str, Any]] = []
    for step in history.get("transitions") or []:
        cause = "buyer" if step.get("from_state") is None else TRIGGER_CAUSES.get(str(step.get("trigger")))
        entries.append({"kind": "transition", **step, "cause": cause or "system"})
    for payment in history.get("payments") or []:
        entries.append({"kind": "payment", "at": payment.get("received_at"), **payment, "cause": "payment"})
    for set_aside in history.get("payment_exceptions") or []:
        entry = {"kind": "payment_set_aside", "at": set_aside.get("received_at"), **set_aside}
        entries.append({**entry, "cause": "payment"})
    for refund in history.get("refunds") or []:
        entries.append({"kind": "refund", "at": refund.get("requested_at"), **refund, "cause": "refund"})
    for release in history.get("releases") or []:
        entries.append({"kind": "release", "at": release.get("released_at"), **release, "cause": "release"})
    for attempt in (delivery or {}).get("attempt_log") or []:
        entry = {"kind": "delivery_attempt", "at": attempt.get("started_at"), **attempt}
        entries.append({**entry, "cause": "delivery"})
    return sorted(entries, key=lambda entry: str(entry.get("at") or ""))
