"""A delivery: one per paid order, from payment to the buyer holding the goods; guarded transitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

Status = Literal["pending", "recharging", "manual", "succeeded", "failed", "cancelled"]

LOOP_KEY = "loop_key"
CARD_KEY = "card_key"
MANUAL = "manual"
RECHARGE = "recharge"
PENDING_MODE = "pending"

TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("pending", "recharging"),
        ("pending", "manual"),
        ("pending", "succeeded"),
        ("pending", "failed"),
        ("pending", "cancelled"),
        ("recharging", "manual"),
        ("recharging", "succeeded"),
        ("manual", "succeeded"),
        ("manual", "failed"),
    }
)
"""Every allowed (from, to) status change; anything else is a logged no-op at the handler."""


def can_move(current: str, target: str) -> bool:
    return (current, target) in TRANSITIONS


@dataclass(frozen=True)
class Outcome:
    status: Literal["succeeded", "failed"]
    item_count: int
    reason: str | None = None


def item_count(delivery_type: str, key_ids: Sequence[UUID]) -> int:
    """How many items the buyer receives: one per allocated key; a loop key (one shared key, possibly
    allocated without key ids) counts as one item."""
    if delivery_type == LOOP_KEY:
        return len(key_ids) or 1
    return len(key_ids)


def decide(delivery_type: str, key_ids: Sequence[UUID]) -> Outcome:
    """Succeeded when there is something to hand over; failed when a keyed delivery came with no keys."""
    count = item_count(delivery_type, key_ids)
    if count == 0:
        return Outcome("failed", 0, f"no keys allocated for a {delivery_type} delivery")
    return Outcome("succeeded", count)


class InvalidTransition(Exception):
    """A status change the transition table does not allow."""


class OrderOfAnotherShop(Exception):
    """A message names an order whose delivery belongs to another shop than the message's: a producer's bug
    or a forged message. Nothing changes (the consumer dead-letters it); no shop's delivery crosses over."""


@dataclass
class Delivery:
    id: UUID
    shop_id: UUID
    order_id: UUID
    mode: str
    item_count: int
    status: Status
    attempts: int
    created_at: datetime
    completed_at: datetime | None
    latency_ms: int | None
    reason: str | None = None
    product_id: UUID | None = None
    paid_at: datetime | None = None
    requested_at: datetime | None = None
    request: dict[str, Any] = field(default_factory=dict)
    next_attempt_at: datetime | None = None
    sla_alerted_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def move(self, target: Status, reason: str | None = None) -> None:
        if not can_move(self.status, target):
            raise InvalidTransition(f"delivery of order {self.order_id}: {self.status} -> {target}")
        self.status = target
        if reason is not None:
            self.reason = reason

    def complete(self, status: Literal["succeeded", "failed"], items: int, now: datetime) -> None:
        """End the delivery; latency runs from the request that started it (or its creation)."""
        self.move(status)
        self.item_count = items
        self.completed_at = now
        self.latency_ms = latency_ms(self.requested_at or self.created_at, now)


def latency_ms(started: datetime, completed: datetime) -> int:
    return max(0, round((completed - started).total_seconds() * 1000))
