"""Chaos run under load: `python -m bench.chaos` (`make chaos`).

The platform as `make up` runs it (deploy/local/Procfile's commands and ports) with a second replica of
every consumer service (port + 100, same consumer groups), on an installation of its own: Kafka, Postgres
and Redis started by deploy/local/infra.sh in .state/chaos on other ports, since this run kills them and the
box's shared servers serve other people's tests. Honcho stops every process once one exits, so this
harness starts and watches the processes itself and restarts whatever dies.

bench.e2e's open-loop buyers run at --rate (default: 60 % of the highest rate a short ramp held first)
for --minutes while faults are injected: kill -9 of a random service process every --kill-every seconds
(restarted at once), the Kafka broker killed with -9 and started again, Postgres (postmaster and every
backend) killed with -9 and started again, Redis paused (SIGSTOP) for --redis-pause seconds. Afterwards,
across the databases: no lost paid order (every order with a payment is delivered, refunded or in the
manual queue, and every notification the gateway answered 200 has its payment), no key sold twice, no
payment or refund booked twice, every order terminal within --settle seconds of the last fault, and the
dead-letter topics empty or each record named by its error class (--explained CLASS accepts a class).
The counts are printed and written to bench/results/chaos-<time>.json; the exit status is 1 when an
assertion fails."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from faka_common.db.engine import asyncpg_dsn

from bench import e2e
from bench.procstat import CpuMeter
from bench.report import run_and_report

ROOT = e2e.ROOT
MAIN_STATE = e2e.STATE
PROCFILE = ROOT / "deploy/local/Procfile"
INFRA_SH = ROOT / "deploy/local/infra.sh"
#: The chaos installation's servers: beside the shared ones (15432, 16379, 19092), never them.
PORTS = {"postgres": 25432, "redis": 26379, "kafka": 29092, "kafka_controller": 29093}
CONSUMER_SERVICES = ("order", "inventory", "delivery", "risk", "commission", "notification")
REPLICA_PORT_OFFSET = 100
#: Where a buyer's money may rest once paid: delivered, refunded, or the manual queue a person works.
PAID_RESTS = {"delivered", "completed", "refunded", "partially_refunded", "delivery_failed"}
#: Error classes of a dependency being down: never a reason for a dead letter.
OUTAGE_CLASSES = {
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ConnectionError",
    "OSError",
    "TimeoutError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "InterfaceError",
    "OperationalError",
    "DBAPIError",
    "KafkaConnectionError",
    "Unavailable",
    "RedisConnectionError",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the installation's servers -----------------------------------------------------------------------


class Infra:
    """Kafka, Postgres and Redis of the chaos installation, through deploy/local/infra.sh."""

    def __init__(self, state: Path) -> None:
        self.state = state

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "FAKA_STATE_DIR": str(self.state),
            "FAKA_PG_PORT": str(PORTS["postgres"]),
            "FAKA_REDIS_PORT": str(PORTS["redis"]),
            "FAKA_KAFKA_PORT": str(PORTS["kafka"]),
            "FAKA_KAFKA_CONTROLLER_PORT": str(PORTS["kafka_controller"]),
        }

    @property
    def database_server(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{PORTS['postgres']}/postgres"

    def database(self, service: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{PORTS['postgres']}/faka_{service}"

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{PORTS['kafka']}"

    @property
    def redis(self) -> str:
        return f"redis://127.0.0.1:{PORTS['redis']}/0"

    def infra(self, command: str) -> None:
        bash = shutil.which("bash") or "/bin/bash"
        subprocess.run([bash, str(INFRA_SH), command], env=self.env, check=True)  # noqa: S603

    def up(self) -> None:
        """Start what is not running. The Kafka jars and axe-core are hard links to the main state's (no
        second download); a state dir the main one has not fetched them into fetches its own."""
        for part in ("kafka/libs", "npm"):
            source, target = MAIN_STATE / part, self.state / part
            if source.exists() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-al", str(source), str(target)], check=True)  # noqa: S603, S607
        self.infra("up")

    def down(self) -> None:
        self.infra("down")

    def start_again(self, tries: int = 3) -> None:
        """`infra.sh up` after a kill: a broker recovering its logs on a busy box can outlast one wait
        (the next `up` finds it running and waits again)."""
        for attempt in range(1, tries + 1):
            try:
                self.infra("up")
                return
            except subprocess.CalledProcessError:
                if attempt == tries:
                    raise

    def _pid(self, path: Path) -> int:
        return int(path.read_text().split()[0])

    def postgres_pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers)."""
        data = Path((self.state / "postgres.path").read_text().strip()) / "data"
        postmaster = self._pid(data / "postmaster.pid")
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def kafka_pid(self) -> int:
        return self._pid(self.state / "kafka/kafka.pid")

    def redis_pid(self) -> int:
        return self._pid(self.state / "redis/redis.pid")


