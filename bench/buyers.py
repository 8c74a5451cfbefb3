"""The buyers of the end-to-end benchmark: an open-loop arrival schedule run in one asyncio process per
worker. Each buyer places an order, follows it until awaiting_payment, sends the sandbox provider's signed
notification to the gateway's webhook route (as the provider does), and follows it until delivered.
Following is what the order page does: the order's event stream (`follow="stream"`, the default), or
polling the order API every `poll_interval` (`follow="poll"`, what the page did before it had a stream)."""

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

import httpx
from faka_common.sandbox_payment import signed_notification

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
    max_connections: int = 256
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


async def wait_for(
    client: httpx.AsyncClient, buyer: Buyer, token: str, status: str, plan: Plan
) -> tuple[dict[str, Any], int]:
    deadline = time.monotonic() + plan.stage_timeout
    polls = 0
    while True:
        await asyncio.sleep(plan.poll_interval)
        polls += 1
        try:
            response = await client.get(f"/api/v1/orders/{buyer.order_no}", params={"token": token})
        except httpx.TransportError:  # a buyer reloads the page once; a second failure is the buyer's lot
            buyer.lookup_retries += 1
            response = await client.get(f"/api/v1/orders/{buyer.order_no}", params={"token": token})
        if response.status_code != 200:
            raise Stuck(f"order lookup answered {response.status_code}: {response.text[:200]}")
        view: dict[str, Any] = response.json()
        if view["status"] == status:
            return view, polls
        if view["status"] in FAILED or time.monotonic() > deadline:
            raise Stuck(f"waiting for {status}, order is {view['status']}")


async def pay(client: httpx.AsyncClient, buyer: Buyer, order: dict[str, Any], plan: Plan) -> None:
    notification = signed_notification(
        order_no=buyer.order_no, trade_no=f"SBX{uuid.uuid4().hex}", amount=order["amount"],
        currency=order["currency"], secret=plan.sandbox_secret,
    )  # fmt: skip
    buyer.stage, buyer.notify_started = "notify", time.time()
    while True:  # a provider retries a notification the gateway did not take
        buyer.notify_attempts += 1
        answer = await client.post("/api/v1/payments/sandbox/notify", json=notification)
        if buyer.notify_attempts == 1:
            buyer.notify_acked = time.time()
        if answer.status_code == 200:
            buyer.notify_result = str(answer.json().get("result"))
            return
        buyer.notify_result = f"{answer.status_code}"
        if answer.status_code < 500 or buyer.notify_attempts >= 5:
            raise Stuck(f"notification answered {answer.status_code}: {answer.text[:200]}")
        await asyncio.sleep(1.0)


async def follow_stream(
    client: httpx.AsyncClient, buyer: Buyer, order: dict[str, Any], plan: Plan
) -> dict[str, Any]:
    """Pay once the order's event stream says awaiting_payment; the view once it says delivered. Every
    event received counts as a poll (what the buyer's page fetched)."""
    path = f"/api/v1/orders/{buyer.order_no}/events"
    async with client.stream(
        "GET", path, params={"token": order["token"]}, timeout=plan.stage_timeout
    ) as got:
        if got.status_code != 200:
            raise Stuck(f"order stream answered {got.status_code}")
        event = ""
        async for line in got.aiter_lines():
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


async def buy(client: httpx.AsyncClient, buyer: Buyer, plan: Plan, address: str) -> None:
    buyer.email = f"e2e-{plan.run_id}-{buyer.number}@example.com"
    buyer.stage = "place"
    buyer.place_started = time.time()
    placed = await client.post(
        "/api/v1/orders",
        json={"product_id": plan.product_id, "quantity": 1, "email": buyer.email},
        headers={"X-Forwarded-For": address},
    )
    buyer.placed = time.time()
    if placed.status_code != 201:
        raise Stuck(f"placing answered {placed.status_code}: {placed.text[:200]}")
    order = placed.json()
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
    limits = httpx.Limits(
        max_connections=plan.max_connections,
        max_keepalive_connections=plan.max_connections,
        keepalive_expiry=plan.keepalive_expiry,
    )
    buyers: list[Buyer] = []
    tasks: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(base_url=plan.gateway, limits=limits, timeout=30.0) as client:

        async def one(buyer: Buyer) -> None:
            address = str(ipaddress.IPv4Address(0x0A000000 + (plan.address_base + buyer.number) % 0xFFFFFF))
            try:
                await buy(client, buyer, plan, address)
                buyer.outcome = "delivered"
            except (Stuck, httpx.HTTPError, KeyError, ValueError) as error:
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
    buyers = asyncio.run(run(plan))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"buyers": [asdict(b) for b in buyers], "cpu_seconds": cpu}
