"""Whether an error means a server the code needs (Postgres, Redis, Kafka) is down rather than a bug or bad
input: a consumer then waits and tries the record again without counting an attempt, and an HTTP route
answers 503 with Retry-After instead of 500."""

from __future__ import annotations

import asyncpg
from aiokafka import errors as kafka_errors
from redis import exceptions as redis_errors
from sqlalchemy.exc import DBAPIError

__all__ = ["OUTAGES", "dependency_down"]

#: What a server the handler needs says when it is down, restarting or gone mid-query.
OUTAGES: tuple[type[BaseException], ...] = (
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
