"""The counts the rules check, in Redis: a sorted set per window (members: order ids, scores: when placed),
so a window slides, a redelivered order is counted once, and an order that ends unpaid is taken out. Beside
them, each scope's published rule set (`faka_common.contracts.risk_rules.rules_key`): its version and the
challenge rules the gateway asks for; and (`payers_key`) the payment accounts its blocklists name, which
the order service checks a paid order's payer against.

A check and its count are one Lua script: two orders from one address at the same moment cannot both see
the last free place of a window. When Redis cannot be reached the call raises Unavailable, so the consumer
parks the order's event on its retry topic: no order is approved unchecked, none is refused for an outage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from faka_common.contracts.risk_rules import (
    RiskRules,
    blocked_payers,
    challenges_document,
    payers_key,
    rules_key,
)
from faka_common.errors import Unavailable
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import NoScriptError, RedisError

from risk.domain.rules import Counter

# KEYS: the platform's and the shop's published rules, then the windows. ARGV: now (ms), the order's id,
# whether to check the versions ('1') and the expected platform and shop versions, then per window its
# length (ms), its limit (0: count without checking) and whether a full window rejects ('1') or asks for
# review. Returns {-1, platform version, shop version} when a published version is not the expected one
# (nothing counted: the caller reloads its rules); otherwise the 1-based indices of the full windows, after
# counting the order in every window unless a full one rejects.
TAKE = """
if ARGV[3] == '1' then
  local platform = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
  local shop = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
  if platform ~= tonumber(ARGV[4]) or shop ~= tonumber(ARGV[5]) then return {-1, platform, shop} end
end
local now = tonumber(ARGV[1])
local member = ARGV[2]
local full = {}
local rejected = false
for i = 3, #KEYS do
  local at = 3 + 3 * (i - 2)
  local window = tonumber(ARGV[at])
  local limit = tonumber(ARGV[at + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if limit > 0 and redis.call('ZCARD', KEYS[i]) >= limit and not redis.call('ZSCORE', KEYS[i], member) then
    table.insert(full, i - 2)
    if ARGV[at + 2] == '1' then rejected = true end
  end
end
if not rejected then
  for i = 3, #KEYS do
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3 + 3 * (i - 2)]))
  end
end
return full
"""

# KEYS: the scope's rules hash, its blocked payers' set. ARGV: the version, the challenges document, then
# the blocked payment accounts. A version never goes back (a slow writer of an older version, or the
# sweep's read from before a change, leaves the newer one); the set is replaced with the version, at once.
PUBLISH = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if tonumber(ARGV[1]) < current then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'challenges', ARGV[2])
redis.call('DEL', KEYS[2])
for first = 3, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
return 1
"""


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as error:
        raise Unavailable(f"the risk counters' Redis is unreachable: {type(error).__name__}") from error


def _taken(found: list[int | bytes]) -> Taken:
    if found and int(found[0]) == -1:
        return Taken(stale=(int(found[1]), int(found[2])))
    return Taken([int(i) - 1 for i in found])


@dataclass(frozen=True)
class Taken:
    """What a decision's one round trip found: the full windows (0-based), or, when the rule sets it
    decided with are not the published ones, the published versions (platform, shop) and nothing counted."""

    full: list[int] = field(default_factory=list)
    stale: tuple[int, int] | None = None


@dataclass(frozen=True)
class Take:
    """One decision's windows to check and take (as `Counters.take`'s arguments)."""

    counters: Sequence[Counter]
    member: str
    now_ms: int
    shop: str = ""
    versions: tuple[int, int] | None = None


