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

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

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


class Limiter:
    """Counts attempts in moving windows kept at `storage_url` (redis://, memory://; with or without the
    async+ that `limits` wants). The store is opened on first use: building an app connects to nothing."""

    def __init__(self, storage_url: str) -> None:
        self.storage_url = async_storage_url(storage_url)

    @cached_property
    def _limiter(self) -> MovingWindowRateLimiter:
        storage = storage_from_string(self.storage_url, wrap_exceptions=True)
        return MovingWindowRateLimiter(storage)

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

        A hit is atomic per window, so of attempts sent at once each window lets through only what fits;
        an attempt that loses that race in a later window has already been counted in the earlier ones."""
        try:
            refusal = await self._full(windows)
            if refusal is not None:
                raise refusal
            for window in windows:
                if not await self._limiter.hit(window.item, *window.identifiers):
                    raise await self._refusal([window])
        except StorageError as error:
            _unavailable(windows, error, "letting the request through")

    async def _full(self, windows: Sequence[Window]) -> RateLimited | None:
        full = [w for w in windows if not await self._limiter.test(w.item, *w.identifiers)]
        return await self._refusal(full) if full else None

    async def _refusal(self, full: Sequence[Window]) -> RateLimited:
        waits = [(await self._wait(window), window) for window in full]
        wait, window = max(waits, key=lambda pair: pair[0])
        return RateLimited(f"too many {window.action} for {window.whose}; try again in {wait} seconds", wait)

    async def _wait(self, window: Window) -> int:
        stats = await self._limiter.get_window_stats(window.item, *window.identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _unavailable(windows: Sequence[Window], error: StorageError, outcome: str) -> None:
    actions = ", ".join(sorted({window.action for window in windows})) or "nothing"
    log.warning("rate limits unavailable (%s); %s: %s", error, outcome, actions)
