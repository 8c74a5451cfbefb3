"""A batch the Kafka consumer hands the risk service (one transaction) is decided with one Redis script call
for all of its windows, taken in arrival order, and recorded with one statement for its decisions; a
decision or its announcement stays once per order, in a batch as alone, and a rule set changed through
another replica still applies to the batch's orders. A batch of payments is recorded and frees its buyers'
unpaid places in three round trips whatever its size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts import Envelope, Message, OrderPaid, OrderPlaced
from faka_common.messaging.consumer import Delivery
from risk.adapters.counters import TAKE, Counters, RedisCounters, Take, Taken
from risk.bootstrap import Service
from sqlalchemy import text

from .conftest import emitted
from .test_fast_decisions import BLOCK_EXAMPLE, other_replica, statements
from .test_rule_engine import decide, order, paid, set_rules

pytestmark = pytest.mark.integration
__all__ = ["other_replica"]


class CountedTrips:
    """The service's Redis counters, with their round trips counted."""

    def __init__(self, counters: Counters) -> None:
        self.inner = counters
        self.trips: list[str] = []

    async def take_many(self, takes: Sequence[Take]) -> list[Taken]:
        self.trips.append(f"take_many({len(takes)})")
        return await self.inner.take_many(takes)

    async def take(self, *args: Any) -> Taken:
        self.trips.append("take")
        return await self.inner.take(*args)

    async def release_many(self, releases: Sequence[tuple[Sequence[str], str]]) -> None:
        self.trips.append(f"release_many({len(releases)})")
        await self.inner.release_many(releases)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def records(*messages: Message) -> list[Delivery]:
    return [
        Delivery(m.topic, 0, i, m.key.encode(), Envelope.wrap(m, "test").to_bytes())
        for i, m in enumerate(messages)
    ]


async def verdicts(service: Service, placed: Sequence[OrderPlaced]) -> list[dict[str, Any]]:
    found = []
    for one in placed:
        decided = [m["payload"] for m in await emitted(service, one.order_id) if m["type"] == "RiskDecided"]
        assert len(decided) == 1, decided
        found.append(decided[0])
    return found


async def test_a_batch_of_fifty_from_one_device_is_one_script_call_and_lets_the_first_five_through(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, device = uuid4(), f"batch-{uuid4().hex}"
    await set_rules(api, shop, {"type": "velocity", "per": "device", "limit": 5, "window_seconds": 60})
    placed = [order(shop, ip=f"203.0.113.{i}", email=f"b{i}@example.com", device=device) for i in range(50)]
    counters = service.decider.counters
    assert isinstance(counters, RedisCounters)
    # the script is in Redis first: another test of the suite may have restarted or flushed it, and then the
    # first EVALSHA is refused (NOSCRIPT) and sent again, which is the reload's behaviour, not this test's
    counters._take.sha = await counters._redis.script_load(TAKE)
    calls, call = [], counters._call

    async def counted_call(*args: Any) -> Any:
        calls.append(args)
        return await call(*args)

    counters._call = counted_call  # type: ignore[method-assign]
    trips = CountedTrips(counters)
    service.decider.counters = trips
    with statements(service) as sent:
        outcomes = await service.consumer.consume_batch(records(*placed))
    assert outcomes == ["handled"] * 50
    assert trips.trips == ["take_many(50)"]
    assert len(calls) == 1  # one script call (EVALSHA) for the fifty decisions' windows
    assert len([s for s in sent if s.lstrip().startswith("INSERT INTO risk_decisions")]) == 1
    decided = await verdicts(service, placed)
    assert [d["verdict"] for d in decided] == ["approve"] * 5 + ["reject"] * 45
    assert {tuple(d["fired"]) for d in decided[5:]} == {("shop.velocity[0]",)}


async def test_an_order_twice_in_a_batch_and_the_batch_again_are_decided_and_announced_once(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 1, "window_seconds": 60})
    first = order(shop, ip="192.0.2.10")
    again = first.model_copy()  # another event (another event id) of the same order
    other = order(shop, ip="192.0.2.11")
    batch = records(first, again, other)
    assert await service.consumer.consume_batch(batch) == ["handled"] * 3
    assert await service.consumer.consume_batch(batch) == ["duplicate"] * 3  # redelivered: the inbox
    assert [d["verdict"] for d in await verdicts(service, [first, other])] == ["approve", "approve"]


