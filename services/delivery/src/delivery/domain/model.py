"""A delivery: what an order received, decided from the keys inventory allocated to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

Status = Literal["succeeded", "failed"]

LOOP_KEY = "loop_key"


@dataclass(frozen=True)
class Outcome:
    status: Status
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


@dataclass(frozen=True)
class Delivery:
    id: UUID
    order_id: UUID
    mode: str
    item_count: int
    status: Status
    attempts: int
    created_at: datetime
    completed_at: datetime | None
    latency_ms: int | None
    reason: str | None = None


def latency_ms(started: datetime, completed: datetime) -> int:
    return max(0, round((completed - started).total_seconds() * 1000))
