"""The end-to-end benchmark's own judgement: when a step counts as held, how e-mails are matched to orders,
and how a process's CPU is found and read from /proc."""

from __future__ import annotations

import os
import socket
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from faka_common.testing import database_url_for, drop_database

from bench.e2e import (
    Mailbox,
    Step,
    counted_between,
    hop_latencies,
    paid_not_delivered,
    per_order,
    percentile,
    server_url,
    slope_growth,
    statement_counts,
    summarize,
    table,
)
from bench.procstat import Group, age, listener, stat


def buyer(number: int, start: float, paid_after: float, **overrides: Any) -> dict[str, Any]:
    arrival = start + number * 0.5
    record = {
        "number": number, "arrival": arrival, "email": f"b{number}@example.com", "order_no": f"F{number}",
        "stage": "await delivery", "lookup_retries": 0,
        "outcome": "delivered", "error": "", "place_started": arrival, "placed": arrival + 0.05,
        "awaiting_seen": arrival + 0.3, "notify_started": arrival + 0.3, "notify_acked": arrival + 0.32,
        "notify_attempts": 1, "notify_result": "accepted", "delivered_seen": arrival + paid_after + 0.5,
        "polls_to_awaiting": 2, "polls_to_delivered": 2, "created_at": arrival,
        "paid_at": arrival + paid_after, "delivered_at": arrival + paid_after + 0.2, "keys": [f"K{number}"],
    }  # fmt: skip
    record.update(overrides)
    return record


def step_at_two_per_second(lag: list[float], paid_after: float = 0.4, **overrides: Any) -> Step:
    step = Step(rate=2.0, hold=10.0, warmup=2.0, start_at=1000.0, cpu_window=12.0, wall=12.0)
    step.buyers = [buyer(n, step.start_at, paid_after, **overrides) for n in range(20)]
    step.samples = [(step.start_at + 2 + i, value, 0.0) for i, value in enumerate(lag)]
    step.cpu = {"order": 2.4, "(machine busy)": 6.0}
    return step


GROUPS = [Group("order", [1])]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 99.9) == 100.0
    assert percentile([], 99) is None


def test_growth_is_the_fitted_rise_over_the_span_so_one_noisy_sample_does_not_decide() -> None:
    assert slope_growth([(t, 5.0 * t) for t in range(10)]) == 45.0
    assert abs(slope_growth([(0, 3.0), (1, 9.0), (2, 3.0), (3, 3.0), (4, 3.0)])) < 3


def test_a_step_with_every_buyer_served_and_flat_lag_is_held(tmp_path: Path) -> None:
    summary = summarize(
        step_at_two_per_second([4, 6, 5, 4, 6, 5, 5, 4]), GROUPS, Mailbox(tmp_path), workers=1
    )
    assert summary["held"], summary["why_not_held"]
    assert summary["paid_per_s"] == 2.0
    assert summary["paid_to_delivered_ms"]["p99"] == 200.0
    assert summary["cpu_ms_per_order"]["order"] == 120.0


def test_the_table_says_which_step_began_on_what_an_earlier_step_left(tmp_path: Path) -> None:
    """A bisection step after a failed one used to start on its backlog and fail for it: the ramp now
    waits it out, and a step that still began on one says so beside its figures."""
    clean = summarize(step_at_two_per_second([4, 5, 4, 5]), GROUPS, Mailbox(tmp_path), workers=1)
    burdened = dict(clean, began_on={"lag": 312.0, "backlog": 7.0, "seconds": 180.0})
    clean["began_on"] = {"lag": 0.0, "backlog": 0.0, "seconds": 0.0}
    lines = table({"steps": [clean, burdened]}).splitlines()
    noted = [line.strip() for line in lines if "began on" in line]
    assert noted == ["began on a lag of 312 and a backlog of 7"]
    assert lines.index(next(line for line in lines if "began on" in line)) == 4  # under the second step


