"""Announces committed status changes on Redis pub/sub (faka_common.contracts.order_watch), so the gateway
can push them to buyers watching their order page. Best effort: a buyer whose announcement is lost sees the
change at the stream's next periodic look."""

from __future__ import annotations

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
    def __init__(self, url: str, prefix: str = "", timeout: float = 0.5) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = prefix

    async def announce(self, changes: Sequence[tuple[str, str]]) -> None:
        if not changes:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for order_no, payload in changes:
                    pipe.publish(changed_channel(self._prefix, order_no), payload)
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("order changes not announced (%s); watchers catch up on their own", error)

    async def aclose(self) -> None:
        await self._redis.aclose()
