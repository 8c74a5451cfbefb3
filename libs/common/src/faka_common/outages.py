"""Whether an error means a server the code needs (Postgres, Redis, Kafka) is down rather than a bug or bad
input: a consumer then waits and tries the record again without counting an attempt, and an HTTP route
answers 503 with Retry-After instead of 500."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka import errors as kafka_errors
from redis import exceptions as redis_errors
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

__all__ = ["OUTAGES", "dependency_down", "retry_while_down"]

log = logging.getLogger(__name__)

#: What a server the handler needs says when it is down, restarting or gone mid-query.
OUTAGES: tuple[type[Exception], ...] = (
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up, recovering after a crash
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    kafka_errors.KafkaConnectionError,  # the broker down or restarting
    kafka_errors.KafkaTimeoutError,
)


def dependency_down(error: BaseException) -> bool:
    """Whether `error`, or an error behind it, says the database, Redis or another server the handler
    needs is unreachable. Time fixes that, not the record: it is no attempt, and never a dead letter."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OUTAGES):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


async def retry_while_down(
    what: str, step: Callable[[], Awaitable[T]], give_up_after: float, interval: float = 2.0
) -> T:
    """Run `step`; while it fails because a server it needs is down, say so in one warning line and try again
    every `interval` seconds. Any other error, or the outage still there after `give_up_after` seconds,
    goes to the caller (a process then exits, and its supervisor starts it again)."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            return await step()
        except Exception as error:
            if not dependency_down(error) or time.monotonic() >= deadline:
                raise
            log.warning(
                "%s waits for a server that is down (%s: %s); retrying in %.1f s",
                what, type(error).__name__, error, interval,
            )  # fmt: skip
        await asyncio.sleep(interval)