def test_only_orders_paid_and_short_of_their_goods_count_as_paid_not_delivered() -> None:
    """Unpaid orders whose buyers gave up (at overload, past their timeouts) are left non-terminal until
    their window ends; a paid order left undelivered is what must never be."""
    statuses = {"awaiting_payment": 284, "delivered": 6879, "paid": 2, "fulfilling": 1, "pending_risk": 3}
    assert paid_not_delivered(statuses) == 3
    assert paid_not_delivered({"awaiting_payment": 284, "delivered": 6879}) == 0


def test_a_step_whose_consumer_lag_keeps_growing_is_not_held(tmp_path: Path) -> None:
    summary = summarize(step_at_two_per_second([0, 10, 20, 30, 40, 50, 60, 70]), GROUPS, Mailbox(tmp_path), 1)
    assert not summary["held"]
    assert any("consumer lag grew" in reason for reason in summary["why_not_held"])


def test_a_step_whose_payments_trail_the_arrivals_is_not_held(tmp_path: Path) -> None:
    summary = summarize(step_at_two_per_second([0] * 8, paid_after=6.0), GROUPS, Mailbox(tmp_path), 1)
    assert not summary["held"]
    assert any("paid" in reason for reason in summary["why_not_held"])


def test_a_step_with_a_buyer_not_served_is_not_held(tmp_path: Path) -> None:
    step = step_at_two_per_second([0] * 8)
    step.buyers[3].update(outcome="failed", error="Stuck: placing answered 429: too many orders")
    summary = summarize(step, GROUPS, Mailbox(tmp_path), 1)
    assert not summary["held"]
    assert "Stuck: placing answered 429: too many orders" in " ".join(summary["failures"])


def test_buyers_turned_away_busy_are_counted_apart_from_failures_and_the_step_is_not_held(
    tmp_path: Path,
) -> None:
    """A quick 503 from a busy gateway is the platform refusing a buyer it cannot serve in time: counted
    and timed on its own (not in the placement latency of orders taken), and the step is not held."""
    step = step_at_two_per_second([0] * 8)
    for record in step.buyers[:2]:
        record.update(
            outcome="turned_away", error="place: placing answered 503 busy (Retry-After 2)", order_no="",
            placed=record["place_started"] + 0.004, awaiting_seen=0.0, notify_acked=0.0,
        )  # fmt: skip
    summary = summarize(step, GROUPS, Mailbox(tmp_path), 1)
    assert not summary["held"]
    assert summary["turned_away"] == 2
    assert summary["failures"] == {}
    assert "2 buyers turned away (503 busy)" in summary["why_not_held"]
    assert summary["turned_away_ack_ms"]["p99"] == 4.0
    assert summary["place_ack_ms"]["p50"] == 50.0


def test_mails_are_matched_to_buyers_by_recipient_and_checked_for_the_order_number(tmp_path: Path) -> None:
    (tmp_path / "old").write_bytes(b"To: b1@example.com\n\nolder mail, not this run's\n")
    mailbox = Mailbox(tmp_path)
    mail = EmailMessage()
    mail["To"] = "B1@example.com"
    mail["Subject"] = "您的订单 F202612011421483TZ1BV 已发货"
    mail.set_content("订单号：F202612011421483TZ1BV\nK-1")
    (tmp_path / "new").write_bytes(mail.as_bytes())
    mailbox.scan()
    mailbox.scan()
    assert mailbox.for_buyer({"email": "b1@example.com"})[0][1] == {"F202612011421483TZ1BV"}
    assert len(mailbox.for_buyer({"email": "b1@example.com"})) == 1
    assert mailbox.for_buyer({"email": "b2@example.com"}) == []


