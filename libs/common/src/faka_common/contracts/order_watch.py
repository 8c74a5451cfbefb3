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
reads as the status with nothing else, and the page reads the order.

The order page, kept (`page_key`, a Redis hash, for `PAGE_SECONDS` after the order was placed): the order
service keeps there the view of the order its placement's token opens (`OPENED`, sealed by `seal`: the
token itself is not in it, only its SHA-256) and, from each announcement since, the announcement under its
status. A buyer's page opened right after the placement (the usual case: the storefront opens it with the
placement's answer) starts from it, the gateway applying the moves as its stream applies announcements,
instead of asking the order service for the order. Another token, an expired page or a move the stream
cannot tell reads the order as before. Rotating the order's tokens deletes the page."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple


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


#: How long a placed order's page is kept (`page_key`): a buyer's page opens within moments of the placement.
PAGE_SECONDS = 120
#: The page's field holding the order's view as its placement's token opens it (`seal`).
OPENED = "opened"
#: What stands for the token in a sealed view: a NUL in JSON's notation, which no string the order service
#: keeps can hold (Postgres text cannot), so the mark is never part of the order's own data.
_TOKEN_MARK = "\\u0000token\\u0000"
#: Moves a page may hold, in the order a sale makes them: applied in that order (`page_moves`).
SALE_ORDER = ("review", "reserving", "awaiting_payment", "paid", "fulfilling", "delivered")

#: Sets an announcement into the order's page, if the page is kept, and publishes it: one round trip and
#: one atomic step, so a watcher that subscribed before it read the page misses neither.
ANNOUNCE_SCRIPT = """
if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) end
return redis.call('publish', ARGV[3], ARGV[2])
"""
"""KEYS[1]: the page (`page_key`); ARGV: the status, the announcement, the channel (`changed_channel`)."""


def page_key(prefix: str, order_no: str) -> str:
    return f"{prefix}order:page:{order_no}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seal(view: Mapping[str, Any], token: str) -> str | None:
    """The page's `OPENED` field: the token's SHA-256, then the view as JSON with the token, wherever it
    is in it (a payment link holds it), replaced by a mark. None if the token cannot be taken out (never
    kept then: a reader of Redis must not find a token that opens the order)."""
    text = json.dumps(view, separators=(",", ":")).replace(token, _TOKEN_MARK)
    if not token or token in text:
        return None
    return f"{_digest(token)} {text}"


def opened_view(page: Mapping[str, str], token: str) -> dict[str, Any] | None:
    """The view a page keeps for the holder of `token`, the token put back where it was; None when the page
    keeps none or was kept for another token."""
    digest, _, text = page.get(OPENED, "").partition(" ")
    if not text or not hmac.compare_digest(digest, _digest(token)):
        return None
    view = json.loads(text.replace(_TOKEN_MARK, token))
    return view if isinstance(view, dict) else None


def page_moves(page: Mapping[str, str]) -> list[Announced] | None:
    """The moves announced since the page was kept, in the order a sale makes them; None when the page holds
    one no sale's order makes (the order must be read)."""
    if any(field != OPENED and field not in SALE_ORDER for field in page):
        return None
    return [read_announcement(page[status]) for status in SALE_ORDER if status in page]
