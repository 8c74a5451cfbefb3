"""The storefront home benchmark runs against the real Redis: its catalog is read back by the gateway's app,
every product on sale is on each page it measures, and the read model it wrote is removed afterwards."""

from __future__ import annotations

import argparse
import os

import pytest
import redis.asyncio as redis

from bench.storefront import main

pytestmark = pytest.mark.integration


async def test_the_home_benchmark_measures_pages_that_list_every_product_and_cleans_up() -> None:
    args = argparse.Namespace(products=30, categories=4, requests=4, warmup=1)
    results = await main(args)
    assert results["products_on_the_page"] == 30
    assert 0 < results["server_ms"]["p50"] <= results["server_ms"]["max"]
    assert results["cpu_ms_per_request"] > 0
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        assert [key async for key in connection.scan_iter(match="bench-home-*")] == []
    finally:
        await connection.aclose()
