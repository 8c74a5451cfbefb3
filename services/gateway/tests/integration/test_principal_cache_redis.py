"""Who a session or an API token is, kept briefly in the real Redis at REDIS_URL: a burst of calls asks
merchant once, a forgotten session (signed out, stepped up) is asked again at once, the cache holds
neither secret, and a Redis that cannot be reached only costs the cache."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import redis.asyncio as redis
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.principals import MerchantPrincipals

pytestmark = pytest.mark.integration

SESSION = "s" * 43
TOKEN = "faka_" + "t" * 43


def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: point it at a Redis server, e.g. redis://127.0.0.1:16379/0")
    return url


class Merchant:
    """Merchant's session and token resolution; counts how often it is asked, answers the second factor's
    current time."""

    def __init__(self) -> None:
        self.asked = 0
        self.second_factor_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
        self.account_id = uuid.uuid4()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        if (
            request.url.path == "/internal/sessions/current"
            and request.headers.get("x-session-token") == SESSION
        ):
            return httpx.Response(
                200,
                json={"session_id": str(uuid.uuid4()), "account_id": str(self.account_id),
                      "email": "owner@example.com", "platform_roles": [], "memberships": [],
                      "second_factor_at": self.second_factor_at.isoformat(),
                      "totp_enrolment_required": False},
            )  # fmt: skip
        if request.url.path == "/internal/api-tokens/resolve" and request.headers.get("x-api-token") == TOKEN:
            return httpx.Response(
                200,
                json={"token_id": str(uuid.uuid4()), "shop_id": str(uuid.uuid4()), "scopes": ["orders:read"]},
            )
        return httpx.Response(401, json={"error": "session_invalid", "message": "no live session"})


def principals(
    merchant: Merchant, namespace: str, url: str | None = None, ttl: float = 30
) -> MerchantPrincipals:
    client = InternalClient(
        "http://merchant.test",
        ServiceCredential.development("gateway"),
        transport=httpx.MockTransport(merchant),
    )
    return MerchantPrincipals(client, url or redis_url(), namespace, ttl=30)


async def test_a_burst_asks_merchant_once_and_a_forgotten_session_is_asked_again_at_once() -> None:
    merchant, namespace = Merchant(), f"test-{uuid.uuid4().hex[:8]}."
    cache = principals(merchant, namespace)
    try:
        first = [await cache.resolve("session", SESSION) for _ in range(5)]
        assert merchant.asked == 1 and first[0] == first[4]
        merchant.second_factor_at = datetime(2026, 12, 1, 10, 4, tzinfo=UTC)  # a step-up
        await cache.forget("session", SESSION)
        after = await cache.resolve("session", SESSION)
        assert merchant.asked == 2
        assert after.second_factor_at == merchant.second_factor_at
        token = await cache.resolve("api_token", TOKEN)
        assert token.kind == "api_token" and token.scopes == frozenset({"orders:read"})
    finally:
        await cache.aclose()
    store = redis.from_url(redis_url())
    try:
        keys = [key async for key in store.scan_iter(f"{namespace}gateway:principal:*")]
        assert len(keys) == 2
        kept = b"".join([*keys, *[await store.get(key) or b"" for key in keys]])
        assert SESSION.encode() not in kept and TOKEN.encode() not in kept
        for key in keys:
            assert 0 < await store.pttl(key) <= 30_000
    finally:
        await store.aclose()


async def test_a_secret_that_opens_nothing_is_never_kept() -> None:
    merchant, namespace = Merchant(), f"test-{uuid.uuid4().hex[:8]}."
    cache = principals(merchant, namespace)
    try:
        for _ in range(2):
            with pytest.raises(Exception, match="no live session"):
                await cache.resolve("session", "wrong" * 8)
        assert merchant.asked == 2
    finally:
        await cache.aclose()


async def test_without_redis_every_resolution_asks_merchant_and_still_works() -> None:
    merchant = Merchant()
    cache = principals(merchant, "test.", url="redis://127.0.0.1:9/0")  # nothing listens there
    try:
        for _ in range(3):
            assert (await cache.resolve("session", SESSION)).label == "owner@example.com"
        assert merchant.asked == 3
    finally:
        await cache.aclose()
