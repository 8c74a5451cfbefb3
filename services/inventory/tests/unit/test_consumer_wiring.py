"""How inventory's consumer is fed: its delivery events (mostly quality counts nobody waits on) may wait in
their lane to share a transaction (`DELIVERY_EVENTS_LINGER_MS`); its order events, on the buyer's path,
never wait."""

from __future__ import annotations

from faka_common.contracts import topics
from faka_common.testing import fed_consumer
from inventory.bootstrap import bootstrap
from inventory.config import Settings


async def linger_of(settings: Settings) -> dict[str, float]:
    return dict((await fed_consumer(bootstrap(settings))).linger)


async def test_delivery_events_linger_a_fifth_of_a_second_by_default_and_order_events_not_at_all() -> None:
    linger = await linger_of(Settings(run_migrations=False))
    assert linger == {topics.DELIVERY_EVENTS: 0.2}
    assert linger.get(topics.ORDER_EVENTS, 0.0) == 0.0


async def test_the_linger_is_a_setting_and_zero_takes_each_batch_at_once() -> None:
    assert await linger_of(Settings(run_migrations=False, delivery_events_linger_ms=0)) == {
        topics.DELIVERY_EVENTS: 0.0
    }
    assert await linger_of(Settings(run_migrations=False, delivery_events_linger_ms=50)) == {
        topics.DELIVERY_EVENTS: 0.05
    }
