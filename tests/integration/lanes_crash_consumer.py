"""A service-shaped consumer process for the kill -9 test: `subscribe` (one Kafka consumer, its lanes)
feeds Pinged records through the inbox and prints each batch's outcomes. With CRASH_AFTER_COMMIT=1 it dies
(os._exit) after the batch's database commit and before the lanes commit its offsets."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from faka_common.db.engine import create_engine, session_factory
from faka_common.db.uow import UnitOfWork
from faka_common.messaging.broker import create_broker, subscribe
from faka_common.messaging.consumer import Delivery, EventConsumer

sys.path.insert(0, os.path.dirname(__file__))
from messaging_fixtures import TOPIC, Pinged, record_effect


class Printing(EventConsumer[UnitOfWork]):
    crash = os.environ.get("CRASH_AFTER_COMMIT") == "1"

    async def consume_batch(self, records: Sequence[Delivery]) -> list[str]:
        outcomes = await super().consume_batch(records)
        print(*outcomes, flush=True)
        if self.crash:
            os._exit(9)
        return outcomes


async def main() -> None:
    sessions = session_factory(create_engine(os.environ["TEST_DATABASE_URL"]))
    group = os.environ["GROUP_ID"]
    consumer = Printing(group, lambda: UnitOfWork(sessions, group), {Pinged: record_effect}, batch_size=10)
    broker = create_broker(os.environ["KAFKA_BOOTSTRAP_SERVERS"], "crashy")
    subscribe(broker, consumer, [TOPIC])
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
