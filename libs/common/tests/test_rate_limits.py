"""The shared moving-window limiter, on memory:// and on the real Redis at REDIS_URL (the same behaviour
from both): attempts are counted in every window or in none, a refusal names the window that frees up last,
the store's keys are the windows', replicas share windows, and an unreachable store lets attempts through
(logged). Plus the 429 with Retry-After every service answers for `RateLimited`."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as redis
from faka_common.errors import DomainError
from faka_common.http import install_error_handlers, too_many
from faka_common.rate_limits import (
    TAKE_ALL_FUNCTION,
    Limiter,
    RateLimited,
    Window,
    async_storage_url,
    email_id,
)
from faka_common.testing import required_env
from fastapi import FastAPI
from limits import RateLimitItemPerHour, RateLimitItemPerMinute


def redis_url() -> str:
    return required_env("REDIS_URL", "redis://127.0.0.1:16379/0")


class Windows:
    """Windows under a root of their own (a fresh namespace per test), so tests share no window."""

    def __init__(self) -> None:
        self.root = ("faka", f"rl-{uuid.uuid4().hex[:10]}")

    def per_minute(self, limit: int, *who: str, whose: str = "your address") -> Window:
        return Window(RateLimitItemPerMinute(limit), (*self.root, *who), whose, "tries")

    def per_hour(self, limit: int, *who: str, whose: str = "this account") -> Window:
        return Window(RateLimitItemPerHour(limit), (*self.root, *who), whose, "tries")


@pytest.fixture
def windows() -> Windows:
    return Windows()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, windows: Windows) -> AsyncIterator[str]:
    """The storage URL of each kind, emptied of the test's windows afterwards."""
    if request.param == "memory":
        yield "memory://"
        return
    url = redis_url()
    yield url
    connection = redis.from_url(url)
    async for key in connection.scan_iter(match=f"*{'/'.join(windows.root)}/*"):
        await connection.delete(key)
    await connection.aclose()


async def tries(limiter: Limiter, windows: list[Window], times: int) -> list[int | None]:
    """What each of `times` attempts got: None when counted, the retry_after of its refusal otherwise."""
    out: list[int | None] = []
    for _ in range(times):
        try:
            await limiter.take(windows)
            out.append(None)
        except RateLimited as refusal:
            out.append(refusal.retry_after)
    return out


async def test_take_counts_until_a_window_is_full_then_refuses_with_429_and_retry_after(
    store: str, windows: Windows
) -> None:
    limiter = Limiter(store)
    window = windows.per_minute(3, "ip", "198.51.100.1")
    assert (await tries(limiter, [window], 3)) == [None, None, None]
    with pytest.raises(RateLimited) as refused:
        await limiter.take([window])
    assert isinstance(refused.value, DomainError)
    assert refused.value.status_code == 429 and refused.value.code == "rate_limited"
    assert 55 <= refused.value.retry_after <= 60
    assert (
        refused.value.message
        == f"too many tries for your address; try again in {refused.value.retry_after} seconds"
    )


async def test_an_attempt_refused_by_one_window_is_counted_in_none(store: str, windows: Windows) -> None:
    limiter = Limiter(store)
    client = windows.per_minute(3, "ip", "198.51.100.2")
    account = windows.per_hour(1, "email", email_id("a@example.com"))
    await limiter.take([client, account])
    refused = await tries(limiter, [client, account], 4)
    assert all(r is not None and r > 60 for r in refused)  # the account's hourly window, each time
    # the client's window still has the two attempts that were not counted
    other = windows.per_hour(5, "email", email_id("b@example.com"))
    first, second, third = await tries(limiter, [client, other], 3)
    assert first is None and second is None and third is not None and third <= 60


async def test_a_refusal_names_the_full_window_that_frees_up_last(store: str, windows: Windows) -> None:
    limiter = Limiter(store)
    client = windows.per_minute(1, "ip", "198.51.100.3")
    account = windows.per_hour(1, "email", email_id("c@example.com"))
    await limiter.take([client, account])
    for order in ([client, account], [account, client]):
        refusal = await limiter.full(order)
        assert refusal is not None
        assert 3500 < refusal.retry_after <= 3600 and "for this account" in refusal.message
    # with only the client's window full, the client's window is named
    minute_only = windows.per_hour(5, "email", email_id("d@example.com"))
    refusal = await limiter.full([minute_only, client])
    assert refusal is not None and refusal.retry_after <= 60 and "for your address" in refusal.message


