"""Shared metric helpers: label values from open sets kept bounded, counters of what a transaction committed,
the HTTP responses every service gives and its database pools' use. Each service keeps its own metric
objects in `<svc>/adapters/metrics.py`; what is here is the mechanism they share."""

from __future__ import annotations

import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from faka_common.contracts.envelope import Message

log = logging.getLogger(__name__)

OTHER = "other"


class BoundedLabel:
    """Values of a label drawn from an open set (shop ids, supplier ids): the first `limit` values a process
    sees keep series of their own, every later one shares `other`. A platform with far more shops than it
    was sized for then costs at most `limit` series per metric and label set, never one per shop."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = str(value)
        if text in self._seen:
            return text
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(text)
                return text
        return OTHER


#: Shop ids as a label (the per-shop dashboard's variable); shops are made by platform admins, so a few
#: hundred is the planned size: past 500 in one process the rest are summed as `other`.
shop_label = BoundedLabel(500)

M = TypeVar("M", bound=Message)
_observers: dict[str, dict[str, Callable[[Any], None]]] = defaultdict(dict)


def on_committed(*types: type[M]) -> Callable[[Callable[[M], None]], Callable[[M], None]]:
    """Register a function called with each message of `types` once the transaction that published it has
    committed: a counter moved there counts what happened, not what was tried and rolled back (or redone
    after a deadlock). Registering the same function again replaces it."""

    def register(observer: Callable[[M], None]) -> Callable[[M], None]:
        for type_ in types:
            _observers[type_.type_name][f"{observer.__module__}.{observer.__qualname__}"] = observer
        return observer

    return register


def committed(messages: Iterable[Message]) -> None:
    """Tell the observers about messages just committed to the outbox; an observer's failure is logged and
    never reaches the caller, whose transaction is already kept."""
    for message in messages:
        for observer in _observers.get(message.type_name, {}).values():
            try:
                observer(message)
            except Exception:
                log.exception("metric observer of %s failed", message.type_name)


HTTP_RESPONSES = Counter(
    "faka_http_responses_total",
    "HTTP responses by route template and status class (2xx, 4xx, 5xx); health and metrics left out",
    ["route", "status"],
)
_UNCOUNTED = ("/health/", "/metrics")


class HttpMetrics:
    """ASGI middleware counting responses by the matched route's template (bounded by the app's routes; a
    path no route matched is `unmatched`) and status class. A request that raised counts as a 5xx."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNCOUNTED):
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: AsgiMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_RESPONSES.labels(route, f"{status // 100}xx").inc()


class DatabasePools(Collector):
    """Connections of every live engine's pool, read at scrape time, by database: in use and the most the
    pool hands out (size plus overflow). A pool always at its limit makes requests wait for a connection."""

    def __init__(self) -> None:
        self._engines: weakref.WeakSet[AsyncEngine] = weakref.WeakSet()

    def watch(self, engine: AsyncEngine) -> None:
        self._engines.add(engine)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            "faka_db_pool_in_use", "Database connections checked out of the pool", labels=["database"]
        )
        limit = GaugeMetricFamily(
            "faka_db_pool_limit",
            "Most connections the pool hands out (size plus overflow)",
            labels=["database"],
        )
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for engine in list(self._engines):
            pool = engine.sync_engine.pool
            if isinstance(pool, QueuePool):
                total = totals[str(engine.url.database)]
                total[0] += pool.checkedout()
                total[1] += pool.size() + max(pool._max_overflow, 0)
        for database, (used, most) in sorted(totals.items()):
            in_use.add_metric([database], used)
            limit.add_metric([database], most)
        yield in_use
        yield limit


database_pools = DatabasePools()
REGISTRY.register(database_pools)
