"""The decision path kept fast: rule sets and trailing means are kept in process, a decision reads nothing
from the database once they are kept, and one Redis round trip checks the kept rule sets are the published
ones, so a change made through another replica still applies to the next order; rule sets Redis lost are
published again by the first decision that notices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts.risk_rules import rules_key
from faka_common.testing import asgi_client
from redis.asyncio import Redis
from risk.bootstrap import Service, bootstrap
from risk.config import Settings
from risk.service_layer import handlers
from sqlalchemy import event

from .conftest import the_app
from .test_rule_engine import decide, order, set_rules
from .test_rule_publication import forget, published

pytestmark = pytest.mark.integration

BLOCK_EXAMPLE = {"type": "blocklist", "email_domains": ["example.com"]}


@pytest.fixture
async def other_replica(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """A second risk process on the same database and Redis, with its own API."""
    settings: Settings = service.runtime.settings  # type: ignore[assignment]
    other = bootstrap(settings.model_copy())
    try:
        async with asgi_client(the_app(other), "risk") as client:
            yield client
    finally:
        await other.decider.counters.aclose()
        await other.runtime.engine.dispose()


@contextmanager
def statements(service: Service) -> Iterator[list[str]]:
    """The SQL the service sends while the block runs: through SQLAlchemy, and straight on the asyncpg
    connection of a session (`faka_common.db.uow.fetch_rows`), which SQLAlchemy's events do not see; the
    transactions' BEGIN and COMMIT left out."""
    sent: list[str] = []
    logged: list[Any] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2]))

    def record_driver(query: Any) -> None:
        if query.query.rstrip(";") not in ("BEGIN", "COMMIT", "ROLLBACK"):
            sent.append(query.query)

    def log_driver(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(record_driver)
        logged.append(driver)

    sync_engine = service.runtime.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    event.listen(sync_engine.pool, "checkout", log_driver)
    try:
        yield sent
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
        event.remove(sync_engine.pool, "checkout", log_driver)
        for driver in logged:
            driver.remove_query_logger(record_driver)


async def decision(service: Service, shop: UUID, **kwargs: Any) -> handlers.Decision:
    placed = order(shop, **kwargs)
    async with service.uow() as uow:
        decided, _ = await handlers.decision_on(handlers.facts_of(placed), uow, service.decider)
    return decided


async def test_once_the_rules_and_means_are_kept_a_decision_reads_nothing_from_the_database(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, product = uuid4(), uuid4()
    await set_rules(
        api,
        shop,
        {"type": "velocity", "per": "ip", "limit": 50, "window_seconds": 60},
        {"type": "amount_above_mean", "factor": "3", "min_samples": 1},
    )
    await decision(service, shop, product=product)
    with statements(service) as sent:
        for i in range(5):
            assert (await decision(service, shop, product=product, ip=f"198.51.100.{i}")).verdict == "approve"
    assert sent == []


async def test_a_rule_changed_through_another_replica_applies_to_this_ones_next_order(
    service: Service, other_replica: httpx.AsyncClient
) -> None:
    shop = uuid4()
    assert (await decide(service, order(shop)))["verdict"] == "approve"
    version = await set_rules(other_replica, shop, BLOCK_EXAMPLE)
    after = await decide(service, order(shop))
    assert after["verdict"] == "reject" and after["rules_version"] == version


async def test_rules_redis_lost_are_published_again_and_still_decide(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    version = await set_rules(api, shop, BLOCK_EXAMPLE)
    assert (await decide(service, order(shop)))["rules_version"] == version
    await forget(service, str(shop))
    again = await decide(service, order(shop))
    assert again["verdict"] == "reject" and again["rules_version"] == version
    assert (await published(service, str(shop)))["version"] == str(version)


async def test_a_newer_version_in_redis_than_in_the_database_cannot_stall_decisions(service: Service) -> None:
    shop = uuid4()
    store = Redis.from_url(str(service.runtime.settings.redis_url))
    try:
        key = rules_key(service.runtime.settings.kafka_namespace, str(shop))
        await store.hset(key, mapping={"version": 99, "challenges": "[]"})
    finally:
        await store.aclose()
    decided = await decision(service, shop)
    assert decided.verdict == "approve" and decided.rules_version is None


async def test_an_order_a_full_window_sends_to_review_is_still_counted_in_the_same_round_trip(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(
        api,
        shop,
        {"type": "velocity", "per": "ip", "limit": 2, "window_seconds": 60, "action": "review"},
        {"type": "velocity", "per": "ip", "limit": 3, "window_seconds": 61},
    )
    verdicts = [(await decide(service, order(shop, email=f"b{i}@example.com")))["verdict"] for i in range(4)]
    # the third went to review and was counted, so the fourth meets the reject limit of three
    assert verdicts == ["approve", "approve", "review", "reject"]
