"""How the commission service's consumer is fed: nobody waits on a commission in a sale, so Kafka may hold
its fetches to gather deliveries (`CONSUMER_GATHER_MS`) instead of waking it for each one."""

from __future__ import annotations

from commission.bootstrap import bootstrap
from commission.config import Settings
from faka_common.testing import fed_consumer


async def gathered_for(settings: Settings) -> float:
    return float((await fed_consumer(bootstrap(settings))).gather)


async def test_the_consumer_gathers_deliveries_for_a_fifth_of_a_second_by_default() -> None:
    assert await gathered_for(Settings(run_migrations=False)) == 0.2


async def test_the_gather_is_a_setting_and_zero_answers_at_the_first_record() -> None:
    assert await gathered_for(Settings(run_migrations=False, consumer_gather_ms=0)) == 0.0
    assert await gathered_for(Settings(run_migrations=False, consumer_gather_ms=50)) == 0.05
