"""Circuit breakers shared through the real Redis at REDIS_URL: two factories play two replicas of one
service; failures seen by either add up, the opened breaker refuses both, then half-opens and closes. A
replica keeps a healthy breaker for `fresh_seconds`: others' opening reaches it that much later, its own
changes at once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis
from faka_common.breakers import IDLE_SECONDS, breaker_factory, breaker_prefix, close_breakers, store_of
from faka_common.settings import ServiceSettings
from faka_common.testing import required_env
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

pytestmark = pytest.mark.integration

THRESHOLD = 4
TTL = 0.5
FRESH = 0.3
"""A short fresh interval for the tests of what a replica keeps."""


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


Replica = Callable[..., AsyncCircuitBreakerFactory]


@pytest.fixture
async def replica(settings: ServiceSettings) -> AsyncIterator[Replica]:
    """Makes a replica (a factory of its own) with the given `fresh_seconds` and `ttl`."""
    made: list[AsyncCircuitBreakerFactory] = []

    def make(fresh_seconds: float = 1.0, ttl: float = TTL) -> AsyncCircuitBreakerFactory:
        made.append(breaker_factory(settings, THRESHOLD, ttl, exclude=[Refused], fresh_seconds=fresh_seconds))
        return made[-1]

    try:
        yield make
    finally:
        for factory in made:
            await close_breakers(factory)
        client = redis.from_url(settings.redis_url)
        keys = [key async for key in client.scan_iter(match=f"{breaker_prefix(settings)}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def replicas(replica: Replica) -> list[AsyncCircuitBreakerFactory]:
    return [replica(), replica()]


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


async def open_behind_its_back(settings: ServiceSettings) -> None:
    """Stores the breaker as opened straight into Redis, as no repository of this process would."""
    client = redis.from_url(settings.redis_url)
    stored = {"name": "supplier-a", "threshold": THRESHOLD, "ttl": 60, "state": "opened"}
    await client.set(
        f"{breaker_prefix(settings)}supplier-a", json.dumps({**stored, "opened_at": time.time()})
    )
    await client.aclose()


async def until_opened(factory: AsyncCircuitBreakerFactory, deadline: float) -> tuple[float, int]:
    """Polls the breaker until it reads opened: when that was (time.monotonic()) and how many closed
    answers came before. Fails at `deadline`."""
    closed = 0
    while await state(factory) != "opened":
        closed += 1
        assert time.monotonic() < deadline, "the replica never saw the breaker opened"
        await asyncio.sleep(0.01)
    return time.monotonic(), closed


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
    # through `one`, which reads Redis: `two` read closed with no failures just above and keeps that
    assert await state(one) == "closed", "closing resets the shared failure count"

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


async def test_a_healthy_breaker_is_read_from_redis_at_most_once_per_fresh_interval(
    replica: Replica, settings: ServiceSettings
) -> None:
    one = replica(fresh_seconds=FRESH)
    await succeed(one)  # creates the breaker
    read_at = time.monotonic()
    assert await state(one) == "closed"  # read from Redis and kept: closed, no failures

    await open_behind_its_back(settings)
    seen_at, closed = await until_opened(one, deadline=read_at + FRESH + 2)

    assert closed >= 1, "right after the change the replica still answers what it kept"
    assert seen_at - read_at >= FRESH, "nothing is read from Redis within the fresh interval"


async def test_another_replicas_opening_is_seen_within_the_fresh_interval(replica: Replica) -> None:
    one, two = replica(fresh_seconds=FRESH, ttl=60), replica(fresh_seconds=FRESH, ttl=60)
    await succeed(one)
    read_at = time.monotonic()
    assert await state(one) == "closed"  # kept by `one`

    for _ in range(THRESHOLD):
        await fail(two)
    assert await state(two) == "opened"
    await until_opened(one, deadline=read_at + FRESH + 0.25)

    breaker = await one.get_breaker("supplier-a")
    with pytest.raises(OpenedState):
        async with breaker:
            pytest.fail("once seen opened, the breaker must refuse this replica's calls too")


async def test_a_replicas_own_failures_are_seen_by_it_at_once_whatever_the_fresh_interval(
    replica: Replica,
) -> None:
    one = replica(fresh_seconds=60)
    await succeed(one)
    assert await state(one) == "closed"  # kept for a minute

    for counted in range(1, THRESHOLD):
        await fail(one)
        breaker = await one.get_breaker("supplier-a")
        assert (breaker.context.state, breaker.context.failure_count) == ("closed", counted)
    await fail(one)  # the THRESHOLD-th

    assert await state(one) == "opened"
    breaker = await one.get_breaker("supplier-a")
    with pytest.raises(OpenedState):
        async with breaker:
            pytest.fail("an open breaker must not run the call")


async def test_fresh_seconds_zero_reads_redis_every_time(replica: Replica, settings: ServiceSettings) -> None:
    one = replica(fresh_seconds=0)
    await succeed(one)
    assert await state(one) == "closed"

    await open_behind_its_back(settings)

    assert await state(one) == "opened"


def test_redis_only_when_redis_url_is_set_or_asked_for() -> None:
    assert store_of(ServiceSettings(service_name="x", redis_url="redis://h:1/0")) == "redis"
    assert store_of(ServiceSettings(service_name="x", redis_url="redis://h:1/0"), "memory") == "memory"
    without = ServiceSettings.model_construct(service_name="x")
    assert store_of(without) == "memory"
    factory = breaker_factory(without, 3, 1)
    assert type(factory.uow).__name__ == "AsyncInMemoryUnitOfWork"


async def test_a_reset_failure_count_expires_when_idle_like_the_breaker(
    replicas: list[AsyncCircuitBreakerFactory], settings: ServiceSettings
) -> None:
    one, _ = replicas
    await fail(one)
    await succeed(one)  # closed with a failure counted: the success resets the count

    client = redis.from_url(settings.redis_url)
    try:
        key = f"{breaker_prefix(settings)}supplier-a::failure_count"
        assert await client.get(key) == b"0"
        assert 0 < await client.ttl(key) <= IDLE_SECONDS
    finally:
        await client.aclose()
