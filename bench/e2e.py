"""End-to-end benchmark: `python -m bench.e2e` (also the second part of `make bench`).

Drives the whole platform as `make up` runs it (the eight services under honcho, deploy/local/services.sh,
on the local Kafka, Postgres and Redis, the aiosmtpd mailbox in .state/mailbox/new) with an open-loop load
over the gateway on 127.0.0.1: buyers arrive at a fixed rate whatever the platform does. Each buyer places
an order, polls its order until awaiting_payment, sends the sandbox provider's signed notification to the
webhook route (POST /api/v1/payments/sandbox/notify, as a provider does, not the HTML button), polls until
delivered; its e-mail must then arrive in the mailbox. Polling is counted.

A ramp of fixed rates (each held for --hold seconds) finds the highest rate the platform holds: every
buyer of the step served, paid orders/s within 10 % of the offered rate, and no growth over the hold in
consumer lag (`faka_consumer_lag`, summed over every service's /metrics) or outbox backlog
(`faka_outbox_backlog`). For the highest rate held it reports sustained paid orders/s; paid->delivered
p50/p99/p99.9 from the order API's server timestamps (paid_at, delivered_at); webhook ack p99 and
place->awaiting_payment p99 (client clocks); CPU ms per order for every process (/proc: each service, honcho,
Kafka, all Postgres processes, Redis) and in total; and, after the whole run, dead letters (records added
to the *.dlq topics, and the consumers' dead_lettered counters), lag (back to 0 within a minute), e-mails
per delivered order (exactly one), duplicate keys (0), orders left non-terminal (0, read from the order
service's database). Beside it: the same run's raw Postgres ceiling (pgbench select-only and simple-update
on a scratch database of the same server).

The services are used as they run if they are up; if they are down the benchmark starts them (and stops
them at the end). Each buyer sends its own client address in X-Forwarded-For (10.0.0.0/8), so that the
gateway's per-address order limit (20 an hour) counts buyers, not the load generator: uvicorn believes
X-Forwarded-For from loopback peers by default (its proxy headers), and services the benchmark starts also
get TRUSTED_PROXIES=127.0.0.1/32 for the gateway's own reading of it. A gateway that counts every buyer as
127.0.0.1 answers 429 after 20 orders; the benchmark then says how to restart it. The load generator's own
CPU (its worker processes and this one) is reported apart and never counted as the platform's.

Prints a table; JSON lands in bench/results/e2e-<timestamp>.json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import secrets
import shutil
import subprocess
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from faka_common.contracts.topics import ALL as EVENT_TOPICS
from faka_common.db.engine import asyncpg_dsn
from faka_common.sandbox_payment import DEV_SANDBOX_SECRET
from faka_common.testing import database_url_for, drop_database

from bench.buyers import Plan, run_plan
from bench.procstat import CpuMeter, Group, age, listener, platform_groups
from bench.report import run_and_report
from deploy.local.local_admin import api_token

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("FAKA_STATE_DIR", ROOT / ".state"))
HOST = "127.0.0.1"
SERVICES = {
    "gateway": 8000,
    "order": 8001,
    "inventory": 8002,
    "delivery": 8003,
    "risk": 8004,
    "commission": 8005,
    "notification": 8006,
    "merchant": 8007,
}
INFRA = {"kafka": 19092, "postgres": 15432, "redis": 16379}
SMTP_PORT = 1025
GATEWAY = f"http://{HOST}:{SERVICES['gateway']}"
SANDBOX_SECRET = os.environ.get("SANDBOX_SECRET", DEV_SANDBOX_SECRET)
TERMINAL = {
    "delivered",
    "completed",
    "rejected",
    "expired",
    "cancelled",
    "delivery_failed",
    "refunded",
    "partially_refunded",
}
PAID_NOT_DELIVERED = ("paid", "fulfilling")


def paid_not_delivered(statuses: dict[str, int]) -> int:
    """Orders paid and still short of their goods, of the (status -> count) the order database gave."""
    return sum(statuses.get(status, 0) for status in PAID_NOT_DELIVERED)


METRIC = re.compile(
    r"^(faka_consumer_lag|faka_outbox_backlog|faka_consumer_messages_total)\{([^}]*)\} (\S+)$"
)
LIMIT_HINT = (
    "\nThe gateway limits orders per client address (ORDERS_PER_IP_PER_HOUR, 20 an hour by default) and "
    "every buyer comes from 127.0.0.1 unless the gateway trusts it as a proxy: restart the services with "
    "TRUSTED_PROXIES='[\"127.0.0.1/32\"]' (or stop them and let the benchmark start them)."
)
ORDER_NO = re.compile(r"F\d{14}[0-9A-Z]{6}")


def server_url() -> str:
    return asyncpg_dsn(os.environ.get("DATABASE_URL", f"postgresql://postgres@{HOST}:15432/postgres"))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def slope_growth(samples: list[tuple[float, float]]) -> float:
    """How much a series grew over its span by a least-squares line (robust to one noisy sample)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread
    return slope * (samples[-1][0] - samples[0][0])


# --- the platform ------------------------------------------------------------------------------------


async def ready(client: httpx.AsyncClient) -> bool:
    for port in SERVICES.values():
        try:
            if (await client.get(f"http://{HOST}:{port}/health/ready", timeout=3)).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    return True


def services(action: str) -> None:
    env = {**os.environ, "TRUSTED_PROXIES": json.dumps([f"{HOST}/32"])}
    bash = shutil.which("bash") or "/bin/bash"
    subprocess.run([bash, str(ROOT / "deploy/local/services.sh"), action], check=True, env=env)  # noqa: S603


@dataclass
class Metrics:
    lag: dict[str, float] = field(default_factory=dict)
    backlog: dict[str, float] = field(default_factory=dict)
    dead_lettered: float = 0.0
    parked: float = 0.0
    """Records parked on a retry topic to wait for what they depend on (a delivery before its placement)."""

    @property
    def lag_total(self) -> float:
        return sum(self.lag.values())

    @property
    def backlog_total(self) -> float:
        return sum(self.backlog.values())


