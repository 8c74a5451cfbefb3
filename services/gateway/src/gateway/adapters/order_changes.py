"""Waits for the order service's status announcements (faka_common.contracts.order_watch) on one Redis
pub/sub connection shared by every buyer watching an order in this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from faka_common.contracts.order_watch import changed_channel
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class OrderChanges(Protocol):
    def watch(self, order_no: str) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[str] | None]:
        """A queue of the order's new statuses while the context lasts; None when changes cannot be
        followed (Redis down): the caller then looks at the order now and then by itself."""

    async def aclose(self) -> None: ...


class RedisOrderChanges:
    def __init__(self, url: str, prefix: str = "", timeout: float = 0.5) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=timeout, decode_responses=True)
        self._prefix = prefix
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._queues: dict[str, set[asyncio.Queue[str]]] = {}

    @contextlib.asynccontextmanager
    async def watch(self, order_no: str) -> AsyncIterator[asyncio.Queue[str] | None]:
        channel = changed_channel(self._prefix, order_no)
        queue: asyncio.Queue[str] = asyncio.Queue()
        watchers = self._queues.setdefault(channel, set())
        watchers.add(queue)
        try:
            try:
                if len(watchers) == 1:
                    await self._subscribe(channel)
            except (RedisError, OSError) as error:
                log.warning("order changes cannot be followed (%s); watchers look by themselves", error)
                yield None
            else:
                yield queue
        finally:
            watchers.discard(queue)
            if not watchers:
                del self._queues[channel]
                with contextlib.suppress(RedisError, OSError):
                    if self._pubsub is not None:
                        await self._pubsub.unsubscribe(channel)

    async def _subscribe(self, channel: str) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(channel)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(self._pubsub))

    async def _read(self, pubsub: PubSub) -> None:
        """Hand each announcement to the queues of its channel while anything is subscribed (the next
        subscription starts a new reader); ends too when the connection fails."""
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    for queue in self._queues.get(str(message["channel"]), ()):
                        queue.put_nowait(str(message["data"]))
        except (RedisError, OSError) as error:
            log.warning("order changes connection lost (%s)", error)
            self._pubsub = None

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        await self._redis.aclose()
