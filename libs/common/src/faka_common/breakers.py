"""Circuit breakers (purgatory) whose state every replica of a service shares through Redis, or, without
Redis, each process keeps for itself. Breaker keys are namespaced by the installation's namespace and the
service, so two installations (or two test runs) on one Redis never share a breaker. A replica keeps a
healthy breaker (closed, no failures counted) for `fresh_seconds`, a second by default, instead of reading
it from Redis for every call; see SharedBreakerRepository for what that costs."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import CLOSED, OPENED, Context, ExcludeType
from purgatory.service._async.repository import AsyncRedisRepository
from purgatory.service._async.unit_of_work import AsyncAbstractUnitOfWork
from redis.asyncio import Redis

from faka_common.settings import ServiceSettings

BreakerStore = Literal["redis", "memory"]

IDLE_SECONDS = 7 * 24 * 3600
"""A breaker nobody touched for this long is forgotten (its keys expire), stale counts with it."""


def breaker_prefix(settings: ServiceSettings) -> str:
    return f"{settings.kafka_namespace}{settings.service_name}:breaker:"


def store_of(settings: ServiceSettings, store: BreakerStore | None = None) -> BreakerStore:
    """An explicit choice wins; otherwise Redis when REDIS_URL is set (as in every deployment), memory
    when it is not (a unit test or a single process without Redis)."""
    if store is not None:
        return store
    return "redis" if "redis_url" in settings.model_fields_set else "memory"


class SharedBreakerRepository(AsyncRedisRepository):
    """purgatory's Redis repository under our prefix, with three changes: the failure count that decides
    is Redis' own (INCR is atomic, so failures seen by different replicas add up even when they race),
    the threshold and TTL are the configured ones rather than whatever the first replica stored, and a
    breaker read as closed with no failures counted is kept in this process for `fresh_seconds`.

    Every protected call reads its breaker (`get_breaker`, then `async with breaker`); read from Redis
    that is two GETs, the breaker and its failure count: 257 µs of client CPU a call, against 3 µs with
    the in-memory store (the notification service makes two such calls a sale, about 1 % of a sale's
    CPU). Kept, the healthy steady state costs no Redis round trip and about 4 µs a call. Any other
    state (opened, half-opened, failures counted, no breaker yet) is read from Redis every time, and
    every write through this repository (register, update_state, inc_failures, reset_failure) drops the
    name before and after it writes, so this process sees its own changes at once; a read that
    overlapped such a write is not kept.

    What it costs: a breaker opened by another replica is seen here up to `fresh_seconds` later, so for
    that long this replica still sends calls to an upstream the others gave up on (this replica's own
    failures are counted in Redis at once and drop what it kept, so it never misses those). And while it
    keeps a breaker, a success here does not reset failures other replicas counted in the meantime (it
    read none), so mixed results across replicas may open the breaker a little sooner. `fresh_seconds=0`
    keeps nothing."""

    def __init__(
        self, redis: Redis, prefix: str, threshold: int, ttl: float, fresh_seconds: float = 1.0
    ) -> None:
        self.redis = redis
        self.messages = []
        self.prefix = prefix
        self.threshold = threshold
        self.ttl = ttl
        self.fresh_seconds = fresh_seconds
        self._healthy: dict[str, tuple[float, float | None]] = {}
        """name -> (time.monotonic() when the read began, the breaker's stored opened_at), for breakers
        read as closed with a failure count of 0."""
        self._writes = 0
        """Writes begun or ended through this repository: a read during which it moved is not kept."""

    async def initialize(self) -> None:
        """Nothing to do: the client connects on first use."""

    async def get(self, name: str) -> Context | None:
        began = time.monotonic()
        kept = self._healthy.get(name)
        if kept is not None and began - kept[0] < self.fresh_seconds:
            # a new Context each time: purgatory changes the one it is given
            return Context(name, self.threshold, self.ttl, CLOSED, 0, kept[1])
        writes = self._writes
        context = await super().get(name)
        if context is None:
            self._healthy.pop(name, None)
            return None
        context.threshold = self.threshold
        context.ttl = self.ttl
        healthy = context.state == CLOSED and not context.failure_count
        if healthy and self.fresh_seconds > 0 and writes == self._writes:
            self._healthy[name] = (began, context.opened_at)
        else:
            self._healthy.pop(name, None)
        return context

    @asynccontextmanager
    async def _writing(self, name: str) -> AsyncIterator[None]:
        """Forget `name` before the write (this process reads its own change next) and after it (a read
        that began during the write may have kept the state from before it)."""
        self._healthy.pop(name, None)
        self._writes += 1
        try:
            yield
        finally:
            self._healthy.pop(name, None)
            self._writes += 1

    async def register(self, context: Context) -> None:
        async with self._writing(context.name):
            await super().register(context)
            await self.redis.expire(f"{self.prefix}{context.name}", IDLE_SECONDS)

    async def update_state(self, name: str, state: str, opened_at: float | None) -> None:
        async with self._writing(name):
            await super().update_state(name, state, opened_at)
            await self.redis.expire(f"{self.prefix}{name}", IDLE_SECONDS)

    async def reset_failure(self, name: str) -> None:
        """The count back to 0, expiring as idle as the breaker's other keys do (purgatory's own SET of the
        count dropped its expiry, so a reset breaker's count was kept for good)."""
        async with self._writing(name):
            await self.redis.set(f"{self.prefix}{name}::failure_count", "0", ex=IDLE_SECONDS)

    async def inc_failures(self, name: str, failure_count: int) -> None:
        async with self._writing(name):
            await self._inc_failures(name)

    async def _inc_failures(self, name: str) -> None:
        key = f"{self.prefix}{name}::failure_count"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, IDLE_SECONDS)
            count, _ = await pipe.execute()
        if int(count) < self.threshold:
            return
        raw = await self.redis.get(f"{self.prefix}{name}")
        stored = json.loads(raw) if raw else {}
        if stored.get("state", "closed") == "closed":
            # another replica's failures brought the shared count to the threshold: open for everyone
            await self.update_state(name, OPENED, time.time())

    async def aclose(self) -> None:
        await self.redis.aclose()


