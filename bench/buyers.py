"""The buyers of the end-to-end benchmark: an open-loop arrival schedule run in one asyncio process per
worker. Each buyer places an order, follows it until awaiting_payment, sends the sandbox provider's signed
notification to the gateway's webhook route (as the provider does), and follows it until delivered.
Following is what the order page does: the order's event stream (`follow="stream"`, the default), or
polling the order API every `poll_interval` (`follow="poll"`, what the page did before it had a stream).

The buyers run on the box they measure, so they are kept cheap: aiohttp on uvloop takes 3.3 ms of CPU an
order where httpx on asyncio's own loop took 11.0 (the load generator's own figure at 12/s), CPU that the
platform has back when it is saturated."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import resource
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import uvloop
from faka_common.sandbox_payment import signed_notification

NOTIFY_ATTEMPTS = 5
FAILED = {"rejected", "expired", "cancelled", "delivery_failed", "refunded", "partially_refunded"}


@dataclass
class Plan:
    """One worker's share of a step: buyers `first`, `first + stride`, ... arriving every 1/rate s."""

    gateway: str
    product_id: str
    sandbox_secret: str
    run_id: str
    rate: float
    start_at: float
    seconds: float
    first: int
    stride: int
    number_base: int
    address_base: int
    poll_interval: float = 0.2
    follow: str = "stream"
    stage_timeout: float = 120.0
    #: No cap (0): every buyer is a browser of its own. A pool of 256 was full at 34/s, each waiting
    #: buyer's event stream holding a connection, and placements then waited in the load generator for one
    #: until their 30 s timeout, where the platform would have answered them.
    max_connections: int = 0
    #: Below uvicorn's 5 s keep-alive: a connection the server is about to close is never reused.
    keepalive_expiry: float = 2.0


@dataclass
class Buyer:
    number: int
    arrival: float
    email: str = ""
    order_no: str = ""
    outcome: str = "pending"
    stage: str = ""
    error: str = ""
    lookup_retries: int = 0
    place_started: float = 0.0
    placed: float = 0.0
    awaiting_seen: float = 0.0
    notify_started: float = 0.0
    notify_acked: float = 0.0
    notify_attempts: int = 0
    notify_result: str = ""
    delivered_seen: float = 0.0
    polls_to_awaiting: int = 0
    polls_to_delivered: int = 0
    created_at: float | None = None
    paid_at: float | None = None
    delivered_at: float | None = None
    keys: list[str] = field(default_factory=list)


def epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


class Stuck(Exception):
    """The order did not reach the awaited status in time, or ended elsewhere."""


class TurnedAway(Stuck):
    """The gateway was busy and refused the order at once (503 with Retry-After): a buyer the platform
    could not take, not one it lost."""


async def look(client: aiohttp.ClientSession, buyer: Buyer, token: str) -> dict[str, Any]:
    """The order's view, as the order page reads it."""
    async with client.get(f"/api/v1/orders/{buyer.order_no}", params={"token": token}) as response:
        if response.status != 200:
            raise Stuck(f"order lookup answered {response.status}: {(await response.text())[:200]}")
        view: dict[str, Any] = await response.json()
        return view


async def wait_for(
    client: aiohttp.ClientSession, buyer: Buyer, token: str, status: str, plan: Plan
) -> tuple[dict[str, Any], int]:
    deadline = time.monotonic() + plan.stage_timeout
    polls = 0
    while True:
        await asyncio.sleep(plan.poll_interval)
        polls += 1
        try:
            view = await look(client, buyer, token)
        except aiohttp.ClientConnectionError:  # a buyer reloads the page once; a second failure is theirs
            buyer.lookup_retries += 1
            view = await look(client, buyer, token)
        if view["status"] == status:
            return view, polls
        if view["status"] in FAILED or time.monotonic() > deadline:
            raise Stuck(f"waiting for {status}, order is {view['status']}")


async def pay(client: aiohttp.ClientSession, buyer: Buyer, order: dict[str, Any], plan: Plan) -> None:
    notification = signed_notification(
        order_no=buyer.order_no, trade_no=f"SBX{uuid.uuid4().hex}", amount=order["amount"],
        currency=order["currency"], secret=plan.sandbox_secret,
    )  # fmt: skip
    buyer.stage, buyer.notify_started = "notify", time.time()
    # a provider sends the same notification again until the gateway takes it: after a 5xx, and after no
    # answer in time (the gateway may have applied it meanwhile: it is idempotent on the trade number)
    while True:
        buyer.notify_attempts += 1
        try:
            async with client.post("/api/v1/payments/sandbox/notify", json=notification) as answer:
                if not buyer.notify_acked:
                    buyer.notify_acked = time.time()
                if answer.status == 200:
                    buyer.notify_result = str((await answer.json()).get("result"))
                    return
                buyer.notify_result = f"{answer.status}"
                if answer.status < 500 or buyer.notify_attempts >= NOTIFY_ATTEMPTS:
                    raise Stuck(f"notification answered {answer.status}: {(await answer.text())[:200]}")
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            buyer.notify_result = type(error).__name__
            if buyer.notify_attempts >= NOTIFY_ATTEMPTS:
                raise Stuck(f"notification not answered in {buyer.notify_attempts} tries") from error
        await asyncio.sleep(1.0)


