"""The FastStream Kafka broker every service uses: ack after success, never before."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from faka_common.contracts.envelope import Message
from faka_common.messaging.consumer import Delivery, EventConsumer

log = logging.getLogger(__name__)

#: How long a batch subscriber waits for more records before handling what it has (latency bound).
BATCH_TIMEOUT_MS = 5


@lru_cache(maxsize=1)
def _prometheus() -> KafkaPrometheusMiddleware:
    return KafkaPrometheusMiddleware(registry=REGISTRY, metrics_prefix="faka")


def create_broker(bootstrap_servers: str, service: str) -> KafkaBroker:
    """A broker that connects only when started, traces and counts every message."""
    return KafkaBroker(
        bootstrap_servers,
        client_id=service,
        middlewares=[KafkaTelemetryMiddleware(), _prometheus()],
        description=f"Messages consumed and emitted by the {service} service",
        logger=log,
    )


def subscribe(
    broker: KafkaBroker, consumer: EventConsumer, topics: Sequence[str], namespace: str = ""
) -> None:
    """Feed `topics` to `consumer` in the consumer group named after it. Offsets are committed only after
    the consumer returns; an escaping error seeks back so the record comes again (at-least-once).
    A namespace prefixes topics and group, so several installations can share one cluster.
    A consumer with `batch_size` > 1 gets up to that many records at once (`consume_batch`); the batch's
    offsets are committed after it returns, and an escaping error seeks every partition of the batch back
    to its first record, so the whole batch comes again (the inbox makes the redone records duplicates)."""

    group_id = namespace + consumer.name
    names = [namespace + topic for topic in topics]
    title = f"{consumer.name}:{','.join(topics)}"
    description = "Handles: " + ", ".join(consumer.handled_types)
    if consumer.batch_size > 1:

        async def on_batch(message: KafkaMessage) -> None:
            records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message
            await consumer.consume_batch([_delivery(record) for record in records])

        on_batch.__name__ = f"{consumer.name}_batch_consumer"
        broker.subscriber(
            *names,
            group_id=group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            batch=True,
            max_records=consumer.batch_size,
            batch_timeout_ms=BATCH_TIMEOUT_MS,
            title=title,
            description=description + f" (batches of up to {consumer.batch_size})",
        )(on_batch)
        return

    async def on_record(message: KafkaMessage) -> None:
        await consumer.consume(_delivery(message.raw_message))

    on_record.__name__ = f"{consumer.name}_consumer"
    broker.subscriber(
        *names,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=title,
        description=description,
    )(on_record)


def _delivery(record: ConsumerRecord[bytes, bytes]) -> Delivery:
    return Delivery(record.topic, record.partition, record.offset, record.key, record.value or b"")


def document_emits(broker: KafkaBroker, messages: Sequence[type[Message]]) -> None:
    """Declare what the service emits (through its outbox relay) so the AsyncAPI document shows it."""
    for message in messages:
        broker.publisher(
            message.topic,
            title=f"{message.topic}:{message.type_name}",
            description=(message.__doc__ or message.type_name).strip(),
            schema=message,
        )