def test_the_process_behind_a_listening_port_is_found_and_its_cpu_read() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert listener(server.getsockname()[1]) == os.getpid()
    before = stat(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = stat(os.getpid())
    assert before is not None and after is not None
    assert after[1] > before[1]
    assert Group("me", [os.getpid()]).ticks() >= after[1]


def test_round_trips_per_order_are_what_each_database_ran_in_the_window_over_the_delivered_orders(
    tmp_path: Path,
) -> None:
    """Transactions and statements per order come from two readings of pg_stat_statements around the step:
    an entry evicted between them counts as nothing run (not as a negative), a database first seen in the
    second reading counts from zero; without the counts the figure says why instead of a number."""
    before = {"order": (100, 900), "inventory": (50, 400)}
    after = {"order": (140, 1_100), "inventory": (40, 460), "risk": (20, 60)}
    ran = counted_between(before, after)
    assert ran == {"inventory": (0, 60), "order": (40, 200), "risk": (20, 60)}
    assert per_order(ran, 20) == {
        "inventory": {"transactions": 0.0, "statements": 3.0},
        "order": {"transactions": 2.0, "statements": 10.0},
        "risk": {"transactions": 1.0, "statements": 3.0},
        "all": {"transactions": 3.0, "statements": 16.0},
    }
    assert counted_between(None, after) is None

    step = step_at_two_per_second([4, 5, 4, 5])
    step.statements = ran
    summary = summarize(step, GROUPS, Mailbox(tmp_path), workers=1)
    assert summary["postgres_per_order"]["all"] == {"transactions": 3.0, "statements": 16.0}  # 20 delivered
    row = next(line for line in table(shown(summary)).splitlines() if "Postgres per order" in line)
    assert "16.0 (3.0): order 10.0 (2.0), inventory 3.0 (0.0), risk 3.0 (1.0)" in row
    step.statements = None
    summary = summarize(step, GROUPS, Mailbox(tmp_path), workers=1)
    row = next(line for line in table(shown(summary)).splitlines() if "Postgres per order" in line)
    assert "n/a (pg_stat_statements not loaded" in row


def shown(summary: dict[str, Any]) -> dict[str, Any]:
    """The results of a run whose one step held."""
    return {"steps": [summary], "sustained": summary, "cpus": 2}


def test_the_cores_the_platform_used_are_its_cpu_over_the_window(tmp_path: Path) -> None:
    """Below the maximum a sale costs more and the platform may still fill the box: the step says how many
    cores its processes used on average (CPU seconds over the window's seconds), the load generator and the
    machine's other load not among them."""
    step = step_at_two_per_second([4, 5, 4, 5])  # order: 2.4 CPU s in a 12 s window; the machine 6.0
    summary = summarize(step, GROUPS, Mailbox(tmp_path), workers=1)
    assert summary["platform_cores"] == 0.2
    row = next(line for line in table(shown(summary)).splitlines() if line.startswith("cores the platform"))
    assert row.split()[-1] == "0.20"


@pytest.mark.integration
async def test_the_statement_counts_are_read_from_the_platforms_postgres() -> None:
    """`make infra-up` loads pg_stat_statements, and the benchmark reads each faka_ database's transactions
    and statements from it: one transaction of two statements in a database shows as exactly that."""
    if "DATABASE_URL" not in os.environ:
        pytest.skip("needs the platform's Postgres (DATABASE_URL, exported by `make test`)")
    server, name = server_url(), f"faka_counted_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        counted = await asyncpg.connect(database_url_for(server, name))
        try:
            before = await statement_counts()
            assert before is not None, "pg_stat_statements is not loaded: `make infra-up` should load it"
            async with counted.transaction():
                await counted.fetchval("SELECT 1")
                await counted.fetchval("SELECT 2 + 2")
            after = await statement_counts()
        finally:
            await counted.close()
    finally:
        await drop_database(server, name)
    ran = counted_between(before, after)
    assert ran is not None
    assert ran[name.removeprefix("faka_")] == (1, 2)


def test_a_process_age_is_the_seconds_since_it_started_and_none_for_a_process_not_there() -> None:
    """The broker's age beside a run's figures: this test's own process started before the test and after
    the machine did."""
    mine = age(os.getpid())
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert mine is not None and 0 < mine <= uptime
    assert age(None) is None
    assert age(2**22 + 7) is None  # above Linux's pid limit: never a process


def test_the_hops_of_paid_to_delivered_are_shown_under_it(tmp_path: Path) -> None:
    step = step_at_two_per_second([4, 5, 4, 5])
    step.hops = {"OrderPaid order -> inventory": {"p50": 12.5, "p99": 40.0, "n": 20}}
    rows = table(shown(summarize(step, GROUPS, Mailbox(tmp_path), workers=1))).splitlines()
    at = next(i for i, line in enumerate(rows) if line.startswith("paid->delivered p50"))
    assert "hop OrderPaid order -> inventory p50 / p99" in rows[at + 1]
    assert "12.5 / 40.0 ms (n=20)" in rows[at + 1]


@pytest.mark.integration
async def test_each_hop_runs_from_the_producers_transaction_to_the_consumers() -> None:
    """A hop is an event's outbox row's created_at to its consumer's inbox row's processed_at: events made in
    the window and consumed count, one made before the window, one not consumed yet and one consumed by
    another consumer do not."""
    if "DATABASE_URL" not in os.environ:
        pytest.skip("needs the platform's Postgres (DATABASE_URL, exported by `make test`)")
    server, prefix = server_url(), f"faka_hops_{uuid.uuid4().hex[:10]}_"
    services = ("order", "inventory", "delivery")
    admin = await asyncpg.connect(server)
    try:
        for service in services:
            await admin.execute(f'CREATE DATABASE "{prefix}{service}"')
    finally:
        await admin.close()
    t0 = 1_800_000_000.0  # the window's start, epoch seconds
    made = {"OrderPaid": ("order", "inventory"), "KeysAllocated": ("inventory", "delivery"),
            "DeliverySucceeded": ("delivery", "order")}  # fmt: skip
    try:
        for service in services:
            db = await asyncpg.connect(database_url_for(server, prefix + service))
            try:
                await db.execute(
                    "CREATE TABLE outbox (event_id uuid, type text, created_at timestamptz);"
                    "CREATE TABLE inbox (consumer text, event_id uuid, processed_at timestamptz)"
                )
            finally:
                await db.close()
        for hop, (event, (producer, consumer)) in enumerate(made.items()):
            waits = [0.010 * (hop + 1), 0.020 * (hop + 1), 0.030 * (hop + 1)]  # seconds
            rows = [(uuid.uuid4(), t0 + 1 + i, wait) for i, wait in enumerate(waits)]
            early, pending, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            out = await asyncpg.connect(database_url_for(server, prefix + producer))
            inn = await asyncpg.connect(database_url_for(server, prefix + consumer))
            try:
                made_rows = [(e, at) for e, at, _ in rows] + [
                    (early, t0 - 5),
                    (pending, t0 + 2),
                    (elsewhere, t0 + 3),
                ]
                await out.executemany(
                    "INSERT INTO outbox VALUES ($1, $2, to_timestamp($3))",
                    [(e, event, at) for e, at in made_rows],
                )
                consumed = [(consumer, e, at + wait) for e, at, wait in rows]
                consumed += [(consumer, early, t0 - 4), ("someone else", elsewhere, t0 + 3.5)]
                await inn.executemany("INSERT INTO inbox VALUES ($1, $2, to_timestamp($3))", consumed)
            finally:
                await out.close()
                await inn.close()
        hops = await hop_latencies(t0, t0 + 60, prefix=prefix)
    finally:
        for service in services:
            await drop_database(server, prefix + service)
    assert hops == {
        "OrderPaid order -> inventory": {"p50": 20.0, "p99": 30.0, "n": 3},
        "KeysAllocated inventory -> delivery": {"p50": 40.0, "p99": 60.0, "n": 3},
        "DeliverySucceeded delivery -> order": {"p50": 60.0, "p99": 90.0, "n": 3},
    }
