"""The outbox's shop events reach Kafka through the service's relay, as every other service reads them."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from faka_common.contracts import DEFAULT_SHOP_ID, Envelope, ShopChanged, topics
from faka_common.messaging.broker import create_topics
from faka_common.testing import asgi_client, eventually, required_env
from merchant.entrypoints.http import build_app

from .conftest import migrated_service


async def test_the_default_shop_and_a_new_one_reach_the_merchant_stream_keyed_by_shop() -> None:
    bootstrap = required_env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    namespace = f"t{uuid.uuid4().hex[:10]}."
    async with migrated_service(kafka_bootstrap_servers=bootstrap, kafka_namespace=namespace) as service:
        async with asgi_client(build_app(service), "merchant") as api:
            opened = await api.post("/internal/shops", json={"slug": "game-cards", "name": "Game cards"})
        await create_topics(bootstrap, [topics.MERCHANT_EVENTS], namespace)
        relay = asyncio.create_task(service.runtime.relay.run())
        consumer = AIOKafkaConsumer(
            namespace + topics.MERCHANT_EVENTS,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        received: dict[str, ShopChanged] = {}
        try:

            async def both_arrived() -> bool:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = Envelope.from_bytes(record.value).open()
                        assert isinstance(event, ShopChanged) and record.key == event.key.encode()
                        received[event.key] = event
                return len(received) == 2

            await eventually(both_arrived)
        finally:
            await consumer.stop()
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
    default = received[str(DEFAULT_SHOP_ID)]
    assert (default.slug, default.name, default.status, default.currency) == (
        "default",
        "Default shop",
        "active",
        "CNY",
    )
    assert received[opened.json()["shop_id"]].slug == "game-cards"
