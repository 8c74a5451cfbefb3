"""Announces committed status changes on Redis pub/sub (faka_common.contracts.order_watch), so the gateway
can push them to buyers watching their order page. Best effort: a buyer whose announcement is lost sees the
change at the stream's next periodic look."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from faka_common.contracts.order_watch import changed_channel
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class OrderChanges(Protocol):
    async def announce(self, changes: Sequence[tuple[str, str]]) -> None:
        """Tell watchers each (order_no, announcement) after its transaction committed; never raises."""

    async def aclose(self) -> None: ...


class RedisOrderChanges:
    """Announcements leave from one task, in the order their transactions committed: what commits while a
    pipeline is on its way goes in the next, all of it at once. A commit does not wait for Redis, so a
    payment's acknowledgement and a consumer's next batch never include a round trip to it (awaited, it was
    one a commit, and under load the order service's turn on its event loop after it)."""

    def __init__(self, url: str, prefix: str = "", timeout: float = 0.5) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = prefix
        self._timeout = timeout
        self._waiting: list[tuple[str, str]] = []
        self._sender: asyncio.Task[None] | None = None

    async def announce(self, changes: Sequence[tuple[str, str]]) -> None:
        if not changes:
            return
        self._waiting += changes
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="order changes announcer")

    async def _send(self) -> None:
        while self._waiting:
            changes, self._waiting = self._waiting, []
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for order_no, payload in changes:
                        pipe.publish(changed_channel(self._prefix, order_no), payload)
                    await pipe.execute()
            except (RedisError, OSError) as error:
                log.warning(
                    "%d order changes not announced (%s); watchers catch up on their own", len(changes), error
                )
            except Exception:
                log.exception("%d order changes not announced; watchers catch up on their own", len(changes))

    async def aclose(self) -> None:
        """Send what is waiting (for at most a few of Redis's timeouts), then close."""
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._sender), 4 * self._timeout)
        await self._redis.aclose()
