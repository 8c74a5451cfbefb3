"""The counts the rules check, in Redis: a sorted set per window (members: order ids, scores: when placed),
so a window slides, a redelivered order is counted once, and an order that ends unpaid is taken out. Beside
them, each scope's published rule set (`faka_common.contracts.risk_rules.rules_key`): its version and the
challenge rules the gateway asks for.

A check and its count are one Lua script: two orders from one address at the same moment cannot both see
the last free place of a window. When Redis cannot be reached the call raises Unavailable, so the consumer
parks the order's event on its retry topic: no order is approved unchecked, none is refused for an outage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from faka_common.contracts.risk_rules import RiskRules, challenges_document, rules_key
from faka_common.errors import Unavailable
from redis.asyncio import Redis
from redis.exceptions import RedisError

from risk.domain.rules import Counter

# KEYS: the windows. ARGV: now (ms), the order's id, then per window its length (ms) and limit (0: count
# without checking). Returns the 1-based indices of the full windows; counts the order in every window only
# when none is full (or when `force` is 1, for an order going to review anyway).
TAKE = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local force = ARGV[3] == '1'
local full = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + 2 * i])
  local limit = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if limit > 0 and not redis.call('ZSCORE', key, member) and redis.call('ZCARD', key) >= limit then
    table.insert(full, i)
  end
end
if #full == 0 or force then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
  end
end
return full
"""

# KEYS: the scope's rules hash. ARGV: the version, the challenges document. A version never goes back (a
# slow writer of an older version, or the sweep's read from before a change, leaves the newer one).
PUBLISH = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if tonumber(ARGV[1]) < current then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'challenges', ARGV[2])
return 1
"""


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as error:
        raise Unavailable(f"the risk counters' Redis is unreachable: {type(error).__name__}") from error


class Counters(Protocol):
    async def take(
        self, counters: Sequence[Counter], member: str, now_ms: int, force: bool = False
    ) -> list[int]:
        """Check every window and count `member` in all of them when none is full (or `force`): the
        0-based indices of the full ones."""

    async def release(self, keys: Sequence[str], member: str) -> None:
        """Take `member` out of the windows (an order that ended unpaid)."""

    async def publish_rules(self, scope: str, version: int, rules: RiskRules) -> None:
        """Make the scope's rule set at `version` known (unless a newer one is): its challenges to the
        gateway."""

    async def aclose(self) -> None: ...


class RedisCounters:
    def __init__(self, url: str, prefix: str = "", timeout: float = 1.0) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._namespace = prefix
        self._prefix = f"{prefix}risk:"
        self._take = self._redis.register_script(TAKE)
        self._publish = self._redis.register_script(PUBLISH)

    async def take(
        self, counters: Sequence[Counter], member: str, now_ms: int, force: bool = False
    ) -> list[int]:
        if not counters:
            return []
        args: list[str | int] = [now_ms, member, 1 if force else 0]
        for counter in counters:
            args += [counter.window_seconds * 1000, counter.limit]
        async with _reachable():
            full = await self._take(keys=[self._prefix + c.key for c in counters], args=args)
        return [int(i) - 1 for i in full]

    async def release(self, keys: Sequence[str], member: str) -> None:
        if keys:
            async with _reachable(), self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(self._prefix + key, member)
                await pipe.execute()

    async def publish_rules(self, scope: str, version: int, rules: RiskRules) -> None:
        async with _reachable():
            await self._publish(
                keys=[rules_key(self._namespace, scope)], args=[version, challenges_document(rules)]
            )

    async def aclose(self) -> None:
        await self._redis.aclose()