async def scrape(client: httpx.AsyncClient) -> Metrics:
    """Every service's /metrics: lag per (consumer, topic), outbox backlog per service, dead letters."""
    metrics = Metrics()

    async def one(service: str, port: int) -> str:
        url = f"http://{HOST}:{port}/metrics"
        try:
            return (await client.get(url, timeout=10)).text
        except httpx.TransportError:
            # a kept connection the service closed as it was reused (idle past uvicorn's 5 s, or the
            # process restarted under the chaos run): a read, so asked once more on a new connection
            return (await client.get(url, timeout=10)).text

    pages = await asyncio.gather(*(one(s, p) for s, p in SERVICES.items()))
    for page in pages:
        for line in page.splitlines():
            found = METRIC.match(line)
            if not found:
                continue
            name, labels, value = found.group(1), found.group(2), float(found.group(3))
            if name == "faka_consumer_lag":
                metrics.lag[labels] = value
            elif name == "faka_outbox_backlog":
                metrics.backlog[labels] = value
            elif 'outcome="dead_lettered"' in labels:
                metrics.dead_lettered += value
            elif 'outcome="deferred"' in labels:
                metrics.parked += value
    return metrics


async def dead_letter_records() -> dict[str, int]:
    """Records on each of this installation's *.dlq topics (end minus start offsets, summed)."""
    namespace = os.environ.get("KAFKA_NAMESPACE", "")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", f"{HOST}:{INFRA['kafka']}")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        bases = {topic.split(".")[0] for topic in EVENT_TOPICS}
        topics = [
            t
            for t in await consumer.topics()
            if t.startswith(namespace) and t.endswith(".dlq") and t[len(namespace) :].split(".")[0] in bases
        ]
        counts: dict[str, int] = {}
        for topic in sorted(topics):
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
            counts[topic] = sum(ends[p] - starts[p] for p in parts)
        return counts
    finally:
        await consumer.stop()


class Mailbox:
    """The aiosmtpd Maildir (.state/mailbox/new): e-mails that came after the benchmark started, by the
    recipient's address, each checked for the order number it should name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = {entry.name for entry in path.iterdir()} if path.exists() else set()
        self.by_address: dict[str, list[tuple[float, set[str]]]] = {}

    def scan(self) -> None:
        if not self.path.exists():
            return
        for entry in self.path.iterdir():
            if entry.name in self.seen:
                continue
            self.seen.add(entry.name)
            try:
                message = BytesParser(policy=policy.default).parsebytes(entry.read_bytes())
                arrived = entry.stat().st_mtime
            except OSError:  # moved on by another reader
                continue
            body = message.get_body(preferencelist=("plain", "html"))
            text = f"{message.get('subject', '')}\n{body.get_content() if body is not None else ''}"
            for address in str(message.get("to", "")).split(","):
                self.by_address.setdefault(address.strip().lower(), []).append(
                    (arrived, set(ORDER_NO.findall(text)))
                )

    def for_buyer(self, buyer: dict[str, Any]) -> list[tuple[float, set[str]]]:
        return self.by_address.get(buyer["email"].lower(), [])


# --- round trips to Postgres ------------------------------------------------------------------------

#: Transactions begun and statements run (their BEGIN and COMMIT not counted) so far in each of the
#: platform's databases, by pg_stat_statements (which `make infra-up` loads).
STATEMENT_COUNTS = r"""
SELECT d.datname,
       coalesce(sum(s.calls) FILTER (WHERE s.query ILIKE 'begin%'), 0) AS transactions,
       coalesce(sum(s.calls) FILTER (
           WHERE NOT (s.query ILIKE 'begin%' OR s.query ILIKE 'commit%' OR s.query ILIKE 'rollback%')
       ), 0) AS statements
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname LIKE 'faka\_%' AND d.datname NOT LIKE 'faka\_bench%'
GROUP BY d.datname
"""

Counts = dict[str, tuple[int, int]]


async def statement_counts() -> Counts | None:
    """Per service database ("order", ...): (transactions begun, statements) so far; None when the server
    keeps no such counts (pg_stat_statements not loaded)."""
    connection = await asyncpg.connect(server_url())
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        rows = await connection.fetch(STATEMENT_COUNTS)
    except asyncpg.PostgresError:
        return None
    finally:
        await connection.close()
    return {r["datname"].removeprefix("faka_"): (int(r["transactions"]), int(r["statements"])) for r in rows}


def counted_between(before: Counts | None, after: Counts | None) -> Counts | None:
    """What each database ran between two readings (an entry evicted meanwhile counts as none)."""
    if before is None or after is None:
        return None
    return {
        name: (max(0, txns - before.get(name, (0, 0))[0]), max(0, stmts - before.get(name, (0, 0))[1]))
        for name, (txns, stmts) in sorted(after.items())
    }


def per_order(counts: Counts | None, orders: int) -> dict[str, dict[str, float]] | None:
    """Transactions and statements per order, per database and in all."""
    if counts is None:
        return None
    n = max(1, orders)
    figures = {
        name: {"transactions": round(t / n, 1), "statements": round(st / n, 1)}
        for name, (t, st) in counts.items()
    }
    figures["all"] = {
        "transactions": round(sum(t for t, _ in counts.values()) / n, 1),
        "statements": round(sum(st for _, st in counts.values()) / n, 1),
    }
    return figures


def postgres_row(step: dict[str, Any]) -> str:
    """The table's figure: in all, then per database, busiest first."""
    figures = step.get("postgres_per_order")
    if not figures:
        return "n/a (pg_stat_statements not loaded: restart Postgres with `make infra-down infra-up`)"
    each = sorted(((k, v) for k, v in figures.items() if k != "all"), key=lambda kv: -kv[1]["statements"])
    return f"{figures['all']['statements']:.1f} ({figures['all']['transactions']:.1f}): " + ", ".join(
        f"{name} {v['statements']:.1f} ({v['transactions']:.1f})" for name, v in each
    )


