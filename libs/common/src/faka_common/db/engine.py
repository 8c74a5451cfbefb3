"""Engines and session factories built from a service's database URL."""

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from faka_common import metrics
from faka_common.db.uow import SessionFactory


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy asyncpg form of a plain postgresql:// URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    raise ValueError("database_url must be a postgresql:// URL")


def asyncpg_dsn(database_url: str) -> str:
    """The plain libpq form asyncpg expects."""
    return "postgresql://" + sqlalchemy_url(database_url).split("://", 1)[1]


def connector(database_url: str) -> Callable[[], Awaitable[Any]]:
    """Connections made by asyncpg from the URL itself, so its libpq parameters hold everywhere (sslmode,
    sslrootcert, sslcert, ...: a managed PostgreSQL over verified TLS). SQLAlchemy would pass them on as
    keyword arguments asyncpg does not take."""
    dsn = asyncpg_dsn(database_url)
    return lambda: asyncpg.connect(dsn)


def async_engine(database_url: str, **options: Any) -> AsyncEngine:
    """An engine whose connections `connector` makes; its URL (without the libpq parameters) only names the
    server and database, e.g. for the pool metrics' `database` label."""
    named = sqlalchemy_url(database_url).split("?", 1)[0]
    return create_async_engine(named, async_creator=connector(database_url), **options)


def create_engine(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """At most twice `pool_size` connections, made when first needed and then kept: no overflow, whose
    connections SQLAlchemy closes as they come back, so a busy service opened and closed one per burst
    (asyncpg's connect, with its TLS attempt, was 3-5 % of the order and notification services' samples
    under load). No ping before each checkout (it was a round trip per transaction: ~0.45 ms of CPU each,
    measured): a connection found dead on use invalidates the pool, and that one request fails as
    `Unavailable` (503; a consumer retries it)."""
    engine = async_engine(database_url, pool_size=2 * pool_size, max_overflow=0)
    metrics.database_pools.watch(engine)
    return engine


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def reader_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for reads of one statement (a buyer's order view): each statement runs on its own, with no
    BEGIN before it nor ROLLBACK after (two round trips of three for a one-query read). Connections come
    from `engine`'s pool and go back to it in its default isolation (SQLAlchemy resets it on return), so
    a writer never gets one that commits statement by statement. Not for anything that writes in more than
    one statement, or that reads twice and needs both reads to agree (a key reveal writes its audit rows in
    the statement that reads the keys: that is one statement, atomic on its own)."""
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
