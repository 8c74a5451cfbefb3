"""The order search's page cursor: what a page gave comes back as the same point in UTC; anything else,
including a time the database cannot hold, is a clear BadCursor (422), never a 500."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from order.domain.history import BadCursor, after_cursor


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_comes_back_as_its_point_in_utc() -> None:
    order_id = uuid.uuid4()
    at = datetime(2026, 12, 2, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    assert after_cursor(cursor(f"{at.isoformat()}|{order_id}")) == (at.astimezone(UTC), order_id)


@pytest.mark.parametrize(
    "text",
    [
        f"0001-01-01T00:00:00+05:00|{uuid.uuid4()}",  # before year 1 once in UTC
        f"2026-12-02T10:00:00|{uuid.uuid4()}",  # no zone
        "2026-12-02T10:00:00+00:00|not-a-uuid",
        "no separator",
    ],
)
def test_a_cursor_no_page_gave_is_refused(text: str) -> None:
    with pytest.raises(BadCursor, match="not a cursor this list gave"):
        after_cursor(cursor(text))