#: The paid->delivered path hop by hop: (producing service, event, consuming service). Each hop runs from
#: the start of the producer's transaction (its outbox row's created_at) to the start of the consumer's
#: (its inbox row's processed_at): the producer's transaction and commit, the outbox relay, Kafka, and the
#: wait for the consumer. The last hop's consumer, order, then marks the order delivered.
HOPS = (
    ("order", "OrderPaid", "inventory"),
    ("inventory", "KeysAllocated", "delivery"),
    ("delivery", "DeliverySucceeded", "order"),
)
HOP_EVENTS = """
SELECT event_id, extract(epoch FROM created_at) AS at FROM outbox
WHERE type = $1 AND created_at >= to_timestamp($2) AND created_at < to_timestamp($3)
"""
HOP_CONSUMED = """
SELECT event_id, extract(epoch FROM processed_at) AS at FROM inbox WHERE consumer = $1 AND event_id = ANY($2)
"""


async def hop_latencies(
    since: float, until: float, prefix: str = "faka_"
) -> dict[str, dict[str, float | int | None]]:
    """p50 and p99 in ms of each hop of the paid->delivered path (`HOPS`), for the events made in
    [since, until) (epoch seconds) and consumed since; an event not consumed yet is left out (n says how
    many were counted). Each service's database is `prefix` + its name."""
    server = server_url()
    found: dict[str, dict[str, float | int | None]] = {}
    for producer, event, consumer in HOPS:
        made = await _rows(database_url_for(server, prefix + producer), HOP_EVENTS, event, since, until)
        consumed = await _rows(
            database_url_for(server, prefix + consumer), HOP_CONSUMED, consumer, list(made)
        )
        waits = [consumed[event_id] - at for event_id, at in made.items() if event_id in consumed]
        found[f"{event} {producer} -> {consumer}"] = {
            "p50": ms(percentile(waits, 50)),
            "p99": ms(percentile(waits, 99)),
            "n": len(waits),
        }
    return found


async def _rows(url: str, query: str, *args: Any) -> dict[Any, float]:
    connection = await asyncpg.connect(url)
    try:
        return {row["event_id"]: float(row["at"]) for row in await connection.fetch(query, *args)}
    finally:
        await connection.close()


# --- the raw ceiling ---------------------------------------------------------------------------------


async def pgbench_ceiling(seconds: int, clients: int) -> dict[str, Any]:
    """pgbench select-only (-S) and simple-update (-N) on a scratch database of the platform's server."""
    server = server_url()
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        return {"tool": None, "note": "pgbench not installed: no ceiling"}
    name = f"faka_bench_e2e_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(server)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    parts = urlsplit(server)
    base = [
        pgbench,
        "-h",
        parts.hostname or HOST,
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
    ]
    results: dict[str, Any] = {"tool": "pgbench", "clients": clients, "seconds": seconds, "scale": 10}
    try:
        await asyncio.to_thread(
            subprocess.run, [*base, "-i", "-q", "-s", "10", name], capture_output=True, text=True, check=True
        )
        for mode, flag in (("select_only_tps", "-S"), ("simple_update_tps", "-N")):
            command = [*base, "-n", flag, "-c", str(clients), "-j", "2", "-T", str(seconds), name]
            out = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
            results[mode] = next(
                float(line.split("=")[1].split()[0])
                for line in out.stdout.splitlines()
                if line.startswith("tps")
            )
    finally:
        await drop_database(server, name)
    return results


# --- the product -------------------------------------------------------------------------------------


