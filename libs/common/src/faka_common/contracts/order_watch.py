"""Order status changes on Redis pub/sub: the order service announces each committed change, the gateway
pushes it to the buyers watching that order's page. Channel `<namespace>order:changed:<order_no>`, payload
the new status, with what the page gains by the move when the announcement can tell it:

- the move to awaiting payment, with the end of its payment window:
  `awaiting_payment 2026-12-03T06:10:00+00:00`. The payment link and methods are not in it: the order
  service's view of the order before that move carries them (`once_awaiting_payment`), and the gateway shows
  them when the window is the one that view showed (an approval after review starts a new one);
- the move to paid, with the time it was paid: `paid 2026-12-03T06:00:00.123456+00:00`;
- the move to delivered, with the time it was delivered and the order's secret version (raised by each
  rotation of its access tokens): `delivered 2026-12-03T06:00:01.5+00:00 0`. The keys are not in it: the
  gateway reveals them, and only for a watcher whose token is still of that version (a rotated token must
  not see them).

Nothing secret rides on it. A payload of the status alone (an announcer before the time was carried)
reads as the status with nothing else, and the page reads the order."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


def changed_channel(prefix: str, order_no: str) -> str:
    return f"{prefix}order:changed:{order_no}"


class Announced(NamedTuple):
    status: str
    at: str | None = None
    """ISO 8601: when the payment window ends (a move to awaiting_payment), when it was paid (to paid) or
    delivered (to delivered)."""
    secret_version: int | None = None
    """The order's secret version at a move to delivered."""


def announcement(status: str, at: datetime | None = None, secret_version: int | None = None) -> str:
    """The payload announcing `status`; `at` tells a move to awaiting_payment, paid or delivered, and a move
    to delivered also its `secret_version` (both, or the status alone)."""
    if status in ("awaiting_payment", "paid") and at is not None:
        return f"{status} {at.isoformat()}"
    if status == "delivered" and at is not None and secret_version is not None:
        return f"delivered {at.isoformat()} {secret_version}"
    return status


def read_announcement(payload: str) -> Announced:
    status, _, rest = payload.partition(" ")
    at, _, version = rest.partition(" ")
    return Announced(status, at or None, int(version) if version.isdigit() else None)
