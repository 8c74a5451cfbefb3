"""A placement's Redis work against the real Redis at REDIS_URL, with the placement's rate-limit windows in
the challenge checkpoint's Redis (as deployed): the checkpoint and the windows take one round trip, and the
refusals answer and count as they do when they are two: a challenge is asked first and takes nothing from
the windows, then a closed shop answers 409 (nothing taken), then a full window 429 (the order still counted
in the challenge rules' windows); an order turned away busy gives its windows back; Redis out of reach
lets orders through, logged for both."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis.asyncio as redis
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from gateway.service_layer.rate_limits import placement_keys
from redis.asyncio.connection import AbstractConnection

from .test_checkout_challenges_redis import BITS, Checkout, solved, store

pytestmark = pytest.mark.integration
__all__ = ["store"]

IP = "203.0.113.7"
ALWAYS = {"type": "challenge", "per": "always", "difficulty": BITS}
PER_IP = {"type": "challenge", "per": "ip", "limit": 50, "window_seconds": 60, "difficulty": BITS}


class Traffic:
    """What this process sent to Redis: a round trip is a write of one command (or of a pipeline's)."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: list[str] = []


@contextmanager
def redis_traffic() -> Iterator[Traffic]:
    """Counts what every redis-py connection of this process sends while the block runs."""
    traffic = Traffic()
    send, pack = AbstractConnection.send_packed_command, AbstractConnection.pack_command

    async def sending(connection: AbstractConnection, command: Any, check_health: bool = True) -> None:
        traffic.round_trips += 1
        await send(connection, command, check_health)

    def packing(connection: AbstractConnection, *args: Any) -> list[bytes]:
        traffic.commands.append(str(args[0]).upper())
        return pack(connection, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", sending)
        patch.setattr(AbstractConnection, "pack_command", packing)
        yield traffic


@pytest.fixture
async def placing(store: redis.Redis) -> AsyncIterator[Callable[..., Checkout]]:
    """Checkouts whose placement windows are in the checkpoint's Redis (no URL of their own), settings and
    shop status as given; closed and their keys deleted afterwards."""
    made: list[Checkout] = []

    def make(**settings: Any) -> Checkout:
        checkout = Checkout(f"it-{uuid.uuid4().hex[:10]}.", store, lookup_limit_storage_url="", **settings)
        made.append(checkout)
        return checkout

    yield make
    for checkout in made:
        await checkout.aclose()


async def taken(checkout: Checkout, email: str = "buyer@example.com") -> list[int]:
    """The attempts in the placement's windows (the client's, the e-mail's)."""
    windows = placement_keys(checkout.gateway.settings, IP, email)
    return [await checkout.store.llen(f"LIMITS:{window.key}") for window in windows]


async def counted_per_ip(checkout: Checkout) -> int:
    """The orders in the PER_IP rule's window of the client."""
    key = f"{checkout.namespace}risk:challenge-count:{DEFAULT_SHOP_ID}:ip:60000:{IP}"
    return int(await checkout.store.zcard(key))


async def test_a_placement_is_one_redis_round_trip_for_its_challenge_checkpoint_and_placement_windows(
    placing: Callable[..., Checkout],
) -> None:
    checkout = placing()
    await checkout.publish(str(DEFAULT_SHOP_ID), PER_IP)
    assert (await checkout.order()).status_code == 201  # connections opened, the script loaded
    with redis_traffic() as traffic:
        placed = await checkout.order()
    assert placed.status_code == 201, placed.text
    assert (traffic.round_trips, traffic.commands) == (1, ["EVALSHA"])
    assert await counted_per_ip(checkout) == 2 and await taken(checkout) == [2, 2]

    # with a solved proof of work (its one use taken in the same script) too
    await checkout.publish("platform", ALWAYS)
    solution = solved(await checkout.order())
    with redis_traffic() as traffic:
        placed = await checkout.order(solution=solution)
    assert placed.status_code == 201, placed.text
    assert (traffic.round_trips, traffic.commands) == (1, ["EVALSHA"])
    assert await counted_per_ip(checkout) == 3 and await taken(checkout) == [3, 3]


async def test_a_full_placement_window_answers_429_and_the_order_still_counts_in_the_challenge_windows(
    placing: Callable[..., Checkout],
) -> None:
    checkout = placing(orders_per_email_per_hour=2)
    await checkout.publish(str(DEFAULT_SHOP_ID), PER_IP)
    assert [(await checkout.order()).status_code for _ in range(2)] == [201, 201]
    refused = await checkout.order()
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 3500 < wait <= 3600
    assert refused.json() == {
        "error": "rate_limited",
        "message": f"too many orders placed for this e-mail address; try again in {wait} seconds",
        "retry_after": wait,
    }
    assert len(checkout.orders.placed) == 2
    # the checkpoint counted it before the window refused it; the windows counted it in neither
    assert await counted_per_ip(checkout) == 3 and await taken(checkout) == [2, 2]


async def test_a_challenge_is_asked_before_a_full_window_refuses_and_an_asked_order_takes_no_room(
    placing: Callable[..., Checkout],
) -> None:
    checkout = placing(orders_per_email_per_hour=1)
    await checkout.publish("platform", ALWAYS)
    asked = await checkout.order()
    assert asked.status_code == 428 and await taken(checkout) == [0, 0]
    assert (await checkout.order(solution=solved(asked))).status_code == 201
    again = await checkout.order()
    assert again.status_code == 428  # not 429: the challenge comes first
    refused = await checkout.order(solution=solved(again))
    assert refused.status_code == 429 and "e-mail" in refused.json()["message"]
    assert await taken(checkout) == [1, 1] and len(checkout.orders.placed) == 1


async def test_a_closed_shop_asks_its_challenge_first_then_answers_409_and_takes_no_room(
    placing: Callable[..., Checkout],
) -> None:
    checkout = placing(shop_status="suspended")
    await checkout.publish("platform", ALWAYS)
    asked = await checkout.order()
    assert asked.status_code == 428
    closed = await checkout.order(solution=solved(asked))
    assert closed.status_code == 409 and "suspended" in closed.json()["message"]
    assert await taken(checkout) == [0, 0] and checkout.orders.placed == []


async def test_an_order_turned_away_busy_gives_back_the_room_the_checkpoint_took(
    placing: Callable[..., Checkout],
) -> None:
    checkout = placing()
    checkout.orders.busy = True
    busy = await checkout.order()
    assert busy.status_code == 503 and busy.json()["error"] == "busy"
    assert await taken(checkout) == [0, 0]
    checkout.orders.busy = False
    assert (await checkout.order()).status_code == 201
    assert await taken(checkout) == [1, 1]


async def test_with_redis_out_of_reach_an_order_goes_through_logged_for_its_challenges_and_its_windows(
    placing: Callable[..., Checkout], caplog: pytest.LogCaptureFixture
) -> None:
    checkout = placing(redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    with caplog.at_level(logging.WARNING):
        placed = await checkout.order()
    assert placed.status_code == 201, placed.text
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert "checkout challenges unchecked, Redis unreachable: ConnectionError" in messages
    limits = [m for m in messages if m.startswith("rate limits unavailable (")]
    assert len(limits) == 1 and limits[0].endswith("; letting the request through: orders placed")
    assert len(checkout.orders.placed) == 1
