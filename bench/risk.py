"""Risk benchmark: `python -m bench.risk [--rates 50 200 1000] [--seconds 10] [--decide-only]`
(DATABASE_URL, REDIS_URL: the local ones by default). Decides on OrderPlaced events with the risk service's
own handlers at fixed rates, one after the other (open loop: a slow decision does not slow the arrivals),
with a shop rule set that exercises every kind of rule (a blocklist of 1,000 networks, velocity per address,
e-mail and product, unpaid orders per address, the amount against the product's trailing mean, disposable
domains, quantity bounds, a challenge rule), and reports per record:

- `decision`: the verdict (`handlers.decision_on`: the kept rule sets, the kept trailing mean, the rules and
  the one Redis round trip), what the issue's "p99 <= 5 ms per decision inside the risk service" is about;
- `handler`: the decision and its recording (the decision row, a review, the outbox row), as
  `decide_on_order` runs;
- `transaction`: the handler with its transaction (begin, handler, commit), as the consumer runs it less the
  inbox claim. With --decide-only, only decisions are made (no recording, no commit): what one process
  decides when the database work is elsewhere or batched.

Each rate runs a second first that is not counted (connections opened, caches filled). Prints p50/p99/max of
each per rate, the rate reached, the records that failed (what the consumer would retry) and the process's
CPU time per record (what bounds one process's rate, whatever else the machine runs), and writes JSON to
bench/results/. The machine is shared: the load average is printed beside each rate."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from faka_common.contracts import Envelope, OrderPaid, OrderPlaced
from faka_common.contracts.risk_rules import RiskRules
from faka_common.messaging.consumer import Delivery
from faka_common.testing import migrated_database
from risk.bootstrap import Service, bootstrap
from risk.config import MIGRATIONS, Settings
from risk.service_layer import handlers

from bench.report import run_and_report

SHOP = uuid.uuid4()
PRODUCTS = [uuid.uuid4() for _ in range(20)]
RULES = RiskRules.model_validate(
    {
        "rules": [
            {"type": "blocklist", "cidrs": [f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)]},
            {"type": "velocity", "per": "ip", "limit": 50, "window_seconds": 60},
            {"type": "velocity", "per": "email", "limit": 20, "window_seconds": 3600},
            {"type": "velocity", "per": "product", "limit": 100_000, "window_seconds": 60},
            {"type": "unpaid_orders", "per": "ip", "limit": 30},
            {"type": "amount_above_mean", "factor": "3", "min_samples": 5},
            {"type": "disposable_email"},
            {"type": "quantity", "max": 10},
            {"type": "challenge", "per": "ip", "limit": 40, "window_seconds": 60},
        ]
    }
)


def record(message: OrderPlaced | OrderPaid) -> Delivery:
    return Delivery(message.topic, 0, 0, message.key.encode(), Envelope.wrap(message, "bench").to_bytes())


def placed(i: int, amount: int = 1000) -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid.uuid4(),
        shop_id=SHOP,
        order_no=f"B{i}",
        product_id=PRODUCTS[i % len(PRODUCTS)],
        product_title="Card",
        quantity=1,
        amount=amount,
        currency="CNY",
        buyer_email=f"buyer{i % 5000}@example.com",
        buyer_ip=f"198.{(i // 250) % 250}.{i % 250}.{i % 7}",
    )


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [float("nan")]
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max_ms": ordered[-1] * 1000,
        "count": len(ordered),
    }


async def at_rate(
    service: Service, rate: float, seconds: float, decide_only: bool, first: int
) -> dict[str, Any]:
    decisions: list[float] = []
    handled: list[float] = []
    transactions: list[float] = []

    failed: list[str] = []

    async def one(i: int) -> None:
        try:
            await timed(i)
        except Exception as error:  # the consumer would park the record on its retry topic
            failed.append(f"{type(error).__name__}: {error}"[:200])

    async def timed(i: int) -> None:
        event = placed(i, 1000 if i % 50 else 5000)
        facts = handlers.facts_of(event)
        began = time.perf_counter()
        async with service.uow() as uow:
            started = time.perf_counter()
            decision, shop = await handlers.decision_on(facts, uow, service.decider)
            decisions.append(time.perf_counter() - started)
            if decide_only:
                return
            await handlers.record_decision(event, facts, decision, shop, uow)
            handled.append(time.perf_counter() - started)
            await uow.commit()
        transactions.append(time.perf_counter() - began)

    total = int(rate * seconds)
    tasks = []
    loop = asyncio.get_running_loop()
    start, cpu = loop.time(), time.process_time()
    for i in range(total):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(first + i)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    found: dict[str, Any] = {
        "target_rate": rate,
        "reached_rate": total / elapsed,
        "cpu_ms_per_record": (time.process_time() - cpu) / total * 1000,
        "load_average": os.getloadavg(),
        "failed": len(failed),
        "failures": sorted(set(failed))[:5],
        "decision": percentiles(decisions),
    }
    if not decide_only:
        found |= {"handler": percentiles(handled), "transaction": percentiles(transactions)}
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with migrated_database("faka_risk_bench", MIGRATIONS) as url:
        namespace = f"bench-{uuid.uuid4().hex[:8]}."
        service = bootstrap(
            Settings(
                database_url=url, run_migrations=False, kafka_namespace=namespace, environment="development"
            )
        )
        try:
            await handlers.change_rules(service.uow(), SHOP, RULES, "bench", service.decider)
            for i in range(200):  # the products' trailing means
                order = placed(i)
                await service.consumer.consume(record(order))
                await service.consumer.consume(record(OrderPaid(
                    order_id=order.order_id, shop_id=SHOP, order_no=order.order_no,
                    product_id=order.product_id, quantity=1, amount=order.amount, currency="CNY",
                    provider="bench", trade_no=f"T{i}", paid_at=datetime.now(UTC),
                )))  # fmt: skip
            runs = []
            for n, rate in enumerate(args.rates):
                first = 1000 + n * 1_000_000
                # a second at the rate first (connections opened, caches filled), not counted
                await at_rate(service, rate, 1, args.decide_only, first + 900_000)
                runs.append(await at_rate(service, rate, args.seconds, args.decide_only, first))
        finally:
            await service.decider.counters.aclose()
            await service.runtime.engine.dispose()
    return {"runs": runs, "decide_only": args.decide_only, "cpus": os.cpu_count()}


def table(results: dict[str, Any]) -> str:
    rows = []
    for run in results["runs"]:
        rows.append(f"risk decisions at {run['target_rate']:.0f}/s (reached {run['reached_rate']:.0f}/s), "
                    f"load average {run['load_average'][0]:.1f} on {results['cpus']} CPUs, "
                    f"{run['failed']} failed, {run['cpu_ms_per_record']:.2f} ms CPU a record")  # fmt: skip
        for name in ("decision", "handler", "transaction"):
            if (r := run.get(name)) is not None:
                rows.append(f"  {name:<11} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
                            f"max {r['max_ms']:7.2f} ms")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--decide-only", action="store_true", help="decisions without recording them")
    run_and_report("risk", run, parser.parse_args(), table)
