"""Announces committed status changes on Redis pub/sub (faka_common.contracts.order_watch), so the gateway
can push them to buyers watching their order page, and keeps a placed order's page for the first moments
(`keep`), which each announcement then brings up to date. Best effort: a buyer whose announcement is lost
sees the change at the stream's next periodic look, and one whose page is not kept has the order read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from faka_common.contracts.order_watch import (
    ANNOUNCE_SCRIPT,
    OPENED,
    PAGE_SECONDS,
    changed_channel,
    page_key,
    seal,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_KEEP, _FORGET = "keep", "forget"


class OrderChanges(Protocol):
    async def announce(self, changes: Sequence[tuple[str, str]]) -> None:
        """Tell watchers each (order_no, announcement) after its transaction committed; never raises."""

    async def keep(self, order_no: str, token: str, view: Mapping[str, Any]) -> None:
        """Keep the page of an order just placed: its `view` for the holder of `token`, after what was
        announced before; never waits for Redis, never raises."""

    async def forget(self, order_no: str) -> None:
        """Delete the order's page (its tokens were rotated); never waits for Redis, never raises."""

    async def aclose(self) -> None: ...


class RedisOrderChanges:
    """Announcements leave from one task, in the order their transactions committed: what commits while a
    pipeline is on its way goes in the next, all of it at once. A commit does not wait for Redis, so a
    payment's acknowledgement and a consumer's next batch never include a round trip to it (awaited, it was
    one a commit, and under load the order service's turn on its event loop after it). A placed order's
    page (`keep`) and a rotation's deletion of it (`forget`) go the same way, in their turn: a placement
    does not wait for Redis either (with Redis down it would wait for its timeout), and a page the buyer
    opens before it is kept reads the order."""

    def __init__(self, url: str, prefix: str = "", timeout: float = 0.5) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = prefix
        self._timeout = timeout
        #: (order_no, what): an announcement, `_KEEP` and a sealed page, or `_FORGET`
        self._waiting: list[tuple[str, str | tuple[str, str]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def announce(self, changes: Sequence[tuple[str, str]]) -> None:
        self._queue(changes)

    async def keep(self, order_no: str, token: str, view: Mapping[str, Any]) -> None:
        sealed = seal(view, token)
        if sealed is None:
            log.error("order %s: its page is not kept, the token could not be sealed out of it", order_no)
            return
        self._queue([(order_no, (_KEEP, sealed))])

    async def forget(self, order_no: str) -> None:
        self._queue([(order_no, (_FORGET, ""))])

    def _queue(self, steps: Sequence[tuple[str, str | tuple[str, str]]]) -> None:
        if not steps:
            return
        self._waiting += steps
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="order changes announcer")

    async def _send(self) -> None:
        while self._waiting:
            steps, self._waiting = self._waiting, []
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for order_no, what in steps:
                        page = page_key(self._prefix, order_no)
                        if isinstance(what, str):  # an announcement, into the page if it is kept
                            channel = changed_channel(self._prefix, order_no)
                            pipe.eval(ANNOUNCE_SCRIPT, 1, page, what.partition(" ")[0], what, channel)
                        elif what[0] == _KEEP:
                            pipe.hset(page, OPENED, what[1])
                            pipe.expire(page, PAGE_SECONDS)
                        else:
                            pipe.delete(page)
                    await pipe.execute()
            except (RedisError, OSError) as error:
                # a page not deleted after a rotation lapses within PAGE_SECONDS; the gateway reads pages from
                # this Redis, so one it cannot reach now holds no page it could use either
                log.warning(
                    "%d order changes not announced or pages not kept (%s); watchers catch up on their own",
                    len(steps),
                    error,
                )
            except Exception:
                log.exception(
                    "%d order changes not announced or pages not kept; watchers catch up on their own",
                    len(steps),
                )

    async def aclose(self) -> None:
        """Send what is waiting (for at most a few of Redis's timeouts), then close."""
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._sender), 4 * self._timeout)
        await self._redis.aclose()
