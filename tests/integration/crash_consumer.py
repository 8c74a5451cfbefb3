"""A consumer process for the crash test: handles Pinged records through the inbox and prints each
outcome. With CRASH_AFTER_COMMIT=1 it dies (os._exit) after its database commit and before Kafka's ack."""

from __future__ import annotations

import asyncio
import os
import sys

from faka_common.db.engine import create_engine, session_factory
from faka_common.db.uow import UnitOfWork
from faka_common.messaging.consumer import Delivery, EventConsumer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

sys.path.insert(0, os.path.dirname(__file__))
from messaging_fixtures import TOPIC, Pinged, record_effect


async def main() -> None:
    engine = create_engine(os.environ["TEST_DATABASE_URL"])
    sessions = session_factory(engine)
    consumer = EventConsumer("crashy", lambda: UnitOfWork(sessions, "crashy"), {Pinged: record_effect})
    crash = os.environ.get("CRASH_AFTER_COMMIT") == "1"
    broker = KafkaBroker(os.environ["KAFKA_BOOTSTRAP_SERVERS"], logger=None)

    @broker.subscriber(
        TOPIC,
        group_id=os.environ["GROUP_ID"],
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def handle(message: KafkaMessage) -> None:
        r = message.raw_message
        outcome = await consumer.consume(Delivery(r.topic, r.partition, r.offset, r.key, r.value))  # type: ignore[union-attr]
        print(outcome, flush=True)
        if crash:
            os._exit(9)

    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