class SharedBreakerUnitOfWork(AsyncAbstractUnitOfWork):
    contexts: SharedBreakerRepository

    def __init__(self, url: str, prefix: str, threshold: int, ttl: float, fresh_seconds: float = 1.0) -> None:
        self.contexts = SharedBreakerRepository(Redis.from_url(url), prefix, threshold, ttl, fresh_seconds)

    async def commit(self) -> None:
        """Every write goes to Redis at once."""

    async def rollback(self) -> None:
        """Nothing to undo."""


def breaker_factory(
    settings: ServiceSettings,
    threshold: int,
    ttl_seconds: float,
    exclude: ExcludeType | None = None,
    store: BreakerStore | None = None,
    *,
    fresh_seconds: float = 1.0,
) -> AsyncCircuitBreakerFactory:
    """The service's breakers: `threshold` consecutive counted failures open one, `ttl_seconds` later it
    half-opens; exceptions in `exclude` do not count. Shared through Redis, a healthy breaker is read at
    most once every `fresh_seconds` (see SharedBreakerRepository; 0 reads it for every call)."""
    uow: AsyncAbstractUnitOfWork | None = None
    if store_of(settings, store) == "redis":
        uow = SharedBreakerUnitOfWork(
            settings.redis_url, breaker_prefix(settings), threshold, ttl_seconds, fresh_seconds
        )
    return AsyncCircuitBreakerFactory(
        default_threshold=threshold, default_ttl=ttl_seconds, exclude=exclude, uow=uow
    )


async def close_breakers(factory: AsyncCircuitBreakerFactory) -> None:
    """Release the Redis connections of a shared factory (nothing to do for an in-memory one)."""
    if isinstance(factory.uow, SharedBreakerUnitOfWork):
        await factory.uow.contexts.aclose()
