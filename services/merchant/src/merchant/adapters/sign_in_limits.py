"""How many sign-in attempts (passwords and second-factor codes) an address and a client may make, and how
many reset e-mails an address is sent: moving windows in Redis (the `limits` package), shared by every
merchant replica."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from faka_common.errors import DomainError
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

log = logging.getLogger(__name__)


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Window:
    item: RateLimitItem
    identifiers: tuple[str, ...]
    whose: str


def email_id(email: str) -> str:
    """An address as its window names it: case-folded and hashed, so Redis never holds it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class SignInLimits:
    """Every attempt counts, right or wrong, before the password or code is checked: counting only the
    failures would let a burst of guesses sent at once all pass before the first failure is counted. The
    window of an address is counted whether or not it has an account, so a 429 tells nothing either. When
    Redis cannot be reached the attempt goes through (and is logged): argon2 still makes each guess dear."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        *,
        per_address: int,
        per_client: int,
        window_minutes: int,
        links_per_hour: int,
    ) -> None:
        self._url = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
        self._root = ("faka", namespace or "default")
        self._per_address = RateLimitItemPerMinute(per_address, window_minutes)
        self._per_client = RateLimitItemPerMinute(per_client, window_minutes)
        self._links = RateLimitItemPerHour(links_per_hour)

    @cached_property
    def _limiter(self) -> MovingWindowRateLimiter:
        # made on first use: building the app connects to nothing
        return MovingWindowRateLimiter(storage_from_string(self._url, wrap_exceptions=True))

    def windows(self, email: str, client_ip: str | None) -> list[Window]:
        """The address's window, and the client's when its address is known."""
        out = [Window(self._per_address, (*self._root, "sign-in", "email", email_id(email)), "this account")]
        if client_ip:
            out.append(
                Window(self._per_client, (*self._root, "sign-in", "client", client_ip), "your address")
            )
        return out

    def link_window(self, email: str) -> Window:
        return Window(self._links, (*self._root, "link-request", email_id(email)), "this account")

    async def allows(self, window: Window) -> bool:
        """Count one in the window; whether it had room (True when Redis cannot be reached)."""
        try:
            return await self._limiter.hit(window.item, *window.identifiers)
        except StorageError as error:
            log.warning("link request limits unavailable (%s); letting the request through", error)
            return True

    async def take(self, windows: Sequence[Window]) -> None:
        """Count one attempt in every window; RateLimited (429) when one is full (an attempt refused by one
        window that was full before it is counted in none)."""
        try:
            for window in windows:
                if not await self._limiter.test(window.item, *window.identifiers):
                    raise await self._refusal(window)
            for window in windows:  # a hit is atomic: of attempts sent at once, only what fits gets through
                if not await self._limiter.hit(window.item, *window.identifiers):
                    raise await self._refusal(window)
        except StorageError as error:
            log.warning("sign-in limits unavailable (%s); letting the attempt through", error)

    async def _refusal(self, window: Window) -> RateLimited:
        stats = await self._limiter.get_window_stats(window.item, *window.identifiers)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(f"too many sign-in attempts for {window.whose}; try again in {wait} seconds", wait)