async def test_full_counts_nothing_and_count_counts_without_refusing(store: str, windows: Windows) -> None:
    limiter = Limiter(store)
    window = windows.per_minute(2, "order", "F1")
    for _ in range(5):
        assert await limiter.full([window]) is None
    await limiter.count([window])
    await limiter.count([window])
    await limiter.count([window])  # a full window stays full: no error, nothing more counted
    refusal = await limiter.full([window])
    assert refusal is not None and refusal.retry_after <= 60


async def test_different_identifiers_are_different_windows(store: str, windows: Windows) -> None:
    limiter = Limiter(store)
    assert (await tries(limiter, [windows.per_minute(1, "ip", "198.51.100.4")], 2))[1] is not None
    assert (await tries(limiter, [windows.per_minute(1, "ip", "198.51.100.5")], 1)) == [None]


@pytest.mark.integration
async def test_the_windows_live_in_redis_under_their_keys_and_two_replicas_share_them(
    windows: Windows,
) -> None:
    url = redis_url()
    client = windows.per_minute(4, "ip", "198.51.100.6")
    account = windows.per_hour(2, "email", email_id("E@Example.com"))
    first, second = Limiter(url), Limiter(url)
    await first.take([client, account])
    await second.take([client, account])
    with pytest.raises(RateLimited):
        await first.take([client, account])
    connection = redis.from_url(url)
    try:
        keys = {k.decode() async for k in connection.scan_iter(match=f"*{'/'.join(windows.root)}/*")}
        assert keys == {f"LIMITS:{client.key}", f"LIMITS:{account.key}"}
        assert "example" not in account.key.lower()
        assert await connection.llen(f"LIMITS:{client.key}") == 2  # the refused attempt counted in neither
        assert 0 < await connection.ttl(f"LIMITS:{account.key}") <= 3600
        for key in keys:
            await connection.delete(key)
    finally:
        await connection.aclose()


@pytest.mark.integration
async def test_of_attempts_sent_at_once_only_what_fits_gets_through(windows: Windows) -> None:
    replicas = [Limiter(redis_url()) for _ in range(4)]
    window = windows.per_minute(5, "ip", "198.51.100.7")
    answers = await asyncio.gather(*(tries(limiter, [window], 5) for limiter in replicas))
    assert sum(r is None for answer in answers for r in answer) == 5
    connection = redis.from_url(redis_url())
    try:
        await connection.delete(f"LIMITS:{window.key}")
    finally:
        await connection.aclose()


