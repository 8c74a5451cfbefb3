"""Risk benchmark: `python -m bench.risk [--rate 1000] [--seconds 10]` (DATABASE_URL, REDIS_URL: the local
ones by default). Decides on OrderPlaced events with the risk service's own handler at a fixed rate (open
loop: a slow decision does not slow the arrivals), with a shop rule set that exercises every kind of rule (a
blocklist of 1,000 networks, velocity per address, e-mail and product, unpaid orders per address, the
amount against the product's trailing mean, disposable domains, quantity bounds), and reports per record:

- `decision`: the handler alone (the rule-set version check, the rules, the Redis window script, the mean),
  what the issue's "p99 <= 5 ms per decision inside the risk service" is about;
- `transaction`: the decision with its transaction (begin, handler, outbox, commit), as the consumer runs it
  less the inbox claim.

Prints p50/p99/max of each and the rate reached, and writes JSON to bench/results/."""

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
from risk.bootstrap import bootstrap
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
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max_ms": ordered[-1] * 1000,
        "count": len(ordered),
    }


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
            decisions: list[float] = []
            transactions: list[float] = []

            async def one(i: int) -> None:
                event = placed(i, 1000 if i % 50 else 5000)
                began = time.perf_counter()
                async with service.uow() as uow:
                    started = time.perf_counter()
                    await handlers.decide_on_order(event, uow, service.decider)
                    decisions.append(time.perf_counter() - started)
                    await uow.commit()
                transactions.append(time.perf_counter() - began)

            total = int(args.rate * args.seconds)
            tasks = []
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(total):
                delay = start + i / args.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(1000 + i)))
            await asyncio.gather(*tasks)
            elapsed = loop.time() - start
        finally:
            await service.decider.counters.aclose()
            await service.runtime.engine.dispose()
    return {
        "target_rate": args.rate,
        "reached_rate": total / elapsed,
        "decision": percentiles(decisions),
        "transaction": percentiles(transactions),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def table(results: dict[str, Any]) -> str:
    rows = [f"risk decisions at {results['target_rate']}/s (reached {results['reached_rate']:.0f}/s), "
            f"load average {results['load_average'][0]:.1f} on {results['cpus']} CPUs"]  # fmt: skip
    for name in ("decision", "transaction"):
        r = results[name]
        rows.append(
            f"  {name:<9} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   max {r['max_ms']:7.2f} ms"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    run_and_report("risk", run, parser.parse_args(), table)
