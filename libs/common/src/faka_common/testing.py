"""Test support shared by the services' tests: a throwaway database, migrated, on the Postgres server that
DATABASE_URL names (`make test` exports it), dropped again afterwards; clients of a service's app; and which
of an app's routes are scoped by the shop (the services' isolation walkers); and the statements an engine
sends (`statements_run`), for tests that count a path's round trips; and the consumer a bootstrapped service
feeds (`fed_consumer`)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from faka_common.db.engine import asyncpg_dsn
from faka_common.db.migrations import upgrade
from faka_common.http import OptionalShopScope, ShopScope
from faka_common.service_auth import ServiceCredential

T = TypeVar("T")


async def fed_consumer(service: Any) -> Any:
    """The one consumer a bootstrapped service's broker feeds, as its lanes hold it (how it gathers, lingers,
    batches); the service's engine is disposed, since nothing else of it is used."""
    try:
        [lanes] = service.runtime.broker.lanes
        return lanes.consumer
    finally:
        await service.runtime.engine.dispose()


def as_caller(service: str) -> dict[str, str]:
    """The headers `service` calls another's internal routes with (its development credential)."""
    return ServiceCredential.development(service).headers()


def asgi_client(app: ASGIApp, service: str, caller: str = "gateway") -> httpx.AsyncClient:
    """A client of a service's app over ASGI (no socket), calling its internal routes as `caller`."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{service}.test", headers=as_caller(caller)
    )


def required_env(name: str, example: str) -> str:
    """A setting the integration tests cannot run without; a clear error naming it when it is missing."""
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: integration tests need it, e.g. {name}={example} (`make test` exports it)"
        )
    return value


def server_url() -> str:
    """The Postgres server the integration tests use."""
    return required_env("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres")


def database_url_for(server: str, name: str) -> str:
    parts = urlsplit(asyncpg_dsn(server))
    return urlunsplit(parts._replace(path=f"/{name}"))


async def drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(database_url_for(server, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def migrated_database(
    prefix: str, migrations: Path | None = None, server: str | None = None
) -> AsyncIterator[str]:
    """A database named `<prefix>_<random>` that exists for the block: created at the head of `migrations`
    (a copy of a template they migrated once), or left to whoever uses it first when None; dropped
    afterwards."""
    server = server or server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = database_url_for(server, name)
    if migrations is not None:
        await _copy_of_migrated_template(server, migrations, name)
    try:
        yield url
    finally:
        await drop_database(server, name)


def _template_name(migrations: Path) -> str:
    """The template database for a migrations folder, named after everything in it (a migration added or
    edited makes a new one, so a template never stands for other migrations than the ones it ran)."""
    digest = hashlib.sha256()
    for path in sorted(migrations.rglob("*.py")):
        digest.update(str(path.relative_to(migrations)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"tmpl_{migrations.parent.name}_{digest.hexdigest()[:16]}"


#: Templates this process has built or seen (one dropped since is built again on the failed copy).
_templates: set[str] = set()


async def _copy_of_migrated_template(server: str, migrations: Path, name: str) -> None:
    """Create `name` as a copy of a database migrated to head by `migrations`.

    Running every migration for every test cost 3-4 s a test on this box (DDL and its commits); Postgres
    copies a template database in about a third of that. The template is migrated once per migrations
    folder (under a scratch name, renamed only when complete, so a run killed half-way leaves no half
    template behind) and takes no connections, which copying from it requires."""
    template = _template_name(migrations)
    admin = await asyncpg.connect(database_url_for(server, "postgres"))
    try:
        if template not in _templates:
            await _build_template(admin, server, migrations, template)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        except asyncpg.InvalidCatalogNameError:  # dropped since this process built or saw it
            await _build_template(admin, server, migrations, template)
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()


async def _build_template(admin: asyncpg.Connection, server: str, migrations: Path, template: str) -> None:
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template):
        scratch = f"tmpl_build_{uuid.uuid4().hex[:12]}"
        await upgrade(database_url_for(server, scratch), migrations)
        try:
            await admin.execute(f'ALTER DATABASE "{scratch}" RENAME TO "{template}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            await drop_database(server, scratch)  # another built it first
        else:
            await admin.execute(f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false')
    _templates.add(template)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20.0, interval: float = 0.05) -> T:  # noqa: ASYNC109
    """Poll `check` until it returns a truthy value (returned) or `timeout` seconds pass (AssertionError)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {result!r})")
        await asyncio.sleep(interval)


#: The routes `faka_common.http.create_app` gives every service (health, metrics, the API's description, with
#: docs on as in tests): none acts for a shop.
OPERATIONAL_ROUTES = frozenset(
    ("GET", path)
    for path in (
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    )
)

