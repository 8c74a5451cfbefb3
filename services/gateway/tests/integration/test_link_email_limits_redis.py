"""Order-link e-mail requests against the real Redis at REDIS_URL: every gateway counts them in one window per
order number (and one per client address) under the documented keys; a full window answers 429."""

from __future__ import annotations

import pytest
import redis.asyncio as redis

from .test_lookup_limits_redis import ORDER_NO, client, gateway, store

pytestmark = pytest.mark.integration
__all__ = ["store"]  # the fixture, shared with the lookup-limit tests


async def test_two_gateways_share_an_orders_link_email_window_in_redis(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    first, second = gateway(namespace), gateway(namespace)  # 3 link e-mails per order and hour
    body = {"email": "buyer@example.com"}
    path = f"/api/v1/orders/{ORDER_NO}/link-emails"
    async with client(first, "198.51.100.11") as a, client(second, "198.51.100.12") as b:
        answers = [
            await a.post(path, json=body),
            await b.post(path, json=body),
            await a.post(path, json=body),
        ]
        refused = await b.post(path, json={"email": "someone@example.com"})
    assert [r.status_code for r in answers] == [202, 202, 202]
    assert refused.status_code == 429 and "this order" in refused.json()["message"]
    assert 3000 < int(refused.headers["retry-after"]) <= 3600
    order_key = f"LIMITS:LIMITER/faka/{namespace}/link-email/order/{ORDER_NO}/3/1/hour"
    assert await connection.llen(order_key) == 3
    assert (
        await connection.llen(f"LIMITS:LIMITER/faka/{namespace}/link-email/ip/198.51.100.11/10/1/hour") == 2
    )
    await first.aclose()
    await second.aclose()
