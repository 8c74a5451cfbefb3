"""The outbox and inbox keep what they must and no more: published rows a day, claims two weeks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faka_common.db.tables import inbox, outbox
from faka_common.messaging import retention
from faka_common.messaging.retention import Retention, sweep, uuid7_floor
from faka_common.runtime import Runtime
from faka_common.settings import ServiceSettings
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from uuid6 import uuid7

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def v7_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 as one made at `moment` would be (its time bits, then random ones)."""
    return uuid.UUID(int=uuid7_floor(moment).int | (uuid7().int & ((1 << 80) - 1)))


async def add_outbox(engine: AsyncEngine, note: str, created: datetime, published: datetime | None) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(outbox).values(
                event_id=uuid7(), topic="t", key=note, type="T", value=b"{}", created_at=created,
                published_at=published,
            )
        )  # fmt: skip


async def outbox_keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(outbox.c.key).order_by(outbox.c.id))).scalars())


async def add_claim(engine: AsyncEngine, consumer: str, event_id: uuid.UUID, processed: datetime) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(inbox).values(consumer=consumer, event_id=event_id, type="T", processed_at=processed)
        )


async def claims(engine: AsyncEngine) -> set[tuple[str, uuid.UUID]]:
    async with engine.connect() as connection:
        return {(row.consumer, row.event_id) for row in await connection.execute(select(inbox))}


def test_the_floor_of_a_moment_sorts_below_every_uuid7_made_from_it_on_and_above_every_one_before() -> None:
    moment = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert v7_at(moment - timedelta(milliseconds=1)) < uuid7_floor(moment) <= v7_at(moment)
    assert uuid7_floor(moment) <= v7_at(moment + timedelta(days=1))
    assert uuid7_floor(NOW) <= uuid7()


async def test_published_outbox_rows_go_after_a_day_and_unpublished_ones_never(engine: AsyncEngine) -> None:
    await add_outbox(engine, "published two days ago", NOW - timedelta(days=2), NOW - timedelta(days=2))
    await add_outbox(engine, "unpublished for three days", NOW - timedelta(days=3), None)
    await add_outbox(engine, "published 23 hours ago", NOW - timedelta(days=2), NOW - timedelta(hours=23))
    await add_outbox(engine, "published now", NOW, NOW)
    removed = await sweep(engine, "svc", [], Retention(outbox=timedelta(hours=24)), now=NOW)
    assert removed == {"outbox": 1, "inbox": 0}
    assert await outbox_keys(engine) == [
        "unpublished for three days",
        "published 23 hours ago",
        "published now",
    ]


async def test_a_consumers_claims_go_after_two_weeks_and_nothing_else_does(engine: AsyncEngine) -> None:
    old = NOW - timedelta(days=20)
    gone = {("mine", v7_at(old)) for _ in range(3)}
    for consumer, event_id in gone:
        await add_claim(engine, consumer, event_id, old)
    low, high = uuid.UUID(int=1), uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")  # ids of another kind
    processed = {
        ("mine", v7_at(NOW - timedelta(days=13))): NOW - timedelta(days=13),  # inside the two weeks
        ("other", v7_at(old)): old,  # another consumer's, not swept by this one
        ("mine", low): NOW,  # below every v7 id, but handled just now
        ("mine", high): old,  # handled long ago, but above every v7 id of then
    }
    for (consumer, event_id), at in processed.items():
        await add_claim(engine, consumer, event_id, at)
    removed = await sweep(engine, "svc", ["mine"], Retention(inbox=timedelta(days=14)), now=NOW)
    assert removed == {"outbox": 0, "inbox": 3}
    assert await claims(engine) == set(processed)


async def test_a_sweep_takes_many_rows_in_bounded_statements_and_stops_after_its_rounds(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 3)
    monkeypatch.setattr(retention, "ROUNDS", 2)
    for index in range(8):
        await add_outbox(engine, f"old {index}", NOW - timedelta(days=2), NOW - timedelta(days=2))
    keep = Retention(outbox=timedelta(hours=1))
    assert (await sweep(engine, "svc", [], keep, now=NOW))["outbox"] == 6  # two rounds of three
    assert await outbox_keys(engine) == ["old 6", "old 7"]  # the oldest went first
    assert (await sweep(engine, "svc", [], keep, now=NOW))["outbox"] == 2


def rows_looked_at(plan: dict[str, Any]) -> int:
    """The rows a plan's scans read (what they returned and what their filters dropped), all nodes."""
    own = plan.get("Rows Removed by Filter", 0)
    if "Scan" in plan["Node Type"]:
        own += plan["Actual Rows"]
    return int(own) + sum(rows_looked_at(child) for child in plan.get("Plans", []))


async def test_a_sweep_reads_the_rows_it_removes_not_the_day_it_keeps(engine: AsyncEngine) -> None:
    await add_outbox(engine, "published two days ago", NOW - timedelta(days=2), NOW - timedelta(days=2))
    await add_outbox(engine, "unpublished for three days", NOW - timedelta(days=3), None)
    async with engine.begin() as connection:  # the day's rows, published a moment after they were made
        await connection.execute(
            text(
                "INSERT INTO outbox (event_id, topic, key, type, value, created_at, published_at) "
                "SELECT gen_random_uuid(), 't', 'kept', 'T', '{}', :now, :now FROM generate_series(1, 3000)"
            ),
            {"now": NOW},
        )
        await connection.execute(text("ANALYZE outbox"))  # as autovacuum would, after so many rows
    before = NOW - timedelta(hours=24)
    looked = 0
    async with engine.connect() as connection:  # rolled back when it closes: the purge is only explained
        explain = "EXPLAIN (ANALYZE, FORMAT JSON) "
        found = await connection.execute(text(explain + retention.OUTBOX_KEPT_FROM.text), {"before": before})
        looked += rows_looked_at(found.scalar_one()[0]["Plan"])
        below = (await connection.execute(retention.OUTBOX_KEPT_FROM, {"before": before})).scalar_one()
        params = {"before": before, "below": below, "batch": retention.BATCH}
        purged = await connection.execute(text(explain + retention.OUTBOX_PURGE.text), params)
        looked += rows_looked_at(purged.scalar_one()[0]["Plan"])
    assert looked <= 10  # not the 3,002 the outbox holds
    removed = await sweep(engine, "svc", [], Retention(outbox=timedelta(hours=24)), now=NOW)
    assert removed == {"outbox": 1, "inbox": 0}
    assert set(await outbox_keys(engine)) == {"unpublished for three days", "kept"}


async def test_only_the_relays_leader_sweeps(fresh_database: str, engine: AsyncEngine) -> None:
    await add_outbox(engine, "published long ago", NOW - timedelta(days=9), NOW - timedelta(days=9))
    settings = ServiceSettings(service_name="sweeper", database_url=fresh_database)
    runtime = Runtime(settings, migrations=Path("."))
    try:
        assert await runtime.sweep() == {}  # not leading the relay: another replica sweeps
        assert await outbox_keys(engine) == ["published long ago"]
        runtime.relay.is_leader = True
        assert await runtime.sweep() == {"outbox": 1, "inbox": 0}
        assert await outbox_keys(engine) == []
    finally:
        await runtime.engine.dispose()
