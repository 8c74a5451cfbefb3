"""What one read of a buyer's order costs: `python -m bench.views` (not part of `make bench`).

The buyer's order page and its event stream read the order through the gateway several times a sale (about
six: once when the stream opens, then once per status change), so this read is the platform's most frequent
request. The benchmark places one order for a product of its own through the gateway of the running platform
(as `make up` runs it; with the services down it starts them and stops them after), waits until it awaits
payment, then reads it `--reads` times with the order's token, `--concurrency` at a time, and divides each
process's CPU over that loop (from /proc, as the end-to-end benchmark counts it) by the reads. Its figures
are what docs/scaling.md quotes for the steps on the buyer's read path; the box is shared, so compare the
processes' ratios from the same run (gateway against order service) rather than absolute figures."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from typing import Any

import httpx

from bench.e2e import GATEWAY, INFRA, SERVICES, SMTP_PORT, Shop, ready, services
from bench.procstat import CpuMeter, platform_groups
from bench.report import run_and_report

#: The processes the read goes through (the others are listed for what they burn meanwhile).
ON_THE_PATH = ("gateway", "order", "postgres", "redis")


async def awaiting_order(client: httpx.AsyncClient, product_id: str) -> tuple[str, str]:
    """An order of the product, placed and awaiting payment: (order number, token)."""
    buyer = secrets.token_hex(4)
    placed = await client.post(
        "/api/v1/orders",
        json={"product_id": product_id, "quantity": 1, "email": f"views-{buyer}@example.com"},
        headers={"X-Forwarded-For": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7"},
    )
    placed.raise_for_status()
    order_no, token = placed.json()["order_no"], placed.json()["token"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = (await client.get(f"/api/v1/orders/{order_no}", params={"token": token})).json()
        if view["status"] == "awaiting_payment":
            return order_no, token
        await asyncio.sleep(0.1)
    raise RuntimeError(f"order {order_no} did not reach awaiting_payment in 30 s")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"args": vars(args)}
    started = False
    async with httpx.AsyncClient(timeout=10) as probe:
        if not await ready(probe):
            await asyncio.to_thread(services, "start")
            started = True
    shop = Shop(secrets.token_hex(3))
    try:
        await shop.create()
        await shop.stock_up(1)
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
            order_no, token = await awaiting_order(client, shop.product_id)
            meter = CpuMeter(platform_groups(SERVICES, INFRA, SMTP_PORT))
            per_worker, answers = args.reads // args.concurrency, []

            async def reader() -> None:
                for _ in range(per_worker):
                    answer = await client.get(f"/api/v1/orders/{order_no}", params={"token": token})
                    answers.append(answer.status_code)

            before, began = meter.snapshot(), time.monotonic()
            await asyncio.gather(*(reader() for _ in range(args.concurrency)))
            wall, after = time.monotonic() - began, meter.snapshot()
        reads = len(answers)
        if answers.count(200) != reads:
            raise RuntimeError(f"{reads - answers.count(200)} of {reads} reads were refused")
        spent = CpuMeter.seconds(before, after)
        results.update(
            reads=reads,
            wall_s=wall,
            reads_per_s=reads / wall,
            cpu_ms_per_read={name: 1000 * seconds / reads for name, seconds in spent.items()},
        )
    finally:
        await shop.close()
        if started:
            await asyncio.to_thread(services, "stop")
    return results


def table(results: dict[str, Any]) -> str:
    cpu = results["cpu_ms_per_read"]
    side_by_side = results["args"]["concurrency"]
    lines = [
        f"{results['reads']} reads of one order through the gateway, {side_by_side} at a time: "
        f"{results['reads_per_s']:.0f} reads/s",
        f"{'process':<40} CPU ms per read",
    ]
    lines += [f"{name:<40} {cpu.get(name, 0.0):.3f}" for name in ON_THE_PATH]
    lines += [f"{name:<40} {ms:.3f}" for name, ms in sorted(cpu.items()) if name not in ON_THE_PATH]
    if cpu.get("gateway"):
        lines.append(f"order service against gateway: {cpu.get('order', 0.0) / cpu['gateway']:.2f}")
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=800, help="reads of the order in all (800)")
    parser.add_argument("--concurrency", type=int, default=4, help="readers side by side (4)")
    args = parser.parse_args()
    run_and_report("views", main, args, table)


if __name__ == "__main__":
    cli()
