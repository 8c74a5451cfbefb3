"""The FastStream Kafka broker every service uses: ack after success, never before."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from faka_common.contracts.envelope import Message
from faka_common.messaging.consumer import Delivery, EventConsumer

log = logging.getLogger(__name__)


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
    A namespace prefixes topics and group, so several installations can share one cluster."""

    async def on_record(message: KafkaMessage) -> None:
        record = message.raw_message
        await consumer.consume(
            Delivery(record.topic, record.partition, record.offset, record.key, record.value)  # type: ignore[union-attr]
        )

    on_record.__name__ = f"{consumer.name}_consumer"
    broker.subscriber(
        *(namespace + topic for topic in topics),
        group_id=namespace + consumer.name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{consumer.name}:{','.join(topics)}",
        description="Handles: " + ", ".join(consumer.handled_types),
    )(on_record)


def document_emits(broker: KafkaBroker, messages: Sequence[type[Message]]) -> None:
    """Declare what the service emits (through its outbox relay) so the AsyncAPI document shows it."""
    for message in messages:
        broker.publisher(
            message.topic,
            title=f"{message.topic}:{message.type_name}",
            description=(message.__doc__ or message.type_name).strip(),
            schema=message,
        )
