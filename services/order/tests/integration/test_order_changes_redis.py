"""The order service's announcer on a real Redis: what commits reaches the pages watching it in commit
order, a commit never waits for Redis, and stopping sends what is still waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
import redis.asyncio as redis
from faka_common.contracts.order_watch import changed_channel
from order.adapters.order_changes import RedisOrderChanges

pytestmark = pytest.mark.integration


async def test_announcements_reach_a_watcher_in_commit_order_and_stopping_sends_what_waits() -> None:
    prefix = f"changes-{uuid4().hex[:8]}."
    watcher = redis.from_url(os.environ["REDIS_URL"])
    pubsub = watcher.pubsub()
    await pubsub.subscribe(changed_channel(prefix, "F1"), changed_channel(prefix, "F2"))
    for _ in range(2):  # both subscriptions confirmed before anything is announced
        confirmed = await pubsub.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "subscribe"
    changes = RedisOrderChanges(os.environ["REDIS_URL"], prefix)
    try:
        for n in range(30):  # thirty commits in a row, none waiting for Redis
            await changes.announce(
                [("F1", f"one {n}"), ("F2", f"two {n}")] if n % 3 == 0 else [("F1", f"one {n}")]
            )
        await changes.aclose()
        heard: list[tuple[str, str]] = []
        while len(heard) < 40:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            assert message is not None, f"only {len(heard)} of 40 announcements arrived"
            heard.append((message["channel"].decode(), message["data"].decode()))
    finally:
        await pubsub.aclose()
        await watcher.aclose()
    expected = []
    for n in range(30):
        expected.append((changed_channel(prefix, "F1"), f"one {n}"))
        if n % 3 == 0:
            expected.append((changed_channel(prefix, "F2"), f"two {n}"))
    assert heard == expected


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback port that takes connections and never answers: a Redis that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_commit_does_not_wait_for_a_redis_that_hangs_and_nothing_raises() -> None:
    async with silent_server() as port:
        changes = RedisOrderChanges(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        # the old announcer waited for Redis's answer here: its 0.5 s timeout, then a warning
        await asyncio.wait_for(changes.announce([("F1", "paid")]), 0.1)
        await asyncio.wait_for(changes.announce([("F1", "delivered")]), 0.1)
        await asyncio.wait_for(changes.aclose(), 5)  # gives up on what waits, without raising
