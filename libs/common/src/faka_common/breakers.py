"""Circuit breakers (purgatory) whose state every replica of a service shares through Redis, or, without
Redis, each process keeps for itself. Breaker keys are namespaced by the installation's namespace and the
service, so two installations (or two test runs) on one Redis never share a breaker."""

from __future__ import annotations

import json
import time
from typing import Literal

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OPENED, Context, ExcludeType
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
    """purgatory's Redis repository under our prefix, with two changes: the failure count that decides
    is Redis' own (INCR is atomic, so failures seen by different replicas add up even when they race),
    and the threshold and TTL are the configured ones rather than whatever the first replica stored."""

    def __init__(self, redis: Redis, prefix: str, threshold: int, ttl: float) -> None:
        self.redis = redis
        self.messages = []
        self.prefix = prefix
        self.threshold = threshold
        self.ttl = ttl

    async def initialize(self) -> None:
        """Nothing to do: the client connects on first use."""

    async def get(self, name: str) -> Context | None:
        context = await super().get(name)
        if context is not None:
            context.threshold = self.threshold
            context.ttl = self.ttl
        return context

    async def register(self, context: Context) -> None:
        await super().register(context)
        await self.redis.expire(f"{self.prefix}{context.name}", IDLE_SECONDS)

    async def update_state(self, name: str, state: str, opened_at: float | None) -> None:
        await super().update_state(name, state, opened_at)
        await self.redis.expire(f"{self.prefix}{name}", IDLE_SECONDS)

    async def inc_failures(self, name: str, failure_count: int) -> None:
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

    def __init__(self, url: str, prefix: str, threshold: int, ttl: float) -> None:
        self.contexts = SharedBreakerRepository(Redis.from_url(url), prefix, threshold, ttl)

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
) -> AsyncCircuitBreakerFactory:
    """The service's breakers: `threshold` consecutive counted failures open one, `ttl_seconds` later it
    half-opens; exceptions in `exclude` do not count."""
    uow: AsyncAbstractUnitOfWork | None = None
    if store_of(settings, store) == "redis":
        uow = SharedBreakerUnitOfWork(settings.redis_url, breaker_prefix(settings), threshold, ttl_seconds)
    return AsyncCircuitBreakerFactory(
        default_threshold=threshold, default_ttl=ttl_seconds, exclude=exclude, uow=uow
    )


async def close_breakers(factory: AsyncCircuitBreakerFactory) -> None:
    """Release the Redis connections of a shared factory (nothing to do for an in-memory one)."""
    if isinstance(factory.uow, SharedBreakerUnitOfWork):
        await factory.uow.contexts.aclose()
