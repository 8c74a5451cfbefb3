"""The gateway's read of an order page against the real Redis at REDIS_URL: the page as the order service
keeps it (faka_common.contracts.order_watch), None for none kept, and None at once from a Redis that does
not answer (the stream then reads the order)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
import redis.asyncio as redis
from faka_common.contracts.order_watch import OPENED, announcement, opened_view, page_key, seal
from gateway.adapters.order_changes import RedisOrderChanges

pytestmark = pytest.mark.integration

TOKEN = "AAAAAGk0eX4fP1cx5w2-vJb_QZ3qH0sT9yK8d7Lr6Nm4Po2Uw"


async def test_a_kept_page_is_read_as_kept_and_an_unkept_one_is_none() -> None:
    prefix = f"pages-{uuid.uuid4().hex[:8]}."
    sealed = seal({"order_no": "G1", "status": "pending_risk", "title": "月卡"}, TOKEN)
    assert sealed is not None
    writer = redis.from_url(os.environ["REDIS_URL"])
    changes = RedisOrderChanges(os.environ["REDIS_URL"], prefix)
    try:
        await writer.hset(
            page_key(prefix, "G1"), mapping={OPENED: sealed, "reserving": announcement("reserving")}
        )
        page = await changes.page("G1")
        missing = await changes.page("G2")
    finally:
        await changes.aclose()
        await writer.aclose()
    assert page == {OPENED: sealed, "reserving": "reserving"}
    assert page is not None and opened_view(page, TOKEN) == {
        "order_no": "G1",
        "status": "pending_risk",
        "title": "月卡",
    }
    assert missing is None


async def test_a_redis_that_does_not_answer_gives_no_page_within_its_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    changes = RedisOrderChanges(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        began = time.monotonic()
        assert await changes.page("G1") is None
        assert time.monotonic() - began < 2
    finally:
        await changes.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
