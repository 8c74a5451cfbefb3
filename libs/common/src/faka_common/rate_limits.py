"""Rate limits as moving windows (the `limits` package) over a storage URL: Redis, so every replica of a
service counts in the same windows, or memory:// (one process; for tests).

The mechanism only: a service names its windows (what is limited, how much, under which keys) and asks a
`Limiter` to count an attempt in them. A full window refuses with `RateLimited` (429 with Retry-After, see
`faka_common.http`). When the store cannot be reached the attempt goes through and a warning is logged: a
limit slows guessing down, and what it guards (a secret, a password hash) still holds without it, whereas a
Redis outage refusing every request would stop the service."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import redis.asyncio as redis
from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.exceptions import RedisError

from faka_common.errors import DomainError

log = logging.getLogger(__name__)


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the window lets one more through."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Window:
    """One moving window: `item` (e.g. 10 per minute) over the identifiers that name whose window it is.
    Its refusal reads "too many <action> for <whose>; try again in N seconds"."""

    item: RateLimitItem
    identifiers: tuple[str, ...]
    #: Whose window it is, for the refusal: "this order", "your address".
    whose: str
    #: What is being limited, for the refusal: "order lookups", "sign-in attempts".
    action: str

    @property
    def key(self) -> str:
        """The window's key in the store (`limits` puts its own prefix, e.g. `LIMITS:`, before it)."""
        return self.item.key_for(*self.identifiers)


def email_id(email: str) -> str:
    """An e-mail address as a window's identifier: case-folded and hashed, so the store never holds it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def async_storage_url(url: str) -> str:
    """`url` as `limits` names its asyncio storage: redis://... -> async+redis://..., memory:// ->
    async+memory://."""
    return url if url.startswith("async+") else f"async+{url}"


#: `Limiter.take` on Redis: one attempt counted in every window (KEYS) or, when one is full, in none, as one
#: script: atomic, so of attempts sent at once by several replicas each window keeps only those that got
#: through, and one round trip instead of a test and a hit per window (four script calls for the two
#: windows of a placement, 8-10 % of the gateway's CPU under load, through `limits`' client). The windows
#: are `limits`' moving windows (a list of attempt times, newest first, trimmed to the limit, expiring
#: with the window), which its reads (`full`, the refusal's wait) share. ARGV: the time, then each
#: window's limit and length in seconds. Returns 0 when counted, else the position of a full window.
#: `TAKE_ALL_FUNCTION` is its work as the Lua function `take_all(keys, argv)`, for a script of a service's
#: own that takes windows along with its own work in the same round trip (see `Limiter.redis_take`).
TAKE_ALL_FUNCTION = """
local function take_all(keys, argv)
    local now = argv[1]
    for i, key in ipairs(keys) do
        local entry = redis.call('lindex', key, tonumber(argv[2 * i]) - 1)
        if entry and tonumber(entry) >= tonumber(now) - tonumber(argv[2 * i + 1]) then
            return i
        end
    end
    for i, key in ipairs(keys) do
        redis.call('lpush', key, now)
        redis.call('ltrim', key, 0, tonumber(argv[2 * i]) - 1)
        redis.call('expire', key, tonumber(argv[2 * i + 1]))
    end
    return 0
end
"""
TAKE_ALL = TAKE_ALL_FUNCTION + "return take_all(KEYS, ARGV)\n"


#: `Limiter.give_back` on Redis: the newest attempt taken off every window (KEYS), as one script. Another
#: attempt of the same moment may be the one removed; the count is what matters.
GIVE_BACK = """
for _, key in ipairs(KEYS) do
    redis.call('lpop', key)
end
return 0
"""


@dataclass(frozen=True)
class RedisTake:
    """`Limiter.take` of `windows` as the keys and arguments of `take_all` (`TAKE_ALL_FUNCTION`), for a script
    that runs it on the windows' Redis; what it answered goes to `Limiter.settle`."""

    windows: tuple[Window, ...]
    keys: list[str]
    args: list[Any]


