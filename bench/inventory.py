"""Inventory benchmark: `python -m bench.inventory` (DATABASE_URL = a Postgres server URL; default the local
one). Measures on this box, in one run:

1. the raw Postgres claim ceiling: pgbench running a bare `DELETE ... WHERE id = (SELECT ... FOR UPDATE SKIP
   LOCKED LIMIT 1) RETURNING` with N clients (an asyncpg loop stands in if pgbench is missing);
2. reservations/s on one hot product through the service layer (inbox + reserve_stock + outbox, one
   transaction each, as the consumer runs it), with worker processes like consumer replicas; then the same
   through the batch consumer (`EventConsumer.consume_batch` on OrderApproved records, batches of the
   inventory's `consumer_batch_size`, each loop one partition's consumer); both check zero oversell;
3. claim latency p50/p99 with 10k vs 1M keys in the pool, and with `--pool-10m` vs 10M keys too: the 10M
   pool is written straight with SQL (generate_series, sealed-looking payloads; ~2 minutes here), not
   through the import, and the output says so;
4. the wall time of importing 1,000,000 keys (stream -> parse -> dedupe -> AES-GCM -> COPY).

`--hot-only` and `--import-only` run the raw ceiling with section 2, or with sections 3 + 4, alone.

Prints a table with each figure next to the raw ceiling and writes JSON to bench/results/."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from faka_common.contracts import DEFAULT_SHOP_ID, Envelope, OrderApproved, OrderCancelled, OrderPaid
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing
from faka_common.db.engine import asyncpg_dsn, create_engine, session_factory
from faka_common.db.migrations import upgrade
from faka_common.messaging.consumer import Delivery, EventConsumer
from faka_common.testing import database_url_for, drop_database
from inventory.adapters import sealing
from inventory.bootstrap import CONSUMER
from inventory.config import MIGRATIONS, Settings
from inventory.service_layer import catalog, key_pools, reservations
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

from bench.report import run_and_report

KEYRING = KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET)
BATCH_SIZE = int(Settings.model_fields["consumer_batch_size"].default)


def server_url() -> str:
    return asyncpg_dsn(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres"))


# --- 1. the raw ceiling ----------------------------------------------------------------------------

RAW_CLAIM = (
    "DELETE FROM raw_keys WHERE id = (SELECT id FROM raw_keys WHERE product = 1 ORDER BY id "
    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id;"
)


async def raw_ceiling(url: str, clients: int, seconds: float, keys: int) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "CREATE TABLE raw_keys (id bigserial PRIMARY KEY, product int NOT NULL, payload bytea NOT NULL)"
        )
        await connection.execute(
            "INSERT INTO raw_keys (product, payload) "
            "SELECT 1, decode(md5(g::text) || md5(g::text) || md5(g::text) || md5(g::text), 'hex') "
            "FROM generate_series(1, $1::int) g",
            keys,
        )
        await connection.execute("CREATE INDEX ON raw_keys (product, id)")
        await connection.execute("VACUUM ANALYZE raw_keys")
    finally:
        await connection.close()
    pgbench = shutil.which("pgbench")
    if pgbench:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(RAW_CLAIM + "\n")
        parts = urlsplit(url)
        command = [
            pgbench, "-n", "-c", str(clients), "-j", "2", "-T", str(int(seconds)), "-f", script.name,
            "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres", parts.path.lstrip("/"),
        ]  # fmt: skip
        out = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
        os.unlink(script.name)
        tps = next(
            float(line.split("=")[1].split()[0]) for line in out.stdout.splitlines() if line.startswith("tps")
        )
        return {"tool": "pgbench", "clients": clients, "seconds": seconds, "claims_per_s": tps}

    async def loop(deadline: float) -> int:
        conn = await asyncpg.connect(url)
        done = 0
        try:
            while time.monotonic() < deadline:
                await conn.fetchval(RAW_CLAIM)
                done += 1
        finally:
            await conn.close()
        return done

    deadline = time.monotonic() + seconds
    counts = await asyncio.gather(*(loop(deadline) for _ in range(clients)))
    return {
        "tool": "asyncpg loop",
        "clients": clients,
        "seconds": seconds,
        "claims_per_s": sum(counts) / seconds,
    }


# --- helpers ---------------------------------------------------------------------------------------


async def new_product(sessions: Any, title: str) -> uuid.UUID:
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.create_product(
            DEFAULT_SHOP_ID,
            catalog.NewProduct(title=title, price=100, currency="CNY", delivery_type="card_key"),
            uow,
            KEYRING,
        )
    return product.id


async def key_file(count: int, prefix: str, chunk_lines: int = 50_000) -> AsyncIterator[bytes]:
    for start in range(0, count, chunk_lines):
        yield "".join(
            f"{prefix}-{i:08d}-{uuid.uuid4().hex[:12].upper()}\n"
            for i in range(start, min(count, start + chunk_lines))
        ).encode()


async def import_keys(sessions: Any, product_id: uuid.UUID, count: int, prefix: str) -> tuple[float, Any]:
    started = time.perf_counter()
    async with InventoryUnitOfWork(sessions) as uow:
        result = await key_pools.import_key_stream(
            DEFAULT_SHOP_ID, product_id, key_file(count, prefix), key_pools.ImportOptions(), uow, KEYRING
        )
    return time.perf_counter() - started, result


def order(product_id: uuid.UUID) -> OrderApproved:
    return OrderApproved(
        order_id=uuid.uuid4(), order_no=f"B{uuid.uuid4().hex[:20]}", product_id=product_id, quantity=1,
        payment_expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )  # fmt: skip


async def reserve_once(sessions: Any, product_id: uuid.UUID) -> float:
    """One reservation exactly as the consumer runs it: inbox, handler, outbox, commit. Returns seconds."""
    event = order(product_id)
    envelope = Envelope.wrap(event, "order")
    started = time.perf_counter()
    async with InventoryUnitOfWork(sessions) as uow:
        await uow.claim_inbox("inventory", envelope)
        await reservations.reserve_stock(event, uow)
        await uow.commit()
    return time.perf_counter() - started


# --- 2. the hot product ----------------------------------------------------------------------------


def hot_worker(
    url: str, product_id: str, concurrency: int, seconds: float, start_at: float, out: Any
) -> None:
    async def main() -> tuple[int, float]:
        engine = create_engine(url, pool_size=concurrency)
        sessions = session_factory(engine)
        pid = uuid.UUID(product_id)
        done = 0

        async def loop() -> None:
            nonlocal done
            while time.time() < start_at + seconds:
                await reserve_once(sessions, pid)
                done += 1

        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        finished = time.time()
        await engine.dispose()
        return done, finished

    out.put(asyncio.run(main()))


def hot_batch_worker(
    url: str, product_id: str, loops: int, batch_size: int, seconds: float, start_at: float, out: Any
) -> None:
    """A consumer replica with `loops` partitions: each loop hands batches of `batch_size` OrderApproved
    records (Envelope bytes, as they come off Kafka) to the inventory's EventConsumer.consume_batch."""

    async def main() -> tuple[int, float]:
        engine = create_engine(url, pool_size=loops)
        sessions = session_factory(engine)
        consumer = EventConsumer(
            CONSUMER,
            lambda: InventoryUnitOfWork(sessions, "inventory"),
            {
                OrderApproved: reservations.reserve_stock,
                OrderCancelled: reservations.release_stock,
                OrderPaid: reservations.allocate_keys,
            },
            batch_size=batch_size,
            batch_handlers={OrderApproved: reservations.reserve_stock_many},
        )  # as inventory.bootstrap builds it
        pid = uuid.UUID(product_id)
        done = 0
        # Kafka hands the consumer bytes: the records are made before the clock starts (more on the fly
        # only if a loop runs out), so producing them is not counted against the consumer.
        ahead = max(batch_size, int(seconds * 800 / loops))

        def records_for(partition: int, first: int, count: int) -> list[Delivery]:
            made = []
            for offset in range(first, first + count):
                event = order(pid)
                value = Envelope.wrap(event, "order").to_bytes()
                made.append(Delivery("order.events", partition, offset, event.key.encode(), value))
            return made

        prepared = {partition: records_for(partition, 0, ahead) for partition in range(loops)}

        async def loop(partition: int) -> None:
            nonlocal done
            queue, offset = prepared[partition], ahead
            while time.time() < start_at + seconds:
                if len(queue) < batch_size:
                    queue.extend(records_for(partition, offset, batch_size))
                    offset += batch_size
                records, queue[:batch_size] = queue[:batch_size], []
                outcomes = await consumer.consume_batch(records)
                done += len(outcomes)

        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(loop(partition) for partition in range(loops)))
        finished = time.time()
        await engine.dispose()
        return done, finished

    out.put(asyncio.run(main()))


