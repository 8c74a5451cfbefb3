"""The Redis windows when Redis is away: the decision waits (Unavailable, which the consumer parks on its
retry topic) instead of approving an order unchecked or refusing it for an outage."""

from __future__ import annotations

import pytest
from faka_common.errors import Unavailable
from risk.adapters.counters import RedisCounters
from risk.domain.rules import Counter

pytestmark = pytest.mark.integration


async def test_an_unreachable_redis_makes_the_check_and_the_release_wait_rather_than_decide() -> None:
    counters = RedisCounters("redis://127.0.0.1:9/0", timeout=0.2)  # nothing listens on the discard port
    try:
        with pytest.raises(Unavailable, match="unreachable"):
            await counters.take([Counter("velocity:x", 60, 5)], "order-1", 0)
        with pytest.raises(Unavailable, match="unreachable"):
            await counters.release_many([(["unpaid:x"], "order-1")])
    finally:
        await counters.aclose()