@pytest.fixture
def unreachable_redis() -> Iterator[str]:
    """A redis:// URL on 127.0.0.1 whose port is bound but not listening: every connection is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"redis://127.0.0.1:{held.getsockname()[1]}/0"


async def test_an_unreachable_store_lets_every_attempt_through_and_logs_it(
    unreachable_redis: str, windows: Windows, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = Limiter(unreachable_redis)
    window = windows.per_minute(1, "ip", "198.51.100.8")
    with caplog.at_level(logging.WARNING, logger="faka_common.rate_limits"):
        assert (await tries(limiter, [window], 3)) == [None, None, None]
        assert await limiter.full([window]) is None
        await limiter.count([window])
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 5
    assert all(m.startswith("rate limits unavailable (") and m.endswith(": tries") for m in messages)
    assert "attempt not counted" in messages[-1] and "letting the request through" in messages[0]


def test_the_storage_url_is_the_asyncio_one_whichever_is_given() -> None:
    assert async_storage_url("redis://127.0.0.1:6379/0") == "async+redis://127.0.0.1:6379/0"
    assert async_storage_url("async+redis://h:1/0") == "async+redis://h:1/0"
    assert Limiter("memory://").storage_url == "async+memory://"


def test_email_ids_ignore_case_and_spaces_and_hide_the_address() -> None:
    assert email_id(" Buyer@Example.COM ") == email_id("buyer@example.com")
    assert len(email_id("buyer@example.com")) == 32 and "example" not in email_id("buyer@example.com")
    assert email_id("buyer@example.com") != email_id("buyer2@example.com")


def refusing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/limited")
    async def limited() -> None:
        raise RateLimited("too many tries for your address; try again in 42 seconds", 42)

    @app.get("/other")
    async def other() -> None:
        raise DomainError("plain")

    return app


async def test_rate_limited_answers_429_with_retry_after_in_header_and_body() -> None:
    transport = httpx.ASGITransport(app=refusing_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        limited = await client.get("/limited")
        other = await client.get("/other")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "42"
    assert limited.json() == {
        "error": "rate_limited",
        "message": "too many tries for your address; try again in 42 seconds",
        "retry_after": 42,
    }
    assert other.status_code == 400 and "retry-after" not in other.headers
    assert other.json() == {"error": "bad_request", "message": "plain"}


def test_too_many_adds_the_callers_headers() -> None:
    response = too_many(RateLimited("slow down", 7), {"Cache-Control": "no-store"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7" and response.headers["cache-control"] == "no-store"


@pytest.mark.integration
async def test_of_attempts_sent_at_once_a_window_counts_only_those_the_other_windows_let_through(
    windows: Windows,
) -> None:
    """A take is one atomic script on Redis: an attempt refused by the account's window is not left counted
    in the client's, however the attempts of several replicas interleave."""
    replicas = [Limiter(redis_url()) for _ in range(4)]
    client = windows.per_minute(10, "ip", "198.51.100.9")
    account = windows.per_minute(3, "email", email_id("f@example.com"))
    answers = await asyncio.gather(*(tries(limiter, [client, account], 3) for limiter in replicas))
    assert sum(r is None for answer in answers for r in answer) == 3
    assert all(0 < r <= 60 for answer in answers for r in answer if r is not None)
    connection = redis.from_url(redis_url())
    try:
        assert await connection.llen(f"LIMITS:{client.key}") == 3
        assert await connection.llen(f"LIMITS:{account.key}") == 3
        await connection.delete(f"LIMITS:{client.key}", f"LIMITS:{account.key}")
    finally:
        await connection.aclose()


@pytest.mark.integration
async def test_an_attempt_given_back_leaves_its_room_in_every_window(windows: Windows) -> None:
    limiter = Limiter(redis_url())
    taken = [windows.per_minute(2, "ip", "203.0.113.9"), windows.per_hour(3, "email", "e1")]
    await limiter.take(taken)
    await limiter.take(taken)
    with pytest.raises(RateLimited):
        await limiter.take(taken)
    await limiter.give_back(taken)
    await limiter.take(taken)  # the minute's room given back
    with pytest.raises(RateLimited):
        await limiter.take(taken)
    connection = redis.from_url(redis_url())
    try:
        assert [await connection.llen(f"LIMITS:{window.key}") for window in taken] == [2, 2]
    finally:
        await connection.delete(*(f"LIMITS:{window.key}" for window in taken))
        await connection.aclose()


#: A script of a service's own that does its own work (a counter) and takes windows in the same round trip.
COUNT_THEN_TAKE = (
    TAKE_ALL_FUNCTION
    + """
redis.call('INCR', KEYS[1])
return take_all({unpack(KEYS, 2)}, ARGV)
"""
)


@pytest.mark.integration
async def test_a_take_run_in_a_script_of_ones_own_counts_and_refuses_as_take_does(windows: Windows) -> None:
    url = redis_url()
    limiter = Limiter(url)
    window = windows.per_minute(2, "ip", "198.51.100.10")
    marker = f"{'/'.join(windows.root)}/own-work"
    connection = redis.from_url(url)
    script = connection.register_script(COUNT_THEN_TAKE)

    async def attempt() -> None:
        take = limiter.redis_take([window], url)
        assert take is not None
        await limiter.settle(take, int(await script(keys=[marker, *take.keys], args=take.args)))

    try:
        await attempt()
        await limiter.take([window])  # the same window as `take` counts in
        with pytest.raises(RateLimited) as refused:
            await attempt()
        assert 0 < refused.value.retry_after <= 60 and "for your address" in refused.value.message
        assert await connection.llen(f"LIMITS:{window.key}") == 2 and await connection.get(marker) == b"2"
        # kept elsewhere than where the script runs: not for the script, `take` them
        assert limiter.redis_take([window], "redis://elsewhere.test:6379/0") is None
        assert Limiter("memory://").redis_take([window], url) is None
    finally:
        await connection.delete(f"LIMITS:{window.key}", marker)
        await connection.aclose()