async def hot_product(
    url: str,
    sessions: Any,
    processes: int,
    concurrency: int,
    seconds: float,
    keys: int,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """One transaction per reservation, or with `batch_size` through the batch consumer (`concurrency`
    is then the number of partition loops per process)."""
    product_id = await new_product(sessions, "hot" if batch_size is None else "hot-batched")
    await import_keys(sessions, product_id, keys, "HOT")
    connection = await asyncpg.connect(url)
    await connection.execute("VACUUM ANALYZE available_keys")
    await connection.close()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 3.0
    target: Callable[..., None] = hot_worker
    args: tuple[Any, ...] = (url, str(product_id), concurrency, seconds, start_at, out)
    if batch_size is not None:
        target = hot_batch_worker
        args = (url, str(product_id), concurrency, batch_size, seconds, start_at, out)
    workers = [context.Process(target=target, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    reports = [out.get() for _ in workers]
    attempts = sum(done for done, _ in reports)
    elapsed = max(finished for _, finished in reports) - start_at  # the last batch runs past `seconds`
    for worker in workers:
        worker.join()
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            """
            WITH held AS (SELECT id, order_id FROM card_keys WHERE product_id = $1 AND status = 'reserved')
            SELECT (SELECT count(*) FROM reservations WHERE product_id = $1 AND status = 'active')
                       AS reserved_orders,
                   (SELECT count(*) FROM stock_refusals WHERE product_id = $1) AS refused,
                   (SELECT count(*) FROM held) AS reserved_keys,
                   (SELECT count(DISTINCT id) FROM held) AS distinct_keys,
                   (SELECT count(DISTINCT order_id) FROM held) AS owners,
                   (SELECT count(*) FROM available_keys WHERE product_id = $1) AS still_available
            """,
            product_id,
        )
    finally:
        await connection.close()
    reserved = int(row["reserved_orders"])
    oversold = reserved - int(row["distinct_keys"]) + (int(row["reserved_keys"]) - int(row["owners"]))
    assert reserved + int(row["still_available"]) == keys or int(row["refused"]) > 0, dict(row)
    return {
        "processes": processes, "concurrency_per_process": concurrency, "seconds": seconds, "pool": keys,
        "batch_size": batch_size or 1, "attempts": attempts, "reserved": reserved,
        "refused": int(row["refused"]),
        "elapsed": elapsed, "reservations_per_s": reserved / elapsed, "oversold": oversold,
    }  # fmt: skip


# --- 3 + 4. big pool: import wall time, claim latency ----------------------------------------------


async def latency(sessions: Any, product_id: uuid.UUID, samples: int) -> dict[str, float]:
    for _ in range(50):  # warm up
        await reserve_once(sessions, product_id)
    timings = sorted([await reserve_once(sessions, product_id) for _ in range(samples)])
    return {
        "samples": samples,
        "p50_ms": 1000 * statistics.median(timings),
        "p99_ms": 1000 * timings[int(0.99 * (len(timings) - 1))],
    }


async def presell(url: str, product_id: uuid.UUID, count: int) -> None:
    """Take `count` keys off the head of the queue as sales do (dead index entries included)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            """
            WITH sold AS (
                DELETE FROM available_keys WHERE key_id IN (
                    SELECT key_id FROM available_keys WHERE product_id = $1 ORDER BY expires_at, seq LIMIT $2
                ) RETURNING key_id
            )
            UPDATE card_keys c SET status = 'sold', order_id = gen_random_uuid()
            FROM sold WHERE c.id = sold.key_id
            """,
            product_id,
            count,
        )
    finally:
        await connection.close()


SQL_POOL = """
    WITH k AS (
    INSERT INTO card_keys (id, product_id, shop_id, batch_id, fingerprint, key_id, sealed, status, position,
                           rank, expires_at)
    SELECT (substr($4::text, 1, 24) || lpad(to_hex(g), 8, '0'))::uuid, $1::uuid,
           (SELECT shop_id FROM products WHERE id = $1::uuid), $2::uuid,
           sha256(convert_to($1::uuid::text || ':' || g::text, 'UTF8')), 'dev',
           sha256(int8send(g)) || substr(sha224(int8send(-g)), 1, 24), 'available',
           ($3::bigint << 32) | g, (random() * 9e18)::bigint, 'infinity'
    FROM generate_series($5::bigint, $6::bigint) g
    RETURNING id, product_id, shop_id, position, rank, expires_at
    )
    INSERT INTO available_keys (key_id, product_id, shop_id, seq, rank, expires_at) SELECT * FROM k
"""


async def load_pool_sql(url: str, product_id: uuid.UUID, count: int, step: int = 1_000_000) -> float:
    """`count` keys for `product_id` written straight with SQL, not through the import (bench only, in
    this run's scratch database): a 32-byte fingerprint and a 56-byte sealed-looking payload per key, no
    real sealing; FK triggers off (session_replication_role, a superuser setting) and the two random-
    order indexes (fingerprint, rank) dropped during the load and rebuilt after it. Returns seconds."""
    started = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SET maintenance_work_mem = '1GB'")
        await connection.execute("SET session_replication_role = replica")
        batch_id = uuid.uuid4()
        seq = await connection.fetchval(
            "INSERT INTO key_batches (id, product_id, shop_id, source, imported) "
            "SELECT $1, id, shop_id, 'sql', $3 FROM products WHERE id = $2 RETURNING seq",
            batch_id, product_id, count,
        )  # fmt: skip
        await connection.execute(
            "ALTER TABLE card_keys DROP CONSTRAINT card_keys_product_fingerprint; "
            "DROP INDEX available_keys_random"
        )
        prefix = uuid.uuid4().hex
        for start in range(1, count + 1, step):
            end = min(count, start + step - 1)
            await connection.execute(SQL_POOL, product_id, batch_id, seq, prefix, start, end)
            print(f"  {end:,} keys, {time.perf_counter() - started:.0f} s", flush=True)
        await connection.execute(
            "ALTER TABLE card_keys ADD CONSTRAINT card_keys_product_fingerprint "
            "UNIQUE (product_id, fingerprint)"
        )
        await connection.execute("CREATE INDEX available_keys_random ON available_keys (product_id, rank)")
        await connection.execute(
            "INSERT INTO stock_changes (product_id, shop_id, available) "
            "SELECT id, shop_id, $2 FROM products WHERE id = $1",
            product_id,
            count,
        )
    finally:
        await connection.close()
    return time.perf_counter() - started


async def big_pool(url: str, sessions: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Sections 3 + 4: the 1M import's wall time, then claim latency on 10k / 1M (/ 10M) key pools."""
    results: dict[str, Any] = {}
    started = time.perf_counter()
    await asyncio.to_thread(sealing.start_workers)  # as a service does at start, not on the clock
    workers_started = time.perf_counter() - started
    print(
        f"import 1,000,000 keys ({sealing.WORKERS} sealing workers, started in {workers_started:.1f} s) ..."
    )
    big = await new_product(sessions, "big")
    seconds, result = await import_keys(sessions, big, 1_000_000, "BIG")
    results["import_1m"] = {
        "keys": 1_000_000, "seconds": seconds, "keys_per_s": 1_000_000 / seconds,
        "imported": result.imported, "duplicates": result.duplicates, "invalid": result.invalid,
        "sealing_workers": sealing.WORKERS, "workers_start_seconds_not_counted": workers_started,
    }  # fmt: skip
    print(f"  {seconds:.1f} s", flush=True)

    pools = {"pool_10k": 5_000, "pool_1m": 100_000}
    small = await new_product(sessions, "small")
    await import_keys(sessions, small, 10_000, "SMALL")
    await presell(url, small, pools["pool_10k"])
    await presell(url, big, pools["pool_1m"])
    huge = None
    if args.pool_10m:
        print("load a 10,000,000-key pool with SQL (not through the import) ...", flush=True)
        huge = await new_product(sessions, "huge")
        results["pool_10m_load"] = {
            "keys": 10_000_000, "seconds": await load_pool_sql(url, huge, 10_000_000),
            "how": "written straight with SQL (generate_series, sealed-looking payloads), not imported",
        }  # fmt: skip
        pools["pool_10m"] = 100_000
        await presell(url, huge, pools["pool_10m"])
    connection = await asyncpg.connect(url)
    await connection.execute("ANALYZE")  # no VACUUM: the presold keys' dead index entries stay
    await connection.close()
    print(f"claim latency {' vs '.join(p.removeprefix('pool_') for p in pools)} ...", flush=True)
    results["claim_latency"] = {
        "presold": pools,
        "pool_10k": await latency(sessions, small, args.samples),
        "pool_1m": await latency(sessions, big, args.samples),
    }
    if huge is not None:
        results["claim_latency"]["pool_10m"] = await latency(sessions, huge, args.samples)
    return results


def table(results: dict[str, Any]) -> str:
    ceiling = results["raw_ceiling"]["claims_per_s"]
    rows = [("raw Postgres claim ceiling (pgbench, bare SQL)", f"{ceiling:,.0f} claims/s", "1.00")]
    if "hot_product" in results:
        hot = results["hot_product"]
        rows.append(("hot product, service layer, zero oversell",
                     f"{hot['reservations_per_s']:,.0f} res/s (oversold {hot['oversold']})",
                     f"{hot['reservations_per_s'] / ceiling:.2f}"))  # fmt: skip
    if "hot_product_batched" in results:
        hot = results["hot_product_batched"]
        rows.append((f"hot product, batch consumer ({hot['batch_size']}/transaction)",
                     f"{hot['reservations_per_s']:,.0f} res/s (oversold {hot['oversold']})",
                     f"{hot['reservations_per_s'] / ceiling:.2f}"))  # fmt: skip
        if "hot_product" in results:
            one_each = results["hot_product"]["reservations_per_s"]
            rows.append(
                ("batched / one transaction each", f"{hot['reservations_per_s'] / one_each:.2f}x", "")
            )
    if "claim_latency" in results:
        rows += _big_pool_rows(results, ceiling)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'figure':<34}  vs raw ceiling", "-" * (width + 52)]
    lines += [f"{name:<{width}}  {figure:<34}  {ratio}" for name, figure, ratio in rows]
    return "\n".join(lines)


def _big_pool_rows(results: dict[str, Any], ceiling: float) -> list[tuple[str, str, str]]:
    claims = results["claim_latency"]
    small, big = claims["pool_10k"], claims["pool_1m"]
    imp = results["import_1m"]
    rows: list[tuple[str, str, str]] = []
    pools = [("10k", small), ("1M", big)]
    if "pool_10m" in claims:
        pools.append(("10M (loaded with SQL, not imported)", claims["pool_10m"]))
    rows += [
        (f"claim p50 / p99, {label} pool", f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f} ms",
         f"{1000 / p['p50_ms'] / ceiling:.2f} (1/p50)")
        for label, p in pools
    ]  # fmt: skip
    rows += [
        (f"p99 ratio {label.split()[0]} / 10k (target <= 1.5)", f"{p['p99_ms'] / small['p99_ms']:.2f}x", "")
        for label, p in pools[1:]
    ]
    rows.append(("import 1,000,000 keys (dedupe + AES-GCM + COPY)", f"{imp['seconds']:.1f} s "
                 f"({imp['keys_per_s']:,.0f} keys/s)", f"{imp['keys_per_s'] / ceiling:.2f}"))  # fmt: skip
    return rows


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = server_url()
    name = f"faka_bench_{uuid.uuid4().hex[:10]}"
    url = database_url_for(server, name)
    await upgrade(url, MIGRATIONS)
    engine = create_engine(url, pool_size=8)
    sessions = session_factory(engine)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "note": "10M-key pool loaded with SQL (generate_series), not imported" if args.pool_10m
        else "10M-key pool not measured (opt in with --pool-10m: loaded with SQL, ~2 min)",
    }  # fmt: skip
    try:
        print("raw ceiling ...", flush=True)
        results["raw_ceiling"] = await raw_ceiling(url, args.clients, args.seconds, args.raw_keys)
        print(f"  {results['raw_ceiling']['claims_per_s']:,.0f} claims/s", flush=True)

        if not args.hot_only:
            results.update(await big_pool(url, sessions, args))

        if not args.import_only:
            print("hot product ...", flush=True)
            results["hot_product"] = await hot_product(
                url, sessions, args.processes, args.concurrency, args.seconds, args.hot_keys
            )
            print(f"hot product, batches of {args.batch_size} ...", flush=True)
            results["hot_product_batched"] = await hot_product(
                url, sessions, args.processes, args.batch_loops, args.seconds, args.hot_keys,
                args.batch_size,
            )  # fmt: skip
    finally:
        await engine.dispose()
        if not args.keep:
            await drop_database(server, name)
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=15, help="duration of the ceiling and hot-product runs"
    )
    parser.add_argument("--clients", type=int, default=16, help="pgbench clients for the raw ceiling")
    parser.add_argument("--raw-keys", type=int, default=300_000)
    parser.add_argument(
        "--processes", type=int, default=2, help="service worker processes (consumer replicas)"
    )
    parser.add_argument("--concurrency", type=int, default=12, help="concurrent reservations per process")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE,
        help="records per consume_batch in the batched hot-product run (inventory's consumer_batch_size)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-loops", type=int, default=4,
        help="partition consumers (concurrent batch loops) per process in the batched run",
    )  # fmt: skip
    parser.add_argument("--hot-keys", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2_000, help="claims timed per pool")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--hot-only", action="store_true", help="run only the raw ceiling and the hot product (section 2)"
    )
    parser.add_argument(
        "--import-only",
        action="store_true",
        help="run only the raw ceiling and sections 3 + 4 (import, latency)",
    )
    parser.add_argument(
        "--pool-10m", action="store_true",
        help="also time claims on a 10M-key pool, loaded with SQL rather than imported (~2 min more)",
    )  # fmt: skip
    args = parser.parse_args()
    run_and_report("inventory", main, args, table)


if __name__ == "__main__":
    cli()
