"""Circuit breakers shared through the real Redis at REDIS_URL: two factories play two replicas of one
service; failures seen by either add up, the opened breaker refuses both, then half-opens and closes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from faka_common.breakers import breaker_factory, breaker_prefix, close_breakers, store_of
from faka_common.settings import ServiceSettings
from faka_common.testing import required_env
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

pytestmark = pytest.mark.integration

THRESHOLD = 4
TTL = 0.5


class Down(Exception):
    """The protected call failed in a way that counts."""


class Refused(Exception):
    """The protected call was refused for a reason that says nothing about the upstream."""


def redis_url() -> str:
    return required_env("REDIS_URL", "redis://127.0.0.1:16379/0")


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings(
        service_name="breakertest", redis_url=redis_url(), kafka_namespace=f"t{uuid.uuid4().hex}."
    )


@pytest.fixture
async def replicas(settings: ServiceSettings) -> AsyncIterator[list[AsyncCircuitBreakerFactory]]:
    made = [breaker_factory(settings, THRESHOLD, TTL, exclude=[Refused]) for _ in range(2)]
    try:
        yield made
    finally:
        for factory in made:
            await close_breakers(factory)
        client = redis.from_url(settings.redis_url)
        keys = [key async for key in client.scan_iter(match=f"{breaker_prefix(settings)}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def fail(factory: AsyncCircuitBreakerFactory, error: Exception | None = None) -> None:
    breaker = await factory.get_breaker("supplier-a")
    with pytest.raises(type(error or Down())):
        async with breaker:
            raise error or Down()


async def succeed(factory: AsyncCircuitBreakerFactory) -> None:
    breaker = await factory.get_breaker("supplier-a")
    async with breaker:
        pass


async def state(factory: AsyncCircuitBreakerFactory) -> str:
    return str((await factory.get_breaker("supplier-a")).context.state)


async def test_failures_through_one_replica_open_the_breaker_the_other_sees_then_it_half_opens_and_closes(
    replicas: list[AsyncCircuitBreakerFactory], settings: ServiceSettings
) -> None:
    one, two = replicas
    await fail(one, Refused())  # not the upstream's fault: does not count
    await fail(one)
    await fail(two)
    await fail(one)
    assert await state(two) == "closed"
    await fail(two)  # the fourth counted failure, split over both replicas

    assert await state(one) == "opened" and await state(two) == "opened"
    opened_at = time.monotonic()
    for replica in (one, two):
        breaker = await replica.get_breaker("supplier-a")
        with pytest.raises(OpenedState):
            async with breaker:
                pytest.fail("an open breaker must not run the call")

    await asyncio.sleep(max(0.0, TTL + 0.1 - (time.monotonic() - opened_at)))
    await succeed(two)  # half-open: one probe goes through and closes it for everyone
    assert await state(one) == "closed" and await state(two) == "closed"
    for _ in range(THRESHOLD - 1):
        await fail(one)
    assert await state(two) == "closed", "closing resets the shared failure count"

    keys = {key.decode() async for key in one.uow.contexts.redis.scan_iter(match="*supplier-a*")}  # type: ignore[attr-defined]
    assert f"{breaker_prefix(settings)}supplier-a" in keys


async def test_a_failure_in_half_open_reopens_for_every_replica(
    replicas: list[AsyncCircuitBreakerFactory],
) -> None:
    one, two = replicas
    for replica in (one, two, one, two):
        await fail(replica)
    assert await state(two) == "opened"
    await asyncio.sleep(TTL + 0.1)

    await fail(one)  # the probe fails: open again, for the full TTL

    breaker = await two.get_breaker("supplier-a")
    with pytest.raises(OpenedState):
        async with breaker:
            pytest.fail("reopened: the other replica must be refused too")


async def test_concurrent_failures_on_both_replicas_add_up(
    replicas: list[AsyncCircuitBreakerFactory],
) -> None:
    one, two = replicas
    # both replicas read the count before either writes: the shared INCR still counts every failure
    breakers = [await r.get_breaker("supplier-a") for r in (one, two, one, two)]

    async def failing(breaker: object) -> None:
        with pytest.raises(Down):
            async with breaker:  # type: ignore[attr-defined]
                raise Down()

    await asyncio.gather(*(failing(b) for b in breakers))
    assert await state(one) == "opened" and await state(two) == "opened"


async def test_two_namespaces_on_one_redis_do_not_share_a_breaker(
    replicas: list[AsyncCircuitBreakerFactory], settings: ServiceSettings
) -> None:
    other_run = ServiceSettings(
        service_name="breakertest", redis_url=settings.redis_url, kafka_namespace=f"t{uuid.uuid4().hex}."
    )
    other = breaker_factory(other_run, THRESHOLD, TTL)
    try:
        for _ in range(THRESHOLD):
            await fail(replicas[0])
        assert await state(replicas[1]) == "opened"
        assert await state(other) == "closed"
    finally:
        await close_breakers(other)
        client = redis.from_url(settings.redis_url)
        keys = [key async for key in client.scan_iter(match=f"{breaker_prefix(other_run)}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def test_redis_only_when_redis_url_is_set_or_asked_for() -> None:
    assert store_of(ServiceSettings(service_name="x", redis_url="redis://h:1/0")) == "redis"
    assert store_of(ServiceSettings(service_name="x", redis_url="redis://h:1/0"), "memory") == "memory"
    without = ServiceSettings.model_construct(service_name="x")
    assert store_of(without) == "memory"
    factory = breaker_factory(without, 3, 1)
    assert type(factory.uow).__name__ == "AsyncInMemoryUnitOfWork"