async def test_a_rule_set_changed_through_another_replica_applies_to_the_next_batch(
    service: Service, other_replica: httpx.AsyncClient
) -> None:
    shop = uuid4()
    placed = [order(shop, email=f"c{i}@example.com") for i in range(3)]
    assert await service.consumer.consume_batch(records(*placed)) == ["handled"] * 3
    version = await set_rules(other_replica, shop, BLOCK_EXAMPLE)
    later = [order(shop, email=f"d{i}@example.com") for i in range(3)]
    assert await service.consumer.consume_batch(records(*later)) == ["handled"] * 3
    decided = await verdicts(service, placed + later)
    assert [d["verdict"] for d in decided] == ["approve"] * 3 + ["reject"] * 3
    assert {d["rules_version"] for d in decided[3:]} == {version}


async def test_a_batch_across_shops_counts_each_shops_windows_apart(
    service: Service, api: httpx.AsyncClient
) -> None:
    shops: list[UUID] = [uuid4(), uuid4()]
    for shop in shops:
        await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 2, "window_seconds": 60})
    placed = [order(shops[i % 2], ip="192.0.2.77", email=f"e{i}@example.com") for i in range(8)]
    assert await service.consumer.consume_batch(records(*placed)) == ["handled"] * 8
    decided = await verdicts(service, placed)
    assert [d["verdict"] for d in decided] == ["approve"] * 4 + ["reject"] * 4


async def test_a_batch_taken_when_redis_lost_the_script_loads_it_and_counts_each_order_once(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 2, "window_seconds": 60})
    counters = service.decider.counters
    assert isinstance(counters, RedisCounters)
    counters._take.sha = "0" * 40  # as if Redis had restarted without the script
    trips = CountedTrips(counters)
    service.decider.counters = trips
    placed = [order(shop, ip="192.0.2.88", email=f"f{i}@example.com") for i in range(4)]
    assert await service.consumer.consume_batch(records(*placed)) == ["handled"] * 4
    assert trips.trips == ["take_many(4)"]  # loaded and taken in the batch, not order by order
    assert [d["verdict"] for d in await verdicts(service, placed)] == ["approve"] * 2 + ["reject"] * 2


async def test_a_batch_of_payments_is_three_round_trips_and_frees_each_buyers_unpaid_place(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, product = uuid4(), uuid4()
    await set_rules(api, shop, {"type": "unpaid_orders", "per": "email", "limit": 1})
    buyers = [f"payer{i}-{uuid4().hex[:6]}@example.com" for i in range(12)]
    placed = [order(shop, email=email, product=product) for email in buyers]
    for one in placed:
        assert (await decide(service, one))["verdict"] == "approve"
    # each buyer is at the limit: a second unpaid order is refused
    assert (await decide(service, order(shop, email=buyers[0], product=product)))["verdict"] == "reject"
    payments: list[OrderPaid] = [paid(one) for one in placed]
    counted = CountedTrips(service.decider.counters)
    service.decider.counters = counted
    try:
        with statements(service) as sent:
            outcomes = await service.consumer.consume_batch(records(*payments, payments[0].model_copy()))
    finally:
        service.decider.counters = counted.inner

    assert outcomes == ["handled"] * 13  # the same order paid twice in a batch: its amount once
    assert counted.trips == ["release_many(12)"]
    assert len([s for s in sent if "risk_paid_amounts" in s]) == 1, sent  # the amounts: one statement
    assert len([s for s in sent if "FROM risk_decisions" in s]) == 1, sent  # the buyers: one
    for email in buyers:  # every buyer's place is free again
        assert (await decide(service, order(shop, email=email, product=product)))["verdict"] == "approve"
    async with service.runtime.engine.connect() as connection:
        recorded = await connection.execute(
            text("SELECT order_id, amount FROM risk_paid_amounts WHERE product_id = :p"), {"p": product}
        )
        assert sorted(recorded.all()) == sorted((p.order_id, p.amount) for p in placed)