class Limiter:
    """Counts attempts in moving windows kept at `storage_url` (redis://, memory://; with or without the
    async+ that `limits` wants). The store is opened on first use: building an app connects to nothing."""

    def __init__(self, storage_url: str) -> None:
        self.storage_url = async_storage_url(storage_url)
        plain = self.storage_url.removeprefix("async+")
        self._redis_url = plain if plain.startswith(("redis://", "rediss://")) else None

    @cached_property
    def _limiter(self) -> MovingWindowRateLimiter:
        # redis-py, the client the services use elsewhere, rather than `limits`' default (coredis)
        options = {"implementation": "redispy"} if self._redis_url else {}
        storage = storage_from_string(self.storage_url, wrap_exceptions=True, **options)
        return MovingWindowRateLimiter(storage)

    @cached_property
    def _client(self) -> redis.Redis:
        assert self._redis_url is not None
        return redis.from_url(self._redis_url, socket_timeout=2, socket_connect_timeout=2)

    @cached_property
    def _take_all(self) -> Any:
        return self._client.register_script(TAKE_ALL)

    @cached_property
    def _give_back(self) -> Any:
        return self._client.register_script(GIVE_BACK)

    async def full(self, windows: Sequence[Window]) -> RateLimited | None:
        """The refusal (429) when a window is full, or None; counts nothing. Of several full windows it
        names the one that frees up last: retrying sooner would be refused again."""
        try:
            return await self._full(windows)
        except StorageError as error:
            _unavailable(windows, error, "letting the request through")
            return None

    async def count(self, windows: Sequence[Window]) -> None:
        """Count one attempt in every window that has room (a full window stays full)."""
        try:
            for window in windows:
                await self._limiter.hit(window.item, *window.identifiers)
        except StorageError as error:
            _unavailable(windows, error, "attempt not counted")

    async def take(self, windows: Sequence[Window]) -> None:
        """Count one attempt in every window, or, when one is full, in none and refuse (RateLimited, see
        `full`): a full window of one kind (an e-mail's) does not eat the room of another (the client's).

        On Redis the whole take is one atomic script (`TAKE_ALL`), so of attempts sent at once each window
        counts only those that got through; on memory:// a hit is atomic per window."""
        if self._redis_url is not None:
            await self._take_on_redis(windows)
            return
        try:
            refusal = await self._full(windows)
            if refusal is not None:
                raise refusal
            for window in windows:
                if not await self._limiter.hit(window.item, *window.identifiers):
                    raise await self._refusal([window])
        except StorageError as error:
            _unavailable(windows, error, "letting the request through")

    def redis_take(self, windows: Sequence[Window], redis_url: str) -> RedisTake | None:
        """The take of `windows` for a script run on the Redis at `redis_url`, or None when the windows are
        kept elsewhere (memory://, another Redis) or there are none: then `take` them."""
        if not windows or self._redis_url != redis_url:
            return None
        keys = [f"{RedisStorage.PREFIX}:{window.key}" for window in windows]
        args: list[Any] = [repr(time.time())]
        for window in windows:
            args += [window.item.amount, window.item.get_expiry()]
        return RedisTake(tuple(windows), keys, args)

    async def settle(self, take: RedisTake, full: int) -> None:
        """What `take_all` answered for `take`: 0, counted; else the position of a full window, and the
        refusal `take` raises (RateLimited, naming the full window that frees up last)."""
        if not full:
            return
        windows = take.windows
        try:  # which windows are full and when the last of them frees up, read as `full` reads it
            refusal = await self._full(windows)
        except StorageError:
            refusal = None
        if refusal is None:  # freed up since, or unreadable: the full window's whole length
            window = windows[full - 1]
            refusal = _refused(window, window.item.get_expiry())
        raise refusal

    async def give_back(self, windows: Sequence[Window]) -> None:
        """Uncount an attempt `take` counted in every window, when what it was for was not done after all
        (the platform turned it away busy, say). On memory:// (tests without Redis) nothing is given back."""
        if self._redis_url is None or not windows:
            return
        keys = [f"{RedisStorage.PREFIX}:{window.key}" for window in windows]
        try:
            await self._give_back(keys=keys, args=[])
        except (RedisError, OSError) as error:
            _unavailable(windows, error, "attempt left counted")

    async def _take_on_redis(self, windows: Sequence[Window]) -> None:
        assert self._redis_url is not None
        take = self.redis_take(windows, self._redis_url)
        if take is None:
            return
        try:
            full = int(await self._take_all(keys=take.keys, args=take.args))
        except (RedisError, OSError) as error:
            _unavailable(windows, error, "letting the request through")
            return
        await self.settle(take, full)

    async def _full(self, windows: Sequence[Window]) -> RateLimited | None:
        full = [w for w in windows if not await self._limiter.test(w.item, *w.identifiers)]
        return await self._refusal(full) if full else None

    async def _refusal(self, full: Sequence[Window]) -> RateLimited:
        waits = [(await self._wait(window), window) for window in full]
        wait, window = max(waits, key=lambda pair: pair[0])
        return _refused(window, wait)

    async def _wait(self, window: Window) -> int:
        stats = await self._limiter.get_window_stats(window.item, *window.identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _refused(window: Window, wait: int) -> RateLimited:
    return RateLimited(f"too many {window.action} for {window.whose}; try again in {wait} seconds", wait)


def _unavailable(windows: Sequence[Window], error: Exception, outcome: str) -> None:
    actions = ", ".join(sorted({window.action for window in windows})) or "nothing"
    log.warning("rate limits unavailable (%s); %s: %s", error, outcome, actions)