def kill(pids: list[int], sig: signal.Signals = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def gone(pids: list[int], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} still alive after SIGKILL")
        await asyncio.sleep(0.1)


async def port_closed(port: int, limit: float = 30) -> None:
    """A killed JVM's threads let go of its sockets a moment after its main thread is gone."""
    deadline = time.monotonic() + limit
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        writer.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still open after its server was killed")
        await asyncio.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


# --- the services ------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    service: str
    port: int
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    unplanned_exits: list[str] = field(default_factory=list)
    being_killed: bool = False


def procfile() -> dict[str, list[str]]:
    """deploy/local/Procfile's commands by name (what `make up` runs), `exec` dropped."""
    commands = {}
    for line in PROCFILE.read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = shlex.split(command.strip().removeprefix("exec "))
    return commands


def with_port(argv: list[str], port: int) -> list[str]:
    at = argv.index("--port")
    return [*argv[: at + 1], str(port), *argv[at + 2 :]]


class Fleet:
    """Every service of deploy/local/Procfile plus a replica of each consumer service, each process
    started, watched and restarted by this harness; logs in <state>/logs/<process>.log."""

    def __init__(self, infra: Infra, replicas: bool = True) -> None:
        self.infra = infra
        self.logs = infra.state / "logs"
        self.mailbox = infra.state / "mailbox"
        self.procs: dict[str, Proc] = {}
        commands = procfile()
        for name, argv in commands.items():
            if name == "mailbox":
                continue
            port = int(argv[argv.index("--port") + 1])
            self.procs[name] = Proc(name, name, port, argv)
            if replicas and name in CONSUMER_SERVICES:
                replica = port + REPLICA_PORT_OFFSET
                self.procs[f"{name}-2"] = Proc(f"{name}-2", name, replica, with_port(argv, replica))
        # the Procfile's Maildir is $FAKA_STATE_DIR/mailbox: this installation's
        smtp = [*commands["mailbox"][:-1], str(self.mailbox)]
        self.smtp = Proc("mailbox", "mailbox", e2e.SMTP_PORT, smtp)
        self._watch: asyncio.Task[None] | None = None
        self.stopping = False

    def env(self, proc: Proc) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env |= {
            "PATH": f"{ROOT / '.venv/bin'}:{env.get('PATH', '')}",
            "FAKA_STATE_DIR": str(self.infra.state),
            "ENVIRONMENT": "development",
            "TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"]),
            "DATABASE_URL": self.infra.database(proc.service),
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka,
            "REDIS_URL": self.infra.redis,
            # an order its buyer abandoned (its notification refused while a server was down) expires
            # within the settle time, as every order must end terminal
            "PAYMENT_WINDOW_SECONDS": os.environ.get("CHAOS_PAYMENT_WINDOW_SECONDS", "45"),
            "EXPIRY_SWEEP_SECONDS": "1",
        }
        return env

    def spawn(self, proc: Proc) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{proc.name}.log").open("ab")
        proc.process = subprocess.Popen(  # noqa: S603
            proc.argv, cwd=ROOT, env=self.env(proc), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        proc.starts += 1

    async def ready(self, proc: Proc, limit: float = 240) -> float:
        """Waits until the process answers /health/ready (one that exits meanwhile, its server being down
        while it started, is started again by the watcher). Returns the seconds it took."""
        began = time.monotonic()
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    answer = await client.get(f"http://127.0.0.1:{proc.port}/health/ready", timeout=3)
                    if answer.status_code == 200:
                        return time.monotonic() - began
                except httpx.HTTPError:
                    pass
                if time.monotonic() - began > limit:
                    raise RuntimeError(f"{proc.name} not ready after {limit:.0f} s: see {self.logs}")
                await asyncio.sleep(0.5)

    def ports_taken(self) -> list[str]:
        taken = []
        for proc in [*self.procs.values(), self.smtp]:
            with httpx.Client() as client:
                try:
                    client.get(f"http://127.0.0.1:{proc.port}/", timeout=1)
                    taken.append(f"{proc.name} :{proc.port}")
                except httpx.ConnectError:
                    pass
                except httpx.HTTPError:
                    taken.append(f"{proc.name} :{proc.port}")
        return taken

    async def start(self) -> None:
        taken = self.ports_taken()
        if taken:
            raise SystemExit(f"ports in use (a `make up` platform? `make down` first): {', '.join(taken)}")
        for sub in ("tmp", "new", "cur"):
            (self.mailbox / sub).mkdir(parents=True, exist_ok=True)
        self.spawn(self.smtp)
        self._watch = asyncio.create_task(self._restart_the_dead())
        # the first of each service, then the replicas: two processes of one service never race to
        # create its database
        for wave in (False, True):
            procs = [p for p in self.procs.values() if p.name.endswith("-2") is wave]
            for proc in procs:
                self.spawn(proc)
            await asyncio.gather(*(self.ready(proc) for proc in procs))

    async def _restart_the_dead(self) -> None:
        """A process that died by itself (not killed here) is noted and started again, as Kubernetes
        would; the run reports it."""
        while not self.stopping:
            for proc in [*self.procs.values(), self.smtp]:
                exited = proc.process is not None and proc.process.poll() is not None
                if exited and not proc.being_killed and not self.stopping:
                    assert proc.process is not None
                    proc.unplanned_exits.append(f"{now()} exit {proc.process.returncode}")
                    print(
                        f"  {proc.name} exited by itself ({proc.process.returncode}): restarting", flush=True
                    )
                    self.spawn(proc)
            await asyncio.sleep(1)

    async def kill_and_restart(self, proc: Proc) -> float:
        """kill -9, then started again at once; seconds until it answers ready."""
        assert proc.process is not None
        proc.being_killed = True
        try:
            proc.process.kill()
            await asyncio.to_thread(proc.process.wait)
            self.spawn(proc)
        finally:
            proc.being_killed = False
        return await self.ready(proc)

    def stop(self) -> None:
        self.stopping = True
        if self._watch is not None:
            self._watch.cancel()
        running = [p.process for p in [*self.procs.values(), self.smtp] if p.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        for process in running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- the faults --------------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    at: float  # seconds after the load started
    target: str = ""
    started: str = ""
    recovered_after_s: float | None = None
    ended_at: float | None = None  # seconds after the load started
    note: str = ""


def schedule(args: argparse.Namespace) -> list[Fault]:
    """Kills every --kill-every s; the broker, Postgres and Redis once each, apart, ending well before the
    load does so that the settle time measures recovery, not the last buyers."""
    span = args.minutes * 60
    faults = [
        Fault("kill -9 service", float(t)) for t in range(args.kill_every, int(span * 0.9), args.kill_every)
    ]
    faults += [
        Fault("kafka kill -9 + start", round(span * 0.25, 1)),
        Fault("postgres kill -9 + start", round(span * 0.5, 1)),
        Fault(f"redis paused {args.redis_pause:g} s", round(span * 0.7, 1)),
    ]
    return sorted(faults, key=lambda f: f.at)


class Chaos:
    def __init__(self, infra: Infra, fleet: Fleet, seed: int) -> None:
        self.infra = infra
        self.fleet = fleet
        self.random = random.Random(seed)

    async def run(self, fault: Fault, began: float, redis_pause: float) -> None:
        """Inject the fault at its time and wait for the recovery; a failure is noted on the fault (the
        run goes on, and fails its verdict), never raised into the load."""
        await asyncio.sleep(max(0.0, began + fault.at - time.monotonic()))
        fault.started = now()
        try:
            await self._inject(fault, began, redis_pause)
        except Exception as error:
            fault.note = f"not recovered: {type(error).__name__}: {error}"[:300]
            print(f"          {fault.kind}: {fault.note}", flush=True)
        fault.ended_at = round(time.monotonic() - began, 1)

    async def _inject(self, fault: Fault, began: float, redis_pause: float) -> None:
        t0 = time.monotonic()
        if fault.kind.startswith("kill"):
            proc = self.random.choice(list(self.fleet.procs.values()))
            fault.target = proc.name
            print(f"  [{fault.at:>5.0f} s] kill -9 {proc.name}", flush=True)
            fault.recovered_after_s = round(await self.fleet.kill_and_restart(proc), 1)
        elif fault.kind.startswith("kafka"):
            fault.target = f"kafka :{PORTS['kafka']}"
            print(f"  [{fault.at:>5.0f} s] kill -9 kafka", flush=True)
            pid = self.infra.kafka_pid()
            kill([pid])
            await gone([pid])
            await port_closed(PORTS["kafka"])
            await port_closed(PORTS["kafka_controller"])
            await asyncio.to_thread(self.infra.start_again)
            fault.recovered_after_s = round(time.monotonic() - t0, 1)
        elif fault.kind.startswith("postgres"):
            fault.target = f"postgres :{PORTS['postgres']}"
            pids = self.infra.postgres_pids()
            print(f"  [{fault.at:>5.0f} s] kill -9 postgres ({len(pids)} processes)", flush=True)
            kill(pids)
            await gone(pids)
            await port_closed(PORTS["postgres"])
            await asyncio.to_thread(self.infra.start_again)
            fault.recovered_after_s = round(time.monotonic() - t0, 1)
        else:
            fault.target = f"redis :{PORTS['redis']}"
            pid = self.infra.redis_pid()
            print(f"  [{fault.at:>5.0f} s] SIGSTOP redis for {redis_pause:g} s", flush=True)
            kill([pid], signal.SIGSTOP)
            try:
                await asyncio.sleep(redis_pause)
            finally:
                kill([pid], signal.SIGCONT)
            fault.recovered_after_s = round(time.monotonic() - t0, 1)
        print(f"          {fault.kind} {fault.target}: back after {fault.recovered_after_s} s", flush=True)


# --- the checks across the databases -----------------------------------------------------------------


async def fetch(infra: Infra, service: str, query: str, *params: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(infra.database(service)))
    try:
        return list(await connection.fetch(query, *params))
    finally:
        await connection.close()


async def ledger(infra: Infra, product_id: str, buyers: list[dict[str, Any]]) -> dict[str, Any]:
    """Orders, payments, refunds and sold keys of the run's product, read from the owners' databases."""
    product = uuid.UUID(product_id)
    orders = await fetch(
        infra,
        "order",
        "SELECT id, order_no, status, quantity, paid_at FROM orders WHERE product_id = $1",
        product,
    )
    ids = [row["id"] for row in orders]
    payments = await fetch(
        infra, "order", "SELECT order_id, trade_no FROM payments WHERE order_id = ANY($1::uuid[])", ids
    )
    refunds = await fetch(
        infra,
        "order",
        "SELECT r.order_id, sum(r.amount) AS refunded, o.amount FROM refunds r "
        "JOIN orders o ON o.id = r.order_id WHERE r.order_id = ANY($1::uuid[]) AND r.status <> 'failed' "
        "GROUP BY r.order_id, o.amount",
        ids,
    )
    keys = await fetch(
        infra,
        "inventory",
        "SELECT order_id, count(*) AS n FROM card_keys WHERE product_id = $1 AND status = 'sold' "
        "GROUP BY order_id",
        product,
    )
    by_id = {row["id"]: row for row in orders}
    paid_ids = {row["order_id"] for row in payments} | {row["id"] for row in orders if row["paid_at"]}
    lost = sorted(by_id[i]["order_no"] for i in paid_ids if by_id[i]["status"] not in PAID_RESTS)
    per_order = Counter(row["order_id"] for row in payments)
    # a notification the gateway answered 200: the provider stops sending it, so the payment is ours
    acked = {b["order_no"] for b in buyers if b["notify_result"] and not b["notify_result"].isdigit()}
    paid_numbers = {by_id[i]["order_no"] for i in paid_ids}
    sold = {row["order_id"]: int(row["n"]) for row in keys}
    delivered = {row["id"] for row in orders if row["status"] in {"delivered", "completed"}}
    return {
        "orders": len(orders),
        "orders_by_status": dict(Counter(row["status"] for row in orders)),
        "paid_orders": len(paid_ids),
        "lost_paid_orders": len(lost),
        "lost_paid_order_numbers": lost[:20],
        "notifications_acked_without_payment": sorted(acked - paid_numbers)[:20],
        "payments_booked_twice": sum(1 for n in per_order.values() if n > 1),
        "refunds_over_amount": sum(1 for row in refunds if row["refunded"] > row["amount"]),
        "sold_keys": sum(sold.values()),
        "orders_with_more_keys_than_quantity": sum(
            1 for order_id, n in sold.items() if order_id in by_id and n > by_id[order_id]["quantity"]
        ),
        "sold_keys_of_undelivered_orders": sum(
            n for order_id, n in sold.items() if order_id not in delivered
        ),
        "delivered_orders_without_keys": len(delivered - set(sold)),
    }


async def dead_letters_since(kafka: str, since_ms: int) -> list[dict[str, str]]:
    """Every record written to a *.dlq topic since `since_ms`, with its consumer and reason."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        topics = [t for t in await consumer.topics() if t.endswith(".dlq")]
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        if not parts:
            return found
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.offsets_for_times({p: since_ms for p in parts})
        for part in parts:
            start = starts.get(part)
            if start is None:
                continue
            consumer.seek(part, start.offset)
        while True:
            behind = [p for p in parts if await consumer.position(p) < ends[p]]
            batch = await consumer.getmany(*behind, timeout_ms=2000) if behind else {}
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode(errors="replace") for k, v in record.headers}
                    reason = headers.get("dlq-reason", "")
                    found.append(
                        {
                            "topic": record.topic,
                            "consumer": headers.get("dlq-consumer", ""),
                            "error_class": reason.split(":", 1)[0] if reason else "(no reason)",
                            "reason": reason[:300],
                        }
                    )
    finally:
        await consumer.stop()
    return found


async def settle(infra: Infra, product_id: str, deadline: float) -> tuple[dict[str, int], float]:
    """Polls the order database until every order of the product is terminal or `deadline` passes."""
    while True:
        rows = await fetch(
            infra,
            "order",
            "SELECT status, count(*) AS n FROM orders WHERE product_id = $1 GROUP BY status",
            uuid.UUID(product_id),
        )
        statuses = {row["status"]: int(row["n"]) for row in rows}
        open_ = sum(n for s, n in statuses.items() if s not in e2e.TERMINAL)
        if open_ == 0 or time.monotonic() > deadline:
            return statuses, time.monotonic()
        await asyncio.sleep(1)


# --- the run -----------------------------------------------------------------------------------------


def load_args(args: argparse.Namespace) -> argparse.Namespace:
    """What bench.e2e's Bench reads of its arguments."""
    return argparse.Namespace(
        workers=args.workers,
        poll_interval=0.5,
        follow="stream",
        stage_timeout=args.stage_timeout,
        email_timeout=60.0,
        sample_interval=5.0,
    )


async def sustained_maximum(bench: e2e.Bench, args: argparse.Namespace) -> tuple[float, list[dict[str, Any]]]:
    """The highest rate of a short ramp (bench.e2e's held verdict) before any fault."""
    held, steps, rate = 0.0, [], args.ramp_start
    while rate <= args.ramp_max:
        print(f"ramp: {rate:g}/s for {args.ramp_hold:g} s ...", flush=True)
        step = await bench.run_step(rate, args.ramp_hold, args.ramp_hold / 4)
        summary = e2e.summarize(step, [], bench.mailbox, args.workers)
        steps.append({k: summary[k] for k in ("offered_per_s", "paid_per_s", "held", "why_not_held")})
        print(
            f"  {'held' if summary['held'] else 'not held: ' + '; '.join(summary['why_not_held'])}",
            flush=True,
        )
        await e2e.drain(bench.client, 60)
        if not summary["held"]:
            break
        held, rate = rate, round(rate * 1.5, 2)
    return held, steps


async def main(args: argparse.Namespace) -> dict[str, Any]:
    infra = Infra(Path(args.state))
    results: dict[str, Any] = {
        "when": now(),
        "cpus": os.cpu_count(),
        "args": vars(args),
        "installation": {
            "state": str(infra.state),
            "ports": PORTS,
            "note": "its own Kafka, Postgres and Redis (infra.sh), never the box's shared ones; the box is "
            "shared with other engineers' tests, so rates and times are noisy",
        },
    }
    print(f"servers of the chaos installation ({infra.state}) ...", flush=True)
    await asyncio.to_thread(infra.up)
    # bench.e2e's helpers read the servers from the environment; the admin token is made on merchant's
    os.environ |= {
        "DATABASE_URL": infra.database_server,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "REDIS_URL": infra.redis,
        "FAKA_MERCHANT_DATABASE_URL": infra.database("merchant"),
    }
    fleet = Fleet(infra)
    results["processes"] = {p.name: p.port for p in fleet.procs.values()}
    print(f"starting {len(fleet.procs)} service processes ...", flush=True)
    began_start = time.monotonic()
    shop: e2e.Shop | None = None
    bench: e2e.Bench | None = None
    try:
        await fleet.start()
        results["start_seconds"] = round(time.monotonic() - began_start, 1)
        print(f"  ready in {results['start_seconds']} s; the run's product ...", flush=True)
        shop = e2e.Shop(uuid.uuid4().hex[:6])
        await shop.create()
        results["product_id"] = shop.product_id
        mailbox = e2e.Mailbox(fleet.mailbox / "new")
        bench = e2e.Bench(load_args(args), CpuMeter([]), shop, mailbox)
        counter_before = (await e2e.scrape(bench.client)).dead_lettered
        dlq_before = await e2e.dead_letter_records()

        rate = args.rate
        if rate is None:
            maximum, results["ramp"] = await sustained_maximum(bench, args)
            if maximum == 0:
                raise SystemExit("the ramp held no rate: nothing to run the faults under")
            rate = round(0.6 * maximum, 2)
            results["sustained_maximum_per_s"] = maximum
        results["rate_per_s"] = rate
        faults = schedule(args)
        chaos = Chaos(infra, fleet, args.seed)
        span = args.minutes * 60
        await shop.stock_up(int(rate * span * 1.1) + 20)  # before the clock starts: run_step finds it done
        print(f"load {rate:g} buyers/s for {span:g} s with {len(faults)} faults ...", flush=True)
        began = time.monotonic()
        results["load_started"] = now()
        since_ms = int(time.time() * 1000)
        load = asyncio.create_task(bench.run_step(rate, span, 0.0))
        injected = asyncio.gather(*(chaos.run(f, began, args.redis_pause) for f in faults))
        await injected
        step = await load
        load_end = time.monotonic()
        last_fault = began + max((f.ended_at or 0.0) for f in faults)
        results["faults"] = [vars(f) for f in faults]
        summary = e2e.summarize(step, [], mailbox, args.workers)
        results["load"] = {
            k: summary[k]
            for k in (
                "buyers", "delivered", "failures", "paid_per_s", "paid_to_delivered_ms", "webhook_ack_ms",
                "notify_retries", "notify_results", "lookup_retries",
            )
        }  # fmt: skip
        results["buyer_errors_by_status"] = dict(Counter(why(b["error"]) for b in step.buyers if b["error"]))

        print(f"settling: every order terminal within {args.settle:g} s of the last fault ...", flush=True)
        deadline = max(last_fault, load_end) + args.settle
        statuses, settled_at = await settle(infra, shop.product_id, deadline)
        non_terminal = sum(n for s, n in statuses.items() if s not in e2e.TERMINAL)
        results["settle"] = {
            "non_terminal_orders": non_terminal,
            "seconds_after_last_fault": round(settled_at - last_fault, 1),
            "seconds_after_load_end": round(settled_at - load_end, 1),
        }
        after = await e2e.drain(bench.client, 60)
        after["dead_letter_records"] = {
            topic: count - dlq_before.get(topic, 0)
            for topic, count in (await e2e.dead_letter_records()).items()
            if count - dlq_before.get(topic, 0)
        }
        after["dead_lettered_counter"] -= counter_before  # counters restart with a killed process: a floor
        after.update(e2e.checks(bench.all_buyers, mailbox, shop))
        results["after_run"] = after
        results["ledger"] = await ledger(infra, shop.product_id, step.buyers)
        dead = await dead_letters_since(infra.kafka, since_ms)
        results["dead_letters"] = {
            "records": len(dead),
            "unexplained": sum(1 for d in dead if d["error_class"] not in args.explained),
            "by_class": dict(Counter(f"{d['topic']} {d['consumer']} {d['error_class']}" for d in dead)),
            "examples": dead[:10],
        }
        results["unplanned_exits"] = {
            p.name: p.unplanned_exits for p in fleet.procs.values() if p.unplanned_exits
        }
        results["verdicts"] = verdicts(results)
        return results
    finally:
        if bench is not None:
            await bench.close()
        if shop is not None:
            await shop.close()
        fleet.stop()
        if not args.keep_servers:
            await asyncio.to_thread(infra.down)


def why(error: str) -> str:
    """A buyer's failure as its stage and the status it was answered ('place answered 503'), or its stage
    and error class ('await delivery RemoteProtocolError': the gateway died under its stream)."""
    stage = error.split(":", 1)[0]
    if " answered " in error:
        return f"{stage} answered {error.split(' answered ', 1)[1][:3]}"
    return f"{stage} {error.split(': ', 2)[1] if error.count(': ') >= 2 else error[:60]}"


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    ledger_, after, dead = results["ledger"], results["after_run"], results["dead_letters"]
    outage = [k for k in dead["by_class"] if k.rsplit(" ", 1)[1] in OUTAGE_CLASSES]
    return {
        "0 lost paid orders": ledger_["lost_paid_orders"] == 0
        and not ledger_["notifications_acked_without_payment"],
        "0 keys sold twice": after["duplicate_keys"] == 0
        and ledger_["orders_with_more_keys_than_quantity"] == 0
        and ledger_["sold_keys_of_undelivered_orders"] == 0,
        "0 payments or refunds booked twice": ledger_["payments_booked_twice"] == 0
        and ledger_["refunds_over_amount"] == 0,
        "every order terminal within the settle time": results["settle"]["non_terminal_orders"] == 0,
        "every fault injected and recovered from": all(
            f["recovered_after_s"] is not None and not f["note"] for f in results["faults"]
        ),
        "no outage in a dead-letter topic": not outage,
        "no buyer answered 500": not any(key.endswith(" 500") for key in results["buyer_errors_by_status"]),
        "dead-letter topics empty or explained": dead["unexplained"] == 0,
    }


def table(results: dict[str, Any]) -> str:
    lines = [f"chaos run: {results.get('rate_per_s')} buyers/s for {results['args']['minutes']:g} min"]
    if "sustained_maximum_per_s" in results:
        lines.append(f"  (60 % of {results['sustained_maximum_per_s']}/s, the highest rate the ramp held)")
    lines.append("faults (seconds after the load began):")
    for f in results.get("faults", []):
        lines.append(
            f"  {f['at']:>6.0f} s  {f['started']}  {f['kind']:<26} {f['target']:<16} back after "
            f"{f['recovered_after_s']} s"
        )
    load = results.get("load", {})
    if load:
        lines += [
            f"buyers {load['buyers']}, delivered to the buyer {load['delivered']}, "
            f"paid/s {load['paid_per_s']}",
            f"  buyers not served, by answer: {results['buyer_errors_by_status']}",
            f"  notification retries {load['notify_retries']}, results {load['notify_results']}",
        ]
    ledger_ = results.get("ledger", {})
    after = results.get("after_run", {})
    if ledger_:
        lines += [
            f"orders {ledger_['orders']}: {ledger_['orders_by_status']}",
            f"paid orders {ledger_['paid_orders']}, lost {ledger_['lost_paid_orders']}, notifications acked "
            f"without a payment {len(ledger_['notifications_acked_without_payment'])}",
            f"sold keys {ledger_['sold_keys']}; keys seen twice by buyers {after['duplicate_keys']}; "
            f"orders with more keys than bought {ledger_['orders_with_more_keys_than_quantity']}; "
            f"sold keys of undelivered orders {ledger_['sold_keys_of_undelivered_orders']}",
            f"payments booked twice {ledger_['payments_booked_twice']}, refunds over the amount "
            f"{ledger_['refunds_over_amount']}",
            f"non-terminal orders {results['settle']['non_terminal_orders']} "
            f"({results['settle']['seconds_after_last_fault']} s after the last fault)",
            f"lag / outbox backlog {after['lag']:g} / {after['backlog']:g}; e-mails per delivered order "
            f"{after['emails_per_delivered_order']}",
            f"dead letters {results['dead_letters']['records']}: {results['dead_letters']['by_class']}",
            f"processes that exited by themselves: {results['unplanned_exits'] or 'none'}",
        ]
    for name, ok in results.get("verdicts", {}).items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {name}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, help="buyers/s; default 60 %% of what a short ramp held")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kill-every", type=int, default=30, help="seconds between service kills")
    parser.add_argument("--redis-pause", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after the last fault")
    parser.add_argument("--ramp-start", type=float, default=2.0)
    parser.add_argument("--ramp-max", type=float, default=50.0)
    parser.add_argument("--ramp-hold", type=float, default=30.0)
    parser.add_argument("--stage-timeout", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--explained", action="append", default=[], help="a dead letter's accepted class")
    parser.add_argument("--state", default=str(MAIN_STATE / "chaos"), help="the installation's state dir")
    parser.add_argument("--keep-servers", action="store_true", help="leave its Kafka/Postgres/Redis up")
    return parser


def cli() -> None:
    args = parser().parse_args()
    # a stopped run still stops its processes and servers (main's finally)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    path = run_and_report("chaos", main, args, table)
    verdict = json.loads(path.read_text()).get("verdicts", {})
    sys.exit(0 if verdict and all(verdict.values()) else 1)


if __name__ == "__main__":
    cli()