class Counters(Protocol):
    async def take_many(self, takes: Sequence[Take]) -> list[Taken]:
        """`take` for several decisions in one round trip, run in their order (a batch's orders are
        counted as they arrived)."""

    async def take(
        self,
        counters: Sequence[Counter],
        member: str,
        now_ms: int,
        shop: str = "",
        versions: tuple[int, int] | None = None,
    ) -> Taken:
        """In one round trip: check that `versions` (platform, shop) are the published ones (when given),
        check every window and count `member` in all of them unless a full one rejects."""

    async def release(self, keys: Sequence[str], member: str) -> None:
        """Take `member` out of the windows (an order that ended unpaid)."""

    async def publish_rules(self, scope: str, version: int, rules: RiskRules) -> None:
        """Make the scope's rule set at `version` known (unless a newer one is): its challenges to the
        gateway, the payment accounts its blocklists name to the order service."""

    async def aclose(self) -> None: ...


class RedisCounters:
    def __init__(self, url: str, prefix: str = "", timeout: float = 1.0) -> None:
        # a burst waits for a connection (up to `timeout`) instead of failing past the pool's size
        pool = BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=timeout, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._redis = Redis(connection_pool=pool)
        self._namespace = prefix
        self._prefix = f"{prefix}risk:"
        self._take = self._redis.register_script(TAKE)
        self._publish = self._redis.register_script(PUBLISH)

    async def take(
        self,
        counters: Sequence[Counter],
        member: str,
        now_ms: int,
        shop: str = "",
        versions: tuple[int, int] | None = None,
    ) -> Taken:
        if not counters and versions is None:
            return Taken()
        keys, args = self._script_call(Take(counters, member, now_ms, shop, versions))
        async with _reachable():
            return _taken(await self._take(keys=keys, args=args))

    async def take_many(self, takes: Sequence[Take]) -> list[Taken]:
        asked = [i for i, take in enumerate(takes) if take.counters or take.versions is not None]
        found: list[Taken] = [Taken() for _ in takes]
        if not asked:
            return found
        calls = [self._script_call(takes[i]) for i in asked]
        async with _reachable():
            answers = await self._take_in_pipeline(calls)
            if any(isinstance(a, NoScriptError) for a in answers):
                # Redis lost its scripts (a restart, a flush): load it and run them all again, which counts
                # nothing twice (a window holds an order once)
                self._take.sha = await self._redis.script_load(TAKE)
                answers = await self._take_in_pipeline(calls)
        for i, answer in zip(asked, answers, strict=True):
            if isinstance(answer, Exception):
                raise Unavailable(f"the risk counters' Redis refused a take: {answer}") from answer
            found[i] = _taken(answer)
        return found

    async def _take_in_pipeline(self, calls: list[tuple[list[str], list[str | int]]]) -> list[Any]:
        """The calls' EVALSHAs in one round trip (not redis-py's script call, which asks SCRIPT EXISTS
        first: a second round trip per batch)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._take.sha, len(keys), *keys, *args)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
            return answers

    def _script_call(self, take: Take) -> tuple[list[str], list[str | int]]:
        """The TAKE script's keys and arguments for one decision."""
        platform_version, shop_version = take.versions or (0, 0)
        keys = [rules_key(self._namespace, "platform"), rules_key(self._namespace, take.shop)]
        keys += [self._prefix + c.key for c in take.counters]
        checks = 0 if take.versions is None else 1
        args: list[str | int] = [take.now_ms, take.member, checks, platform_version, shop_version]
        for counter in take.counters:
            rejects = counter.fired is not None and counter.fired.verdict == "reject"
            args += [counter.window_seconds * 1000, counter.limit, 1 if rejects else 0]
        return keys, args

    async def release(self, keys: Sequence[str], member: str) -> None:
        if keys:
            async with _reachable(), self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(self._prefix + key, member)
                await pipe.execute()

    async def publish_rules(self, scope: str, version: int, rules: RiskRules) -> None:
        keys = [rules_key(self._namespace, scope), payers_key(self._namespace, scope)]
        args = [version, challenges_document(rules), *blocked_payers(rules)]
        async with _reachable():
            await self._publish(keys=keys, args=args)

    async def aclose(self) -> None:
        await self._redis.aclose()
