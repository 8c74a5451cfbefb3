"""Order status changes on Redis pub/sub: the order service announces each committed change, the gateway
pushes it to the buyers watching that order's page. Channel `<namespace>order:changed:<order_no>`, payload
the new status, and for a payment the time it was paid: `paid 2026-12-03T06:00:00.123456+00:00` (nothing
secret: whatever else the page shows, the gateway reads with the buyer's secret). A payload of the status
alone (an announcer before the time was carried) reads as the status with no time."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


def changed_channel(prefix: str, order_no: str) -> str:
    return f"{prefix}order:changed:{order_no}"


class Announced(NamedTuple):
    status: str
    paid_at: str | None = None
    """ISO 8601, announced with the move to paid (the only fact the order page gains then)."""


def announcement(status: str, paid_at: datetime | None = None) -> str:
    """The payload announcing `status` (`paid_at`: only with the move to paid)."""
    return f"{status} {paid_at.isoformat()}" if status == "paid" and paid_at is not None else status


def read_announcement(payload: str) -> Announced:
    status, _, at = payload.partition(" ")
    return Announced(status, at or None)
