"""Notification benchmark: `python -m bench.notify [--orders 200] [--rounds 3]` (DATABASE_URL, REDIS_URL: the
local ones). The notification service's own consumer (`Service.consumer()`, `consume_concurrently`, batches of
20 orders) handles what a paid order brings it: OrderPlaced, RiskDecided (approve), OrderPaid (the in-site
notice) and DeliverySucceeded (e-mail and in-site, the keys from a fake inventory), on a fresh database, with
the e-mails sent to an SMTP sink in another process (aiosmtpd). Prints, per round, the process's CPU and wall
time per order and how the records went. The machine is shared: compare code versions alternated in the same
minutes (e.g. the old one with PYTHONPATH pointing at `git archive` of it), as ratios."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from uuid import UUID, uuid4

from faka_common.contracts import DeliverySucceeded, Envelope, Message, OrderPaid, OrderPlaced, RiskDecided
from faka_common.messaging.consumer import Delivery
from faka_common.testing import migrated_database
from notification.bootstrap import bootstrap
from notification.config import MIGRATIONS, Settings
from notification.domain.model import OrderKeys

BATCH = 20


class Keys:
    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        return OrderKeys(order_id, ["KEY-0001"], "Redeem it in the app")


def _record(message: Message) -> Delivery:
    envelope = Envelope.wrap(message, "bench")
    headers = {"type": envelope.type.encode()}
    return Delivery(message.topic, 0, 0, message.key.encode(), envelope.to_bytes(), headers)


def _orders(count: int) -> list[list[Delivery]]:
    """Each kind of record for `count` orders, in the order the service meets them."""
    kinds: list[list[Delivery]] = [[], [], [], []]
    for _ in range(count):
        order_id, product_id = uuid4(), uuid4()
        order_no = f"F{order_id.hex[:12].upper()}"
        placed = OrderPlaced(
            order_id=order_id,
            order_no=order_no,
            product_id=product_id,
            product_title="Loop Licence",
            quantity=1,
            amount=990,
            currency="CNY",
            buyer_email="buyer@example.com",
            locale="en",
        )
        paid = OrderPaid(
            order_id=order_id,
            order_no=order_no,
            product_id=product_id,
            quantity=1,
            amount=990,
            currency="CNY",
            provider="sandbox",
            trade_no="T1",
            paid_at=datetime.now(UTC),
        )
        delivered = DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)
        risk = RiskDecided(order_id=order_id, verdict="approve")
        for kind, message in zip(kinds, (placed, risk, paid, delivered), strict=True):
            kind.append(_record(message))
    return kinds


async def run(smtp_port: int, orders: int, rounds: int) -> None:
    async with migrated_database("faka_notification_bench", MIGRATIONS) as url:
        settings = Settings(
            environment="development",
            database_url=url,
            smtp_port=smtp_port,
            kafka_namespace=f"bench{uuid4().hex}.",  # its own channel breakers
        )
        service = bootstrap(settings, keys=Keys())
        consumer = service.consumer()
        try:
            for kind in _orders(BATCH):  # connections opened, caches filled
                await consumer.consume_concurrently(kind)
            for _ in range(rounds):
                kinds = _orders(orders)
                load = os.getloadavg()[0]
                cpu, wall = time.process_time(), time.monotonic()
                outcomes: dict[str, int] = {}
                for start in range(0, orders, BATCH):
                    for kind in kinds:
                        for outcome in await consumer.consume_concurrently(kind[start : start + BATCH]):
                            outcomes[outcome] = outcomes.get(outcome, 0) + 1
                cpu, wall = time.process_time() - cpu, time.monotonic() - wall
                print(
                    f"load {load:.1f}: CPU {cpu / orders * 1000:.2f} ms an order, "
                    f"wall {wall / orders * 1000:.2f} ms; records {outcomes}",
                    flush=True,
                )
        finally:
            for hook in reversed(service.runtime.on_stop):
                await hook()
            await service.runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    sink = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        asyncio.run(run(port, args.orders, args.rounds))
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
