"""What a seller asks of a shop's orders: a search and the keyset cursor that pages it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from faka_common.errors import DomainError

MAX_PAGE = 100


class BadCursor(DomainError):
    status_code = 422
    code = "invalid_cursor"


@dataclass(frozen=True)
class OrderSearch:
    """`text` is an order number, a buyer's e-mail (any case) or a payment's trade number; the page holds the
    orders created before `after` (created_at, id of the last one shown), newest first."""

    text: str | None = None
    statuses: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_before: datetime | None = None
    after: tuple[datetime, UUID] | None = None
    limit: int = 50


def cursor(created_at: datetime, order_id: UUID) -> str:
    """The opaque key of an order in the newest-first list: where the next page starts."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{order_id}".encode()).decode().rstrip("=")


def after_cursor(value: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        at, order_id = raw.split("|")
        when, found = datetime.fromisoformat(at), UUID(order_id)
        if when.tzinfo is None:
            raise ValueError("no zone")
        # in UTC here: a time the database cannot take (before year 1 in UTC) is this cursor's fault
        return when.astimezone(UTC), found
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise BadCursor("after: not a cursor this list gave (use next_cursor as it came)") from None