_SHOP_SCOPE = typing.get_args(ShopScope)[1].dependency
_OPTIONAL_SHOP_SCOPE = typing.get_args(OptionalShopScope)[1].dependency
#: How a route reads the shop, weakest first: not at all, only through OptionalShopScope, through ShopScope.
_UNSCOPED, _OPTIONAL, _SCOPED = range(3)


def _scope_of(dependant: Dependant) -> int:
    scope = _UNSCOPED
    for dependency in dependant.dependencies:  # by identity: a dependency may be an unhashable callable
        if dependency.call is _SHOP_SCOPE:
            return _SCOPED
        scope = max(scope, _OPTIONAL if dependency.call is _OPTIONAL_SHOP_SCOPE else _scope_of(dependency))
    return scope


#: A route as a walker names it: (method, path template), e.g. ("GET", "/internal/orders/{order_id}").
MethodPath = tuple[str, str]


class ShopScoping(NamedTuple):
    #: Routes that act for the shop X-Shop-Id names (through ShopScope or OptionalShopScope).
    scoped: frozenset[MethodPath]
    #: Routes that read no shop.
    unscoped: frozenset[MethodPath]
    #: The scoped routes that read the shop only through OptionalShopScope: without X-Shop-Id they act for
    #: any shop (the platform's bot, a buyer's secret, a signed payment notification).
    optional: frozenset[MethodPath]


def shop_scoping(app: FastAPI) -> ShopScoping:
    """Every route `app` serves, on the side it belongs to: scoped by the shop when what runs for it (its
    parameters' dependencies, its own and its routers' `dependencies=`, at any depth) reads the shop through
    `ShopScope` or `OptionalShopScope`, unscoped otherwise. A service's isolation walker compares the sides
    with its lists, so a route added later fails it until it is scoped (and given its isolation test) or
    listed as not shop-owned.

    Routes of included routers are there (FastAPI 0.165 lists them through `iter_route_contexts`, not in
    `app.routes`); HEAD, answered as GET is, is left out; a route without methods (a mount, a websocket) is
    listed under "*"; a route that is not FastAPI's (the docs, a mount) has no dependencies, so it is
    unscoped; a method and path registered twice counts as the weaker of the two."""
    scopes: dict[MethodPath, int] = {}
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)  # with the dependencies of the routers it is in
        scope = _scope_of(dependant) if isinstance(dependant, Dependant) else _UNSCOPED
        for method in sorted(set(context.methods or {"*"}) - {"HEAD"}):
            key = (method, str(context.path))
            scopes[key] = min(scopes.get(key, _SCOPED), scope)
    return ShopScoping(
        scoped=frozenset(k for k, scope in scopes.items() if scope != _UNSCOPED),
        unscoped=frozenset(k for k, scope in scopes.items() if scope == _UNSCOPED),
        optional=frozenset(k for k, scope in scopes.items() if scope == _OPTIONAL),
    )


#: What asyncpg sends the first time one of its connections meets a type: the codec's introspection, with
#: JIT turned off around it. Once a connection, whichever statement comes first: `statements_run` leaves it
#: out.
_INTROSPECTION = ("SELECT current_setting('jit')", "WITH RECURSIVE typeinfo_tree", "SELECT set_config('jit'")


@asynccontextmanager
async def statements_run(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Every statement the engine's connections send to Postgres while the block runs, whitespace folded:
    the driver's own query log (what the repositories send through asyncpg directly, but its introspection
    of a type new to a connection) and what SQLAlchemy runs, which that log leaves out (SQLAlchemy's adapter
    runs a statement as asyncpg's prepared statement, whose runs the driver does not log; its `executemany`
    the driver does). asyncpg hands a logged query to its loggers on the loop's next turn: the block's end
    waits for that turn, so its last statements count."""
    sent: list[str] = []
    logging = [True]
    hooked: set[int] = set()

    def log(query: Any) -> None:
        folded = " ".join(query.query.split())
        if logging[0] and not folded.startswith(_INTROSPECTION):
            sent.append(folded)

    def on_checkout(dbapi_connection: Any, *_: Any) -> None:
        raw = dbapi_connection.driver_connection
        if id(raw) not in hooked:
            hooked.add(id(raw))
            raw.add_query_logger(log)

    def on_execute(*args: Any) -> None:
        statement, executemany = args[2], args[5]
        if not executemany:
            sent.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "checkout", on_checkout)
    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield sent
        await asyncio.sleep(0)  # the loggers' turn (`call_soon`)
    finally:
        logging[0] = False
        event.remove(engine.sync_engine, "checkout", on_checkout)
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
