"""The FastStream Kafka broker every service uses: ack after success, never before."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import BatchSubscriber
from prometheus_client import REGISTRY

from faka_common.contracts.envelope import Message
from faka_common.contracts.topics import partitions
from faka_common.messaging.consumer import Delivery, EventConsumer

log = logging.getLogger(__name__)

#: How long an idle batch subscriber waits for records before it polls again. aiokafka's getmany returns as
#: soon as records are there, so this bounds nothing but the idle loop (5 ms cost 12 ms of CPU a second per
#: idle subscriber; 500 ms about 1).
BATCH_TIMEOUT_MS = 500


async def _get_batch(
    self: BatchSubscriber, consumer: AIOKafkaConsumer
) -> tuple[ConsumerRecord[bytes, bytes], ...]:
    messages = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
    return tuple(chain(*messages.values()))


# FastStream's batch loop sleeps another batch_timeout after an empty poll (getmany has already waited that
# long), so a record arriving then waited up to 500 ms: poll again at once instead.
BatchSubscriber.get_msg = _get_batch  # type: ignore[method-assign]

#: A service's subscribers are members of one group, and each that joins makes the others rejoin, which they
#: learn of at their next heartbeat: Kafka's 3 s default made a five-topic service take 15 s to start.
HEARTBEAT_INTERVAL_MS = 500


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
        # "Received" / "Processed" for every message: debug chatter, a measurable cost under load
        log_level=logging.DEBUG,
    )


def subscribe(
    broker: KafkaBroker, consumer: EventConsumer, topics: Sequence[str], namespace: str = ""
) -> None:
    """Feed `topics` to `consumer` in the consumer group named after it, one subscriber per topic (so a
    slow or failing topic never holds up another), plus its retry topic, where records that came before
    what they depend on wait out their delay (`RetryLater`). Offsets are committed only after the
    consumer returns; an escaping error seeks back so the record comes again (at-least-once).
    A namespace prefixes topics and group, so several installations can share one cluster.
    A consumer with `batch_size` > 1 gets up to that many records at once (`consume_batch`); the batch's
    offsets are committed after it returns, and an escaping error seeks every partition of the batch back
    to its first record, so the whole batch comes again (the inbox makes the redone records duplicates)."""
    for topic in topics:
        _subscribe_topic(broker, consumer, topic, namespace)

    async def on_parked(message: KafkaMessage) -> None:
        await consumer.consume_parked(_delivery(message.raw_message, namespace))

    on_parked.__name__ = f"{consumer.name}_retry_consumer"
    broker.subscriber(
        _declared(namespace, consumer.retry_topic),
        group_id=namespace + consumer.name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        title=f"{consumer.name}:{consumer.retry_topic}",
        description="Messages parked by the consumer until what they depend on has arrived",
    )(on_parked)


def _subscribe_topic(broker: KafkaBroker, consumer: EventConsumer, topic: str, namespace: str) -> None:
    group_id = namespace + consumer.name
    title = f"{consumer.name}:{topic}"
    description = "Handles: " + ", ".join(consumer.handled_types)
    if consumer.batch_size > 1:
        handle = consumer.consume_concurrently if consumer.concurrency > 1 else consumer.consume_batch

        async def on_batch(message: KafkaMessage) -> None:
            records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message
            await handle([_delivery(record, namespace) for record in records])

        on_batch.__name__ = f"{consumer.name}_{topic.replace('.', '_')}_batch_consumer"
        broker.subscriber(
            _declared(namespace, topic),
            group_id=group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            batch=True,
            max_records=consumer.batch_size,
            batch_timeout_ms=BATCH_TIMEOUT_MS,
            title=title,
            description=description + f" (batches of up to {consumer.batch_size})",
        )(on_batch)
        return

    async def on_record(message: KafkaMessage) -> None:
        await consumer.consume(_delivery(message.raw_message, namespace))

    on_record.__name__ = f"{consumer.name}_{topic.replace('.', '_')}_consumer"
    broker.subscriber(
        _declared(namespace, topic),
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        title=title,
        description=description,
    )(on_record)


def _declared(namespace: str, topic: str) -> Topic:
    """The topic as FastStream creates it when missing: with our partition count, not its default of 1."""
    return Topic(namespace + topic, num_partitions=partitions(topic))


def _delivery(record: ConsumerRecord[bytes, bytes], namespace: str) -> Delivery:
    """The record under its topic's name without the namespace (the name the relay prefixes again, so a
    dead letter or a parked copy goes to `<namespace><topic>.dlq`, not `<namespace><namespace>...`)."""
    return Delivery(
        record.topic.removeprefix(namespace),
        record.partition,
        record.offset,
        record.key,
        record.value or b"",
        {name: value for name, value in record.headers},
    )


async def create_topics(bootstrap_servers: str, topics: Iterable[str], namespace: str = "") -> None:
    """Create the topics that are missing with their partition counts (the broker's own default would
    differ from the Kubernetes topics; a consumed topic is declared by its subscriber the same way)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="faka-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(namespace + topic, partitions(topic), 1)
            for topic in topics
            if namespace + topic not in existing
        ]
        if not missing:
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # another replica created them first
            await admin.create_topics(missing)
    finally:
        await admin.close()


def document_emits(broker: KafkaBroker, messages: Sequence[type[Message]]) -> None:
    """Declare what the service emits (through its outbox relay) so the AsyncAPI document shows it."""
    for message in messages:
        broker.publisher(
            message.topic,
            title=f"{message.topic}:{message.type_name}",
            description=(message.__doc__ or message.type_name).strip(),
            schema=message,
        )