async def follow_stream(
    client: aiohttp.ClientSession, buyer: Buyer, order: dict[str, Any], plan: Plan
) -> dict[str, Any]:
    """Pay once the order's event stream says awaiting_payment; the view once it says delivered. Every
    event received counts as a poll (what the buyer's page fetched)."""
    path = f"/api/v1/orders/{buyer.order_no}/events"
    timeout = aiohttp.ClientTimeout(total=None, sock_read=plan.stage_timeout)
    async with client.get(path, params={"token": order["token"]}, timeout=timeout) as got:
        if got.status != 200:
            raise Stuck(f"order stream answered {got.status}")
        event = ""
        async for raw in got.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "error":
                raise Stuck(f"order stream failed: {line.removeprefix('data: ')[:200]}")
            elif line.startswith("data: ") and event == "order":
                view: dict[str, Any] = json.loads(line.removeprefix("data: "))
                if buyer.awaiting_seen:
                    buyer.polls_to_delivered += 1
                else:
                    buyer.polls_to_awaiting += 1
                if view["status"] == "awaiting_payment" and not buyer.awaiting_seen:
                    buyer.awaiting_seen = time.time()
                    await pay(client, buyer, order, plan)
                    buyer.stage = "await delivery"
                elif view["status"] == "delivered":
                    return view
                elif view["status"] in FAILED:
                    raise Stuck(f"order ended {view['status']}")
    raise Stuck("order stream ended before the order was delivered")


async def buy(client: aiohttp.ClientSession, buyer: Buyer, plan: Plan, address: str) -> None:
    buyer.email = f"e2e-{plan.run_id}-{buyer.number}@example.com"
    buyer.stage = "place"
    buyer.place_started = time.time()
    async with client.post(
        "/api/v1/orders",
        json={"product_id": plan.product_id, "quantity": 1, "email": buyer.email},
        headers={"X-Forwarded-For": address},
    ) as placed:
        buyer.placed = time.time()
        if placed.status == 503 and (await placed.json(content_type=None)).get("error") == "busy":
            raise TurnedAway(f"placing answered 503 busy (Retry-After {placed.headers.get('Retry-After')})")
        if placed.status != 201:
            raise Stuck(f"placing answered {placed.status}: {(await placed.text())[:200]}")
        order = await placed.json()
    buyer.order_no, token = order["order_no"], order["token"]
    buyer.stage = "await payment"
    if plan.follow == "stream":
        view = await follow_stream(client, buyer, order, plan)
    else:
        _, buyer.polls_to_awaiting = await wait_for(client, buyer, token, "awaiting_payment", plan)
        buyer.awaiting_seen = time.time()
        await pay(client, buyer, order, plan)
        buyer.stage = "await delivery"
        view, buyer.polls_to_delivered = await wait_for(client, buyer, token, "delivered", plan)
    buyer.delivered_seen = time.time()
    buyer.created_at, buyer.paid_at = epoch(view.get("created_at")), epoch(view.get("paid_at"))
    buyer.delivered_at = epoch(view.get("delivered_at"))
    buyer.keys = [str(item.get("content")) for item in view.get("items", [])]


async def run(plan: Plan) -> list[Buyer]:
    connector = aiohttp.TCPConnector(limit=plan.max_connections, keepalive_timeout=plan.keepalive_expiry)
    buyers: list[Buyer] = []
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(
        base_url=plan.gateway, connector=connector, timeout=aiohttp.ClientTimeout(total=30.0)
    ) as client:

        async def one(buyer: Buyer) -> None:
            address = str(ipaddress.IPv4Address(0x0A000000 + (plan.address_base + buyer.number) % 0xFFFFFF))
            try:
                await buy(client, buyer, plan, address)
                buyer.outcome = "delivered"
            except TurnedAway as error:
                buyer.outcome, buyer.error = "turned_away", f"{buyer.stage}: {error}"
            except (Stuck, aiohttp.ClientError, TimeoutError, KeyError, ValueError) as error:
                buyer.outcome, buyer.error = "failed", f"{buyer.stage}: {type(error).__name__}: {error}"[:300]

        count = int(plan.rate * plan.seconds)
        for index in range(plan.first, count, plan.stride):
            arrival = plan.start_at + index / plan.rate
            delay = arrival - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            buyer = Buyer(plan.number_base + index, arrival)
            buyers.append(buyer)
            tasks.append(asyncio.create_task(one(buyer)))
        await asyncio.gather(*tasks)
    return buyers


def run_plan(plan: Plan) -> dict[str, Any]:
    """A worker process's entry: the buyers' records and the CPU seconds this process used for them."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    buyers = uvloop.run(run(plan))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"buyers": [asdict(b) for b in buyers], "cpu_seconds": cpu}
