"""A service started while Kafka is unreachable waits for it (one warning line per try) and starts once the
broker answers, instead of exiting to be restarted; an error that is not an outage still stops the start at
once. Against the real broker, reached through a loopback port that opens only later."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

import pytest
from faka_common.outages import retry_while_down
from faka_common.runtime import Runtime
from faka_common.settings import ServiceSettings
from faka_common.testing import migrated_database
from merchant.config import MIGRATIONS

pytestmark = pytest.mark.asyncio


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def forwarding(port: int, to: str) -> AsyncIterator[None]:
    """Listen on `port` and forward each connection to `to` (host:port): the broker becoming reachable."""
    host, target = to.rsplit(":", 1)

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(target))
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def test_a_service_started_while_kafka_is_down_waits_and_starts_when_it_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = unused_port()
    async with migrated_database("startwait", MIGRATIONS) as url:
        settings = ServiceSettings(
            service_name="startwait", environment="development", database_url=url,
            kafka_bootstrap_servers=f"127.0.0.1:{port}", kafka_namespace="startwait.",
        )  # fmt: skip
        runtime = Runtime(settings, MIGRATIONS)
        starting = asyncio.create_task(runtime.start())  # its JSON log lines go to stdout
        done, _ = await asyncio.wait({starting}, timeout=3)
        assert not done, "the service gave up (or went on) while the broker was unreachable"
        assert "starting waits for a server that is down (KafkaConnectionError" in capsys.readouterr().out
        async with forwarding(port, os.environ["KAFKA_BOOTSTRAP_SERVERS"]):
            await asyncio.wait_for(starting, timeout=90)
            await runtime.stop()


async def test_an_error_that_is_not_an_outage_is_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not a server being down")

    with pytest.raises(ValueError, match="a bug"):
        await retry_while_down("starting", broken, give_up_after=60, interval=0.01)
    assert calls == 1


async def test_an_outage_that_outlasts_the_wait_is_raised() -> None:
    async def down() -> None:
        raise ConnectionRefusedError("nothing listens")

    with pytest.raises(ConnectionRefusedError):
        await retry_while_down("starting", down, give_up_after=0.05, interval=0.01)
