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
from redis.exceptions import NoScriptError, RedisError, ResponseError

from risk.domain.rules import Counter

# One call for a batch's decisions, taken in their order. KEYS: per decision, the platform's and the shop's
# published rules, then its windows. ARGV: per decision, its number of windows, now (ms), the order's id,
# whether to check the versions ('1') and the expected platform and shop versions, then per window its
# length (ms), its limit (0: count without checking) and whether a full window rejects ('1') or asks for
# review. Returns per decision {-1, platform version, shop version} when a published version is not the
# expected one (nothing counted: the caller reloads its rules); otherwise the 1-based indices of the full
# windows, after counting the order in every window unless a full one rejects. A count-only window is not
# trimmed: nobody reads its size but a limited window of the same key, which trims it first, and its orders
# leave it when they end (paid, cancelled, expired) or with the key's expiry.
TAKE = """
local answers = {}
local k, a = 1, 1
while a <= #ARGV do
  local windows = tonumber(ARGV[a])
  local now = tonumber(ARGV[a + 1])
  local member = ARGV[a + 2]
  local platform, shop = 0, 0
  if ARGV[a + 3] == '1' then
    platform = tonumber(redis.call('HGET', KEYS[k], 'version') or '0')
    shop = tonumber(redis.call('HGET', KEYS[k + 1], 'version') or '0')
  end
  if ARGV[a + 3] == '1' and (platform ~= tonumber(ARGV[a + 4]) or shop ~= tonumber(ARGV[a + 5])) then
    answers[#answers + 1] = {-1, platform, shop}
  else
    local full = {}
    local rejected = false
    for w = 1, windows do
      local key = KEYS[k + 1 + w]
      local at = a + 3 + 3 * w
      local limit = tonumber(ARGV[at + 1])
      if limit > 0 then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - tonumber(ARGV[at]))
        if redis.call('ZCARD', key) >= limit and not redis.call('ZSCORE', key, member) then
          table.insert(full, w)
          if ARGV[at + 2] == '1' then rejected = true end
        end
      end
    end
    if not rejected then
      for w = 1, windows do
        redis.call('ZADD', KEYS[k + 1 + w], now, member)
        redis.call('PEXPIRE', KEYS[k + 1 + w], tonumber(ARGV[a + 3 + 3 * w]))
      end
    end
    answers[#answers + 1] = full
  end
  k = k + 2 + windows
  a = a + 6 + 3 * windows
end
return answers
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


def _packed(args: list[str | int]) -> bytes:
    """A command in Redis' protocol (RESP)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        value = arg.encode() if isinstance(arg, str) else b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


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

    async def release_many(self, releases: Sequence[tuple[Sequence[str], str]]) -> None:
        """Take each member out of its windows (keys), all in one round trip (orders that were paid or
        ended unpaid)."""

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
        return (await self.take_many([Take(counters, member, now_ms, shop, versions)]))[0]

    async def take_many(self, takes: Sequence[Take]) -> list[Taken]:
        asked = [i for i, take in enumerate(takes) if take.counters or take.versions is not None]
        found: list[Taken] = [Taken() for _ in takes]
        if not asked:
            return found
        keys: list[str] = []
        args: list[str | int] = []
        for i in asked:
            self._add_take(takes[i], keys, args)
        async with _reachable():
            try:
                answers = await self._call(self._take.sha, keys, args)
            except NoScriptError:
                # Redis lost its scripts (a restart, a flush): nothing ran; load it and call it again
                self._take.sha = await self._redis.script_load(TAKE)
                answers = await self._call(self._take.sha, keys, args)
            except ResponseError as error:
                raise Unavailable(f"the risk counters' Redis refused a take: {error}") from error
        for i, answer in zip(asked, answers, strict=True):
            found[i] = _taken(answer)
        return found

    async def _call(self, sha: str, keys: list[str], args: list[str | int]) -> Any:
        """EVALSHA on a connection of the pool, the command packed here: redis-py's client packs each
        argument through its encoder (and times and retries each command), which cost 2.4 times this
        packing's CPU for a batch of fifty decisions. No retry: a connection error raises (Unavailable),
        the consumer parks the batch."""
        packed = _packed(["EVALSHA", sha, len(keys), *keys, *args])
        pool = self._redis.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(packed)
            return await connection.read_response()
        finally:
            await pool.release(connection)

    def _add_take(self, take: Take, keys: list[str], args: list[str | int]) -> None:
        """One decision's keys and arguments of the TAKE script, added to a batch's."""
        platform_version, shop_version = take.versions or (0, 0)
        keys += [rules_key(self._namespace, "platform"), rules_key(self._namespace, take.shop)]
        keys += [self._prefix + c.key for c in take.counters]
        checks = 0 if take.versions is None else 1
        args += [len(take.counters), take.now_ms, take.member, checks, platform_version, shop_version]
        for counter in take.counters:
            rejects = counter.fired is not None and counter.fired.verdict == "reject"
            args += [counter.window_seconds * 1000, counter.limit, 1 if rejects else 0]

    async def release_many(self, releases: Sequence[tuple[Sequence[str], str]]) -> None:
        if any(keys for keys, _ in releases):
            async with _reachable(), self._redis.pipeline(transaction=False) as pipe:
                for keys, member in releases:
                    for key in keys:
                        pipe.zrem(self._prefix + key, member)
                await pipe.execute()

    async def publish_rules(self, scope: str, version: int, rules: RiskRules) -> None:
        keys = [rules_key(self._namespace, scope), payers_key(self._namespace, scope)]
        args: list[str | int] = [version, challenges_document(rules), *blocked_payers(rules)]
        async with _reachable():
            await self._publish(keys=keys, args=args)

    async def aclose(self) -> None:
        await self._redis.aclose()
