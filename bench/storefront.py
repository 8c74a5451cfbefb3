"""How long the storefront home takes with 1,000 products: `python -m bench.storefront` (in `make bench` too).

The console issue holds the home to under 100 ms of server time with 1,000 products. This benchmark writes a
shop's catalog of `--products` products (in `--categories` categories, one in ten sold out) into the
storefront read model on the local Redis, exactly as the inventory
projects it (faka_common.contracts.storefront), and asks the gateway's own app for the shop's home
`--requests` times, in English and in Chinese by turns, one request at a time. The app runs in this process
(ASGI, no socket), so the time a request takes is the gateway's server time: reading the read model from
Redis, the view, the template and the answer. The inventory's category names and product list (each asked
at most every 30 s per shop, and kept) come from an in-memory stand-in answering at once. Each answer is
checked: 200 and every product on sale named on the page.

Prints p50 / p95 / p99 / max of the server time and the CPU per request; JSON in bench/results/."""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from typing import Any

import httpx
import redis.asyncio as redis
from faka_common import collector
from faka_common.contracts.storefront import catalog_built_key, catalog_index_key, catalog_key, stock_key
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import build_gateway
from gateway.config import Settings
from gateway.domain.shops import Shop
from gateway.entrypoints.routers import edge_app

from bench.report import run_and_report

#: The issue's figure: the home in under 100 ms of server time with 1,000 products (held to at p99 here).
TARGET_MS = 100.0


class Inventory(InternalClient):
    """The inventory's internal API answering from memory: the shop's category names, no paused product."""

    def __init__(self, categories: list[dict[str, Any]]) -> None:
        super().__init__("http://inventory.bench", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(
            base_url="http://inventory.bench", transport=httpx.MockTransport(self.answer)
        )
        self._categories = categories

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/categories":
            return httpx.Response(200, json={"items": self._categories})
        return httpx.Response(200, json={"items": []})


async def write_catalog(
    connection: redis.Redis, namespace: str, shop_id: uuid.UUID, products: int, categories: list[str]
) -> list[str]:
    """The shop's read model as the inventory writes it; the ids of the products shown on the home."""
    shown: list[str] = []
    async with connection.pipeline(transaction=False) as pipe:
        for n in range(products):
            product_id = str(uuid.uuid4())
            sold_out = n % 10 == 9
            entry = {
                "version": "1",
                "title": f"Game card {n:04d} · 游戏点卡 {n}",
                "description": f"A {n % 7 + 1}-month membership code, delivered at once",
                "price": str(1000 + n * 7),
                "currency": "CNY",
                "delivery_type": "card_key",
                "category_id": categories[n % len(categories)],
                "sort_order": str(n),
                "max_per_order": "5",
                "max_per_buyer": "",
                "usage_instructions": "Redeem in the launcher",
                "hide_when_sold_out": "0",
            }
            stock = {
                "version": "1",
                "available": "0" if sold_out else str(3 + n % 50),
                "reserved": "0",
                "sold": str(n % 13),
                "in_stock": "0" if sold_out else "1",
            }
            pipe.hset(catalog_key(namespace, product_id), mapping=entry)  # type: ignore[arg-type]
            pipe.hset(stock_key(namespace, product_id), mapping=stock)  # type: ignore[arg-type]
            pipe.zadd(catalog_index_key(namespace, shop_id), {product_id: n})
            shown.append(product_id)
        pipe.set(catalog_built_key(namespace, shop_id), "2026-12-01T00:00:00+00:00")
        await pipe.execute()
    return shown


async def main(args: argparse.Namespace) -> dict[str, Any]:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0")
    namespace = f"bench-home-{uuid.uuid4().hex[:8]}."
    shop = Shop(uuid.uuid4(), "bench-home", "Bench Home", "active")
    category_ids = [str(uuid.uuid4()) for _ in range(args.categories)]
    categories = [
        {"category_id": c, "name": f"Category {i}", "sort_order": i} for i, c in enumerate(category_ids)
    ]
    connection = redis.Redis.from_url(url, decode_responses=True)
    try:
        shown = await write_catalog(connection, namespace, shop.id, args.products, category_ids)
        gw = build_gateway(
            settings=Settings(environment="development", redis_url=url, kafka_namespace=namespace),
            shops=KnownShops([shop], any_host=True),
            inventory=Inventory(categories),
            order=InternalClient("http://127.0.0.1:1", ServiceCredential.development("gateway")),
        )
        wall: list[float] = []
        cpu: list[float] = []
        sizes: list[int] = []
        collector.settle()  # as a started service process does (faka_common.runtime)
        transport = httpx.ASGITransport(app=edge_app(gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench-home.test") as client:
            for n in range(args.warmup + args.requests):
                language = "zh-CN" if n % 2 else "en"
                started, started_cpu = time.perf_counter(), time.process_time()
                answer = await client.get("/", headers={"Accept-Language": language})
                took, took_cpu = time.perf_counter() - started, time.process_time() - started_cpu
                if answer.status_code != 200:
                    raise RuntimeError(f"the home answered {answer.status_code}: {answer.text[:300]}")
                missing = [p for p in shown if p not in answer.text]
                if missing:
                    raise RuntimeError(f"{len(missing)} of {len(shown)} products missing from the home")
                if n >= args.warmup:
                    wall.append(took * 1000)
                    cpu.append(took_cpu * 1000)
                    sizes.append(len(answer.content))
    finally:
        keys = [key async for key in connection.scan_iter(match=f"{namespace}*")]
        if keys:
            await connection.delete(*keys)
        await connection.aclose()
    quantiles = statistics.quantiles(wall, n=100, method="inclusive")
    return {
        "args": vars(args),
        "products_on_the_page": len(shown),
        "page_bytes_median": statistics.median(sizes),
        "server_ms": {
            "p50": statistics.median(wall),
            "p95": quantiles[94],
            "p99": quantiles[98],
            "max": max(wall),
        },
        "cpu_ms_per_request": statistics.mean(cpu),
        "target_ms": TARGET_MS,
        "load_average": os.getloadavg(),
    }


def table(results: dict[str, Any]) -> str:
    server = results["server_ms"]
    rows = [
        ("products on the home", f"{results['products_on_the_page']:,}"),
        ("page size (median)", f"{results['page_bytes_median'] / 1024:,.0f} KiB"),
        (
            "server time p50 / p95 / p99 / max",
            " / ".join(f"{server[k]:.1f}" for k in ("p50", "p95", "p99", "max")) + " ms",
        ),
        ("CPU per request", f"{results['cpu_ms_per_request']:.1f} ms"),
        (
            "target: under 100 ms at p99",
            "met" if server["p99"] < results["target_ms"] else f"not met ({server['p99']:.0f} ms)",
        ),
        ("load average (1, 5, 15 min)", ", ".join(f"{x:.1f}" for x in results["load_average"])),
    ]
    return "\n".join(f"{name:36s} {value}" for name, value in rows)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=12)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    return parser.parse_args()


if __name__ == "__main__":
    run_and_report("storefront", main, parse(), table)