class Shop:
    """The benchmark's own product, created and stocked through the gateway's admin API."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        token = api_token(f"e2e bench {run_id}")
        self.admin = httpx.AsyncClient(
            base_url=GATEWAY, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        self.product_id = ""
        self.imported: set[str] = set()

    async def create(self) -> None:
        created = await self.admin.post(
            "/api/admin/products",
            json={
                "title": f"e2e bench {self.run_id}",
                "price": 100,
                "currency": "CNY",
                "delivery_type": "card_key",
                "usage_instructions": "benchmark key",
                "visible": False,
            },
        )
        created.raise_for_status()
        self.product_id = created.json()["product_id"]

    async def available(self) -> int:
        product = (await self.admin.get(f"/api/admin/products/{self.product_id}")).raise_for_status().json()
        return int(product["stock"]["available"])

    async def stock_up(self, wanted: int, chunk: int = 10_000) -> int:
        """Import keys until at least `wanted` are available; returns how many were imported."""
        missing = wanted - await self.available()
        added = 0
        while missing > 0:
            size = min(chunk, missing)
            keys = [
                f"E2E-{self.run_id}-{len(self.imported) + i:08d}-{secrets.token_hex(4).upper()}"
                for i in range(size)
            ]
            answer = await self.admin.post(
                f"/api/admin/products/{self.product_id}/keys",
                content="\n".join(keys).encode(),
                headers={"Content-Type": "text/plain"},
            )
            answer.raise_for_status()
            self.imported.update(keys)
            missing -= size
            added += size
        return added

    async def close(self) -> None:
        await self.admin.aclose()


async def order_statuses(product_id: str) -> dict[str, int]:
    """Every order of the benchmark's product by status, from the order service's database (`orders`)."""
    connection = await asyncpg.connect(database_url_for(server_url(), "faka_order"))
    try:
        rows = await connection.fetch(
            "SELECT status, count(*) AS n FROM orders WHERE product_id = $1 GROUP BY status",
            uuid.UUID(product_id),
        )
    finally:
        await connection.close()
    return {row["status"]: int(row["n"]) for row in rows}


# --- one step ----------------------------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    hold: float
    warmup: float
    buyers: list[dict[str, Any]] = field(default_factory=list)
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, lag, backlog)
    cpu: dict[str, float] = field(default_factory=dict)
    workers_cpu: float = 0.0
    parent_cpu: float = 0.0
    wall: float = 0.0
    cpu_window: float = 0.0
    start_at: float = 0.0
    email_wait: float = 0.0
    statements: Counts | None = None  # what each database ran over the CPU window
    hops: dict[str, dict[str, float | int | None]] | None = None  # paid->delivered hop by hop


class Bench:
    def __init__(self, args: argparse.Namespace, meter: CpuMeter, shop: Shop, mailbox: Mailbox) -> None:
        self.args = args
        self.meter = meter
        self.shop = shop
        self.mailbox = mailbox
        # kept connections expire before uvicorn closes them (5 s idle), so none is reused as it closes
        self.client = httpx.AsyncClient(timeout=10, limits=httpx.Limits(keepalive_expiry=2.0))
        self.pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"))
        self.numbered = 0
        self.all_buyers: list[dict[str, Any]] = []
        self.address_base = secrets.randbelow(0xFFFFFF)

    async def close(self) -> None:
        await self.client.aclose()
        self.pool.shutdown()

    async def run_step(self, rate: float, hold: float, warmup: float) -> Step:
        step = Step(rate, hold, warmup)
        await self.shop.stock_up(int(rate * hold * 1.1) + 20)
        count = int(rate * hold)
        counts_before = await statement_counts()
        cpu_before, window_began = self.meter.snapshot(), time.monotonic()
        parent_before = resource.getrusage(resource.RUSAGE_SELF)
        began = time.time()
        step.start_at = began + 1.0
        plans = [
            Plan(
                gateway=GATEWAY,
                product_id=self.shop.product_id,
                sandbox_secret=SANDBOX_SECRET,
                run_id=self.shop.run_id,
                rate=rate,
                start_at=step.start_at,
                seconds=hold,
                first=k,
                stride=self.args.workers,
                number_base=self.numbered,
                address_base=self.address_base,
                poll_interval=self.args.poll_interval,
                follow=self.args.follow,
                stage_timeout=self.args.stage_timeout,
            )
            for k in range(self.args.workers)
        ]
        self.numbered += count
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self.pool, run_plan, plan) for plan in plans]
        done = asyncio.gather(*futures)
        while not done.done():
            try:
                metrics = await scrape(self.client)
                step.samples.append((time.time(), metrics.lag_total, metrics.backlog_total))
            except httpx.HTTPError:
                pass
            await asyncio.wait({done}, timeout=self.args.sample_interval)
        for report in await done:
            step.buyers += report["buyers"]
            step.workers_cpu += report["cpu_seconds"]
        self.all_buyers += step.buyers
        # the e-mail is part of each sale: the CPU window closes when every delivered buyer has it
        started = time.monotonic()
        delivered = [b for b in step.buyers if b["outcome"] == "delivered"]
        while time.monotonic() - started < self.args.email_timeout:
            self.mailbox.scan()
            if all(self.mailbox.for_buyer(b) for b in delivered):
                break
            await asyncio.sleep(0.5)
        step.email_wait = time.monotonic() - started
        step.cpu = CpuMeter.seconds(cpu_before, self.meter.snapshot())
        step.cpu_window = time.monotonic() - window_began
        step.statements = counted_between(counts_before, await statement_counts())
        with contextlib.suppress(asyncpg.PostgresError, OSError):
            step.hops = await hop_latencies(step.start_at + warmup, step.start_at + hold)
        parent_after = resource.getrusage(resource.RUSAGE_SELF)
        step.parent_cpu = (parent_after.ru_utime - parent_before.ru_utime) + (
            parent_after.ru_stime - parent_before.ru_stime
        )
        step.wall = time.time() - began
        return step

    async def idle(self, seconds: float) -> dict[str, float]:
        """CPU per second of every process with no load (background loops, lag sampling, relay polls)."""
        before = self.meter.snapshot()
        await asyncio.sleep(seconds)
        return {
            name: 1000 * value / seconds
            for name, value in CpuMeter.seconds(before, self.meter.snapshot()).items()
        }


def ms(value: float | None) -> float | None:
    return None if value is None else round(1000 * value, 1)


def summarize(
    step: Step, groups: list[Group], mailbox: Mailbox, workers: int, idle: dict[str, float] | None = None
) -> dict[str, Any]:
    """A step's figures and whether it held. CPU per order is gross (everything the processes did while the
    step ran, over its delivered orders) and, given the idle rates, net of what they burn with no load."""
    buyers = step.buyers
    delivered = [b for b in buyers if b["outcome"] == "delivered"]
    failures = Counter(b["error"][:160] for b in buyers if b["outcome"] not in ("delivered", "turned_away"))
    turned_away = [b for b in buyers if b["outcome"] == "turned_away"]
    window = (step.start_at + step.warmup, step.start_at + step.hold)
    span = window[1] - window[0]
    paid_in_window = sum(1 for b in delivered if b["paid_at"] and window[0] <= b["paid_at"] < window[1])
    paid_rate = paid_in_window / span if span > 0 else 0.0
    in_window = [(t, lag, backlog) for t, lag, backlog in step.samples if window[0] <= t <= window[1]]
    lag_growth = slope_growth([(t, lag) for t, lag, _ in in_window])
    backlog_growth = slope_growth([(t, backlog) for t, _, backlog in in_window])
    lag_tolerance, backlog_tolerance = max(20.0, 2 * step.rate), max(10.0, step.rate)
    reasons = []
    if failures:
        reasons.append(f"{sum(failures.values())} buyers not served")
    if turned_away:
        reasons.append(f"{len(turned_away)} buyers turned away (503 busy)")
    if paid_rate < 0.9 * step.rate:
        reasons.append(f"paid {paid_rate:.2f}/s < 90% of offered")
    if lag_growth > lag_tolerance:
        reasons.append(f"consumer lag grew by {lag_growth:.0f}")
    if backlog_growth > backlog_tolerance:
        reasons.append(f"outbox backlog grew by {backlog_growth:.0f}")
    paid_to_delivered = [
        b["delivered_at"] - b["paid_at"] for b in delivered if b["paid_at"] and b["delivered_at"]
    ]
    webhook = [b["notify_acked"] - b["notify_started"] for b in buyers if b["notify_acked"]]
    place_to_awaiting = [b["awaiting_seen"] - b["place_started"] for b in buyers if b["awaiting_seen"]]
    place = [b["placed"] - b["place_started"] for b in buyers if b["placed"] and b["order_no"]]
    refusal = [b["placed"] - b["place_started"] for b in turned_away]
    lateness = [b["place_started"] - b["arrival"] for b in buyers if b["place_started"]]
    emails = [mailbox.for_buyer(b) for b in delivered]
    email_latency = [
        arrived - b["delivered_at"]
        for b, mails in zip(delivered, emails, strict=True)
        for arrived, _ in mails[:1]
        if b["delivered_at"]
    ]
    n = max(1, len(delivered))
    platform_names = [g.name for g in groups if g.platform]
    cpu_ms = {g.name: round(1000 * step.cpu.get(g.name, 0.0) / n, 1) for g in groups}
    idle_s = {name: rate / 1000 * step.cpu_window for name, rate in (idle or {}).items()}
    net_ms = {
        g.name: round(1000 * max(0.0, step.cpu.get(g.name, 0.0) - idle_s[g.name]) / n, 1)
        for g in groups
        if g.name in idle_s
    }
    platform_total = sum(step.cpu.get(name, 0.0) for name in platform_names)
    loadgen = step.workers_cpu + step.parent_cpu
    others = sum(step.cpu.get(g.name, 0.0) for g in groups if not g.platform and g.part_of is None)
    accounted = platform_total + loadgen + others
    polls = sum(b["polls_to_awaiting"] + b["polls_to_delivered"] for b in buyers)
    return {
        "offered_per_s": step.rate,
        "hold_s": step.hold,
        "warmup_s": step.warmup,
        "buyers": len(buyers),
        "delivered": len(delivered),
        "failures": dict(failures.most_common(5)),
        "held": not reasons,
        "why_not_held": reasons,
        "paid_per_s": round(paid_rate, 2),
        "lag_growth": round(lag_growth, 1),
        "lag_tolerance": lag_tolerance,
        "backlog_growth": round(backlog_growth, 1),
        "backlog_tolerance": backlog_tolerance,
        "lag_max": max((lag for _, lag, _ in step.samples), default=0.0),
        "backlog_max": max((backlog for _, _, backlog in step.samples), default=0.0),
        "paid_to_delivered_ms": {
            "p50": ms(percentile(paid_to_delivered, 50)),
            "p99": ms(percentile(paid_to_delivered, 99)),
            "p99.9": ms(percentile(paid_to_delivered, 99.9)),
            "n": len(paid_to_delivered),
            "source": "order API paid_at / delivered_at (server timestamps)",
        },
        "webhook_ack_ms": {
            "p50": ms(percentile(webhook, 50)),
            "p99": ms(percentile(webhook, 99)),
            "n": len(webhook),
        },
        "place_to_awaiting_payment_ms": {
            "p50": ms(percentile(place_to_awaiting, 50)),
            "p99": ms(percentile(place_to_awaiting, 99)),
            "n": len(place_to_awaiting),
        },
        "place_ack_ms": {"p50": ms(percentile(place, 50)), "p99": ms(percentile(place, 99))},
        "turned_away": len(turned_away),
        "turned_away_ack_ms": {"p50": ms(percentile(refusal, 50)), "p99": ms(percentile(refusal, 99))},
        "delivered_to_email_ms": {
            "p50": ms(percentile(email_latency, 50)),
            "p99": ms(percentile(email_latency, 99)),
        },
        "notify_retries": sum(max(0, b["notify_attempts"] - 1) for b in buyers),
        "lookup_retries": sum(b["lookup_retries"] for b in buyers),
        "notify_results": dict(Counter(b["notify_result"] for b in buyers)),
        "polls": polls,
        "polls_per_order": round(polls / max(1, len(buyers)), 1),
        "arrival_lateness_ms": {"p99": ms(percentile(lateness, 99)), "max": ms(max(lateness, default=None))},
        "cpu_ms_per_order": cpu_ms,
        "cpu_ms_per_order_platform_total": round(1000 * platform_total / n, 1),
        # below the maximum a sale costs more (its records come alone: a wake, a transaction each) and the
        # platform may still use the whole box: this says how much of it (docs/scaling.md)
        "platform_cores": round(platform_total / max(step.cpu_window, 1e-9), 2),
        "cpu_ms_per_order_net_of_idle": net_ms,
        "cpu_ms_per_order_platform_total_net_of_idle": (
            round(sum(v for k, v in net_ms.items() if k in platform_names), 1) if net_ms else None
        ),
        "postgres_per_order": per_order(step.statements, len(delivered)),
        "paid_to_delivered_hops_ms": step.hops,
        "cpu_window_s": round(step.cpu_window, 1),
        "cpu_s": {k: round(v, 2) for k, v in step.cpu.items()},
        "loadgen_cpu_ms_per_order": {
            "workers": round(1000 * step.workers_cpu / n, 1),
            "parent": round(1000 * step.parent_cpu / n, 1),
        },
        "loadgen_worker_core_share": round(step.workers_cpu / max(step.wall, 1e-9) / workers, 2),
        "other_load_on_machine_cpu_s": round(step.cpu.get("(machine busy)", 0.0) - accounted, 2),
        "other_load_on_machine_cores": round(
            (step.cpu.get("(machine busy)", 0.0) - accounted) / max(step.cpu_window, 1e-9), 2
        ),
        "wall_s": round(step.wall, 1),
        "email_wait_s": round(step.email_wait, 1),
        "emails_missing": sum(1 for mails in emails if not mails),
    }


# --- the run -----------------------------------------------------------------------------------------


def rates(args: argparse.Namespace) -> list[float]:
    if args.rates:
        return [float(r) for r in args.rates.split(",")]
    found, rate = [], args.start_rate
    while rate <= args.max_rate:
        found.append(round(rate, 2))
        rate *= args.factor
    return found


LATE_ARRIVALS_MS = 100.0
"""Buyers arriving later than this behind their schedule (p99) mean the load generator is the bottleneck."""
AFTER_FAILED_STEP_S = 180.0
"""How long the ramp waits for a step that did not hold to be worked off before the next step starts."""


async def drain(client: httpx.AsyncClient, limit: float) -> dict[str, Any]:
    """Waits until every consumer's lag and every outbox backlog are 0 (at most `limit` seconds)."""
    started = time.monotonic()
    while True:
        metrics = await scrape(client)
        waited = time.monotonic() - started
        if (metrics.lag_total == 0 and metrics.backlog_total == 0) or waited > limit:
            return {
                "lag": metrics.lag_total,
                "backlog": metrics.backlog_total,
                "seconds": round(waited, 1),
                "lagging": {k: v for k, v in metrics.lag.items() if v},
                "dead_lettered_counter": metrics.dead_lettered,
                "parked_counter": metrics.parked,
            }
        await asyncio.sleep(1.0)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    run_id = secrets.token_hex(3)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "run_id": run_id,
        "mode": "quick" if args.quick else "full",
        "args": vars(args),
        "note": "the box is shared with other engineers' tests: Kafka, Postgres and Redis serve them too, so "
        "every figure is noisy and the infrastructure rows include their work (other_load_on_machine_cpu_s)",
    }
    probe = httpx.AsyncClient(timeout=10)
    started_services = False
    if not await ready(probe):
        print(
            "services are down: starting them (deploy/local/services.sh start, TRUSTED_PROXIES=127.0.0.1/32)",
            flush=True,
        )
        await asyncio.to_thread(services, "start")
        started_services = True
    results["services_started_by_bench"] = started_services
    shop = Shop(run_id)
    bench: Bench | None = None
    try:
        print(f"raw Postgres ceiling (pgbench, {args.pgbench_seconds} s each) ...", flush=True)
        results["raw_ceiling"] = await pgbench_ceiling(args.pgbench_seconds, args.pgbench_clients)
        print(f"  {json.dumps(results['raw_ceiling'])}", flush=True)

        groups = platform_groups(SERVICES, INFRA, SMTP_PORT)
        results["kafka_age_s"] = age(listener(INFRA["kafka"]))
        results["processes"] = {
            g.name: {"pids": g.roots, "platform": g.platform, "part_of": g.part_of, "note": g.note}
            for g in groups
        }
        mailbox = Mailbox(STATE / "mailbox" / "new")
        await shop.create()
        results["product_id"] = shop.product_id
        bench = Bench(args, CpuMeter(groups), shop, mailbox)
        dlq_before = await dead_letter_records()
        before = await scrape(probe)
        counter_before, parked_before = before.dead_lettered, before.parked

        print("one buyer alone (checks the whole sale) ...", flush=True)
        alone = await bench.run_step(1.0, 1.0, 0.0)
        if alone.buyers[0]["outcome"] != "delivered":
            error = alone.buyers[0]["error"]
            raise SystemExit(f"a single sale failed: {error}{LIMIT_HINT if '429' in error else ''}")
        results["one_buyer"] = summarize(alone, groups, mailbox, args.workers)
        print(
            f"  paid->delivered {results['one_buyer']['paid_to_delivered_ms']['p50']} ms, "
            f"place->awaiting {results['one_buyer']['place_to_awaiting_payment_ms']['p50']} ms",
            flush=True,
        )
        await drain(probe, 30)
        results["idle_cpu_ms_per_s"] = await bench.idle(args.idle_seconds)
        began_on = await drain(probe, 30)

        steps: list[dict[str, Any]] = []
        results["steps"] = steps
        planned, low, high, refine = rates(args), 0.0, math.inf, args.refine
        while planned:
            rate = planned.pop(0)
            print(f"step {rate:g}/s for {args.hold:g} s ...", flush=True)
            step = await bench.run_step(rate, args.hold, args.warmup)
            summary = summarize(step, groups, mailbox, args.workers, results["idle_cpu_ms_per_s"])
            summary["began_on"] = began_on
            steps.append(summary)
            verdict = "held" if summary["held"] else "NOT held: " + "; ".join(summary["why_not_held"])
            print(
                f"  {verdict}; paid {summary['paid_per_s']}/s, "
                f"paid->delivered p99 {summary['paid_to_delivered_ms']['p99']} ms, "
                f"{summary['cpu_ms_per_order_platform_total']} ms CPU/order",
                flush=True,
            )
            if any("429" in failure for failure in summary["failures"]):
                print(LIMIT_HINT, flush=True)
            if summary["loadgen_worker_core_share"] > 0.8:
                print("  the load generator used most of a core: its pace may be the limit (try --workers 2)")
            late = summary["arrival_lateness_ms"]["p99"] or 0.0
            if late > LATE_ARRIVALS_MS:
                # on httpx the buyers fell 0.85 s behind at 17/s on a third of a core, and the step failed
                # on their late payments, not the platform's
                print(
                    f"  the load generator fell behind its arrival schedule (p99 {late:g} ms late): the step "
                    "measures it as much as the platform (try --workers 2)"
                )
            if summary["held"]:
                low = max(low, rate)
            else:
                high = min(high, rate)
                planned = []
            if not planned and refine > 0 and low > 0 and high < math.inf:
                refine -= 1  # bisect between the highest rate held and the lowest that was not
                planned = [round((low + high) / 2, 2)]
            # a step that did not hold leaves a backlog; the next one must not start on it, or it is judged
            # on the failed step's work too (every bisection step after a failure failed that way)
            began_on = await drain(probe, 30 if summary["held"] else AFTER_FAILED_STEP_S)
            if planned and (began_on["lag"] or began_on["backlog"]):
                print(
                    f"  the next step starts on a lag of {began_on['lag']:g} and a backlog of "
                    f"{began_on['backlog']:g} (not drained in {began_on['seconds']:g} s)",
                    flush=True,
                )
        held = [s for s in steps if s["held"]]
        results["sustained"] = max(held, key=lambda s: s["offered_per_s"]) if held else None

        print("after the run: waiting for lag and backlog to reach 0 (at most 60 s) ...", flush=True)
        results["after_run"] = await drain(probe, 60)
        results["after_run"]["dead_letter_records"] = {
            topic: count - dlq_before.get(topic, 0)
            for topic, count in (await dead_letter_records()).items()
            if count - dlq_before.get(topic, 0)
        }
        results["after_run"]["dead_letters"] = sum(results["after_run"]["dead_letter_records"].values())
        results["after_run"]["dead_lettered_counter"] -= counter_before
        results["after_run"]["parked_counter"] -= parked_before
        results["after_run"].update(checks(bench.all_buyers, mailbox, shop))
        results["after_run"]["order_statuses"] = await order_statuses(shop.product_id)
        statuses = results["after_run"]["order_statuses"]
        results["after_run"]["non_terminal_orders"] = sum(n for s, n in statuses.items() if s not in TERMINAL)
        # what must be 0 at any load: an order paid and not delivered (an unpaid one whose buyer gave up, as
        # buyers do past their timeouts at overload, ends when its payment window does)
        results["after_run"]["paid_not_delivered"] = paid_not_delivered(statuses)
        # orders in the database that no buyer got an answer for (the placement's response was lost)
        results["after_run"]["placements_unanswered"] = (
            sum(statuses.values()) - results["after_run"]["orders_placed_by_bench"]
        )
    finally:
        if bench is not None:
            await bench.close()
        await shop.close()
        await probe.aclose()
        if started_services and not args.keep_services:
            await asyncio.to_thread(services, "stop")
    return results


