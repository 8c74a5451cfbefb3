"""How many sign-in attempts (passwords and second-factor codes) an address and a client may make, and how
many reset e-mails an address is sent: moving windows in Redis shared by every merchant replica. The windows
are the merchant's; `faka_common.rate_limits` counts in them."""

from __future__ import annotations

from collections.abc import Sequence

from faka_common.rate_limits import Limiter, RateLimited, Window, email_id
from limits import RateLimitItemPerHour, RateLimitItemPerMinute

SIGN_IN = "sign-in attempts"


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
        self._limiter = Limiter(redis_url)
        self._root = ("faka", namespace or "default")
        self._per_address = RateLimitItemPerMinute(per_address, window_minutes)
        self._per_client = RateLimitItemPerMinute(per_client, window_minutes)
        self._links = RateLimitItemPerHour(links_per_hour)

    def windows(self, email: str, client_ip: str | None) -> list[Window]:
        """The address's window, and the client's when its address is known."""
        root = (*self._root, "sign-in")
        out = [Window(self._per_address, (*root, "email", email_id(email)), "this account", SIGN_IN)]
        if client_ip:
            out.append(Window(self._per_client, (*root, "client", client_ip), "your address", SIGN_IN))
        return out

    def link_window(self, email: str) -> Window:
        identifiers = (*self._root, "link-request", email_id(email))
        return Window(self._links, identifiers, "this account", "link requests")

    async def allows(self, window: Window) -> bool:
        """Count one in the window; whether it had room (True when Redis cannot be reached)."""
        try:
            await self._limiter.take([window])
        except RateLimited:
            return False
        return True

    async def take(self, windows: Sequence[Window]) -> None:
        """Count one attempt in every window; RateLimited (429) when one is full (an attempt refused by one
        window that was full before it is counted in none)."""
        await self._limiter.take(windows)