def checks(buyers: list[dict[str, Any]], mailbox: Mailbox, shop: Shop) -> dict[str, Any]:
    """Whole-run correctness: e-mails per delivered order, keys delivered twice or not ours."""
    mailbox.scan()
    delivered = [b for b in buyers if b["outcome"] == "delivered"]
    per_order = Counter(len(mailbox.for_buyer(b)) for b in delivered)
    naming = sum(1 for b in delivered for _, numbers in mailbox.for_buyer(b) if b["order_no"] not in numbers)
    keys = [key for b in delivered for key in b["keys"]]
    return {
        "orders_placed_by_bench": sum(1 for b in buyers if b["order_no"]),
        "delivered_orders": len(delivered),
        "emails_per_delivered_order": {str(k): v for k, v in sorted(per_order.items())},
        "emails_not_naming_their_order": naming,
        "duplicate_keys": len(keys) - len(set(keys)),
        "keys_not_from_the_product": len(set(keys) - shop.imported),
    }


def fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:,}{unit}" if isinstance(value, int) else f"{value:,.1f}{unit}"


def hop_rows(step: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The paid->delivered path's hops, each from its producer's transaction to its consumer's."""
    return [
        (f"  hop {name} p50 / p99", f"{fmt(hop['p50'])} / {fmt(hop['p99'])} ms (n={hop['n']})", "")
        for name, hop in (step.get("paid_to_delivered_hops_ms") or {}).items()
    ]


def table(results: dict[str, Any]) -> str:
    lines = [
        "ramp (open loop; polls counted)",
        f"{'offered/s':>9} {'paid/s':>7} {'held':>5} {'p->d p50/p99 ms':>17} {'webhook p99':>11} "
        f"{'place->await p99':>16} {'CPU ms/order':>12} {'loadgen ms/order':>16} {'polls/order':>11}",
    ]
    for s in results.get("steps", []):
        p2d = s["paid_to_delivered_ms"]
        loadgen = s["loadgen_cpu_ms_per_order"]["workers"] + s["loadgen_cpu_ms_per_order"]["parent"]
        lines.append(
            f"{s['offered_per_s']:>9g} {s['paid_per_s']:>7.2f} {'yes' if s['held'] else 'no':>5} "
            f"{fmt(p2d['p50']) + ' / ' + fmt(p2d['p99']):>17} {fmt(s['webhook_ack_ms']['p99']):>11} "
            f"{fmt(s['place_to_awaiting_payment_ms']['p99']):>16} "
            f"{s['cpu_ms_per_order_platform_total']:>12.1f} "
            f"{loadgen:>16.1f} {s['polls_per_order']:>11}"
        )
        if not s["held"]:
            lines.append(f"{'':>9} not held: {'; '.join(s['why_not_held'])}")
        began = s.get("began_on") or {}
        if began.get("lag") or began.get("backlog"):
            lines.append(f"{'':>9} began on a lag of {began['lag']:g} and a backlog of {began['backlog']:g}")
    ceiling = results.get("raw_ceiling", {})
    update_tps = ceiling.get("simple_update_tps")
    rows: list[tuple[str, str, str]] = [
        ("raw Postgres ceiling, pgbench simple-update (-N)", fmt(update_tps, " tps"), "1.00"),
        ("raw Postgres ceiling, pgbench select-only (-S)", fmt(ceiling.get("select_only_tps"), " tps"), ""),
    ]
    best = results.get("sustained")
    if best is None:
        rows.append(("sustained paid orders/s", "no step held", ""))
    else:
        p2d = best["paid_to_delivered_ms"]
        rows += [
            (
                f"sustained paid orders/s (held {best['hold_s']:g} s)",
                f"{best['paid_per_s']:.2f} /s (offered {best['offered_per_s']:g})",
                f"{best['paid_per_s'] / update_tps:.5f}" if update_tps else "",
            ),
            (
                "paid->delivered p50 / p99 / p99.9 (server timestamps)",
                f"{fmt(p2d['p50'])} / {fmt(p2d['p99'])} / {fmt(p2d['p99.9'])} ms (n={p2d['n']})",
                "",
            ),
            *hop_rows(best),
            ("webhook ack p99 (client)", fmt(best["webhook_ack_ms"]["p99"], " ms"), ""),
            (
                "place->awaiting_payment p99 (client, polling)",
                fmt(best["place_to_awaiting_payment_ms"]["p99"], " ms"),
                "",
            ),
            (
                "CPU per order, platform total (gross ; net of idle)",
                f"{fmt(best['cpu_ms_per_order_platform_total'])} ; "
                f"{fmt(best['cpu_ms_per_order_platform_total_net_of_idle'])} ms",
                "",
            ),
            (
                "cores the platform used (mean over the CPU window)",
                "-" if best.get("platform_cores") is None else f"{best['platform_cores']:.2f}",
                "",
            ),
        ]
        processes = results.get("processes", {})
        net = best["cpu_ms_per_order_net_of_idle"]
        for name, value in best["cpu_ms_per_order"].items():
            process = processes.get(name, {})
            aside = "" if process.get("platform", True) else " (not counted)"
            if process.get("part_of"):
                aside = f" (part of {process['part_of']})"
            rows.append((f"  {name}{aside}", f"{fmt(value)} ; {fmt(net.get(name))} ms", ""))
        rows.append(("Postgres per order: statements (transactions)", postgres_row(best), ""))
        loadgen = best["loadgen_cpu_ms_per_order"]
        rows += [
            (
                "load generator CPU per order (not counted)",
                f"{loadgen['workers']:.1f} ms workers + {loadgen['parent']:.1f} ms parent",
                "",
            ),
            (
                "other load on the box during that step",
                f"{fmt(best['other_load_on_machine_cpu_s'])} CPU s "
                f"({best['other_load_on_machine_cores']:.2f} of {results['cpus']} cores)",
                "",
            ),
        ]
    broker_age = results.get("kafka_age_s")
    if broker_age is not None:
        rows.append(
            (
                "Kafka broker's age when the run began (young: slower, see procstat.age)",
                f"{broker_age:,.0f} s",
                "",
            )
        )
    idle = results.get("idle_cpu_ms_per_s")
    if idle:
        platform_idle = sum(v for k, v in idle.items() if results["processes"].get(k, {}).get("platform"))
        rows.append(("idle platform CPU (no load)", f"{platform_idle:.0f} ms/s", ""))
    after = results.get("after_run")
    if after:
        emails = after["emails_per_delivered_order"]
        rows += [
            (
                "dead letters (records on *.dlq; counter)",
                f"{after['dead_letters']} ; {after['dead_lettered_counter']:g}",
                "",
            ),
            (
                "records parked to wait for what they depend on (counter)",
                f"{after.get('parked_counter', 0):g}",
                "",
            ),
            (
                "lag / outbox backlog after the run",
                f"{after['lag']:g} / {after['backlog']:g} after {after['seconds']:g} s",
                "",
            ),
            (
                "e-mails per delivered order (e-mails: orders)",
                (", ".join(f"{k}: {v}" for k, v in emails.items()) or "-")
                + f"; {after['emails_not_naming_their_order']} not naming their order",
                "",
            ),
            (
                "duplicate keys / keys not from the product",
                f"{after['duplicate_keys']} / {after['keys_not_from_the_product']}",
                "",
            ),
            (
                "orders left non-terminal (order database)",
                f"{after['non_terminal_orders']} ({after['placements_unanswered']} placed without an answer; "
                f"{after.get('paid_not_delivered', '-')} paid and not delivered)",
                "",
            ),
        ]
    width = max(len(r[0]) for r in rows)
    lines += ["", f"{'measure':<{width}}  {'figure':<42}  vs raw ceiling", "-" * (width + 60)]
    lines += [f"{name:<{width}}  {figure:<42}  {ratio}" for name, figure, ratio in rows]
    return "\n".join(lines)


# a 10 s hold is sampled every 2 s, so that its lag is judged on more than two samples
QUICK = {"hold": 10.0, "warmup": 3.0, "pgbench_seconds": 5, "idle_seconds": 3.0, "sample_interval": 2.0}
FULL = {"hold": 60.0, "warmup": 10.0, "pgbench_seconds": 15, "idle_seconds": 10.0, "sample_interval": 5.0}


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hold", type=float, help="seconds each rate is held (60; --quick: 10)")
    parser.add_argument(
        "--warmup", type=float, help="first seconds of a hold left out of the held checks (10; --quick: 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short holds for trying it: defaults " + json.dumps(QUICK)
    )
    parser.add_argument("--start-rate", type=float, default=2.0, help="first rate of the ramp, buyers/s")
    parser.add_argument(
        "--factor", type=float, default=1.5, help="each step's rate is the last one's times this"
    )
    parser.add_argument(
        "--max-rate", type=float, default=500.0, help="the ramp stops here if nothing fails first"
    )
    parser.add_argument("--rates", help="explicit rates instead of the ramp, e.g. 2,4,8")
    parser.add_argument(
        "--refine",
        type=int,
        default=2,
        help="after the ramp, bisect this many times between held and not held",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.2, help="each buyer polls its order this often (s)"
    )
    parser.add_argument(
        "--follow",
        choices=("stream", "poll"),
        default="stream",
        help="how buyers follow their order: its event stream, as the order page does (default), or by "
        "polling the order API every --poll-interval",
    )
    parser.add_argument(
        "--stage-timeout", type=float, default=120, help="a buyer gives up a stage after this (s)"
    )
    parser.add_argument(
        "--email-timeout", type=float, default=60, help="how long a step waits for its e-mails (s)"
    )
    parser.add_argument(
        "--sample-interval",
        type=float,
        help="metrics scrape interval (s; 5, --quick: 2); each scrape costs a service about 3.6 ms of CPU, "
        "counted as the platform's (every 2 s about 1 ms a sale at 12/s; Prometheus scrapes every 15 s)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="load-generator processes (one asyncio loop each)"
    )
    parser.add_argument("--pgbench-seconds", type=int, help="each pgbench run (15; --quick: 5)")
    parser.add_argument("--pgbench-clients", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, help="idle CPU measured this long (10; --quick: 3)")
    parser.add_argument(
        "--keep-services",
        action="store_true",
        help="leave the services running if the benchmark started them",
    )
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    run_and_report("e2e", main, args, table)


if __name__ == "__main__":
    cli()
