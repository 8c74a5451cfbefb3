"""The FastStream Kafka broker every service uses: one consumer a service, offsets committed after success."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from itertools import chain
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from faststream.security import BaseSecurity

from faka_common.contracts.envelope import Message
from faka_common.contracts.topics import partitions
from faka_common.messaging.consumer import EventConsumer
from faka_common.messaging.lanes import Lanes
from faka_common.messaging.security import client_options

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

#: Each member that joins a group makes the others rejoin, which they learn of at their next heartbeat:
#: Kafka's 3 s default made a service with a consumer per topic take 15 s to start; replicas joining one
#: after another would wait the same way.
HEARTBEAT_INTERVAL_MS = 500

#: Records one fetch hands to the lanes at most (they carve it into batches of `batch_size` per topic).
FETCH_RECORDS = 500

#: How long the broker holds a fetch with nothing to answer (aiokafka's default). A fetch is answered at
#: its first record, so this bounds nothing but the idle loop.
IDLE_FETCH_WAIT_MS = 500

#: What a gathering consumer's fetch waits for at most, in bytes, before its `gather` time is up: far more
#: than a few seconds of records, so the time decides.
GATHER_BYTES = 1 << 20


class ServiceBroker(KafkaBroker):
    """A `KafkaBroker` whose consumers finish the batches they have in flight before they stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lanes: list[Lanes] = []

    async def stop(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        for lanes in self.lanes:
            await lanes.close()
        await super().stop(exc_type, exc_val, exc_tb)


def create_broker(
    bootstrap_servers: str, service: str, security: BaseSecurity | None = None
) -> ServiceBroker:
    """A broker that connects only when started. FastStream's middlewares are left out: its telemetry
    opened a span for every fetched batch, which no trace needs (each record is handled in a span of its
    own, the child of its producer's: `producer_trace`), and at one record a fetch it was about an eighth
    of the CPU a consumer spends on a record it skips (py-spy, records no handler wants); its Prometheus
    middleware counted and timed every fetched batch again beside the consumers' own metrics
    (`faka_consumer_messages_total`, `faka_consumer_handler_seconds`, `faka_consumer_records_in_process`),
    3-6 % of the CPU of delivery, risk and commission at 15 orders/s (a CPU-time profile)."""
    return ServiceBroker(
        bootstrap_servers,
        security=security,
        client_id=service,
        description=f"Messages consumed and emitted by the {service} service",
        logger=log,
        # "Received" / "Processed" for every message: debug chatter, a measurable cost under load
        log_level=logging.DEBUG,
    )


async def _records(message: StreamMessage[Any]) -> Any:
    """What the handler gets of a fetched batch: its records as aiokafka gave them. The lanes read each record
    they handle themselves (its type from a header); FastStream's own decoder would parse every body as JSON
    first, and a `KafkaMessage` parameter is resolved by a synchronous context lookup that FastDepends runs
    on a worker thread, a thread hop per batch."""
    return message.raw_message


class _LeaveOnRevoke(ConsumerRebalanceListener):
    """Before partitions go to another member, the batches in flight finish and commit."""

    def __init__(self, lanes: Lanes) -> None:
        self._lanes = lanes

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._lanes.leave()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


def subscribe(
    broker: ServiceBroker, consumer: EventConsumer, topics: Sequence[str], namespace: str = ""
) -> Lanes:
    """Feed `topics` and the consumer's retry topic (where records that came before what they depend on
    wait out their delay, `RetryLater`) to `consumer` through one Kafka consumer in the group named after
    it. Its records go to lanes (`Lanes`), one per topic and one per retry partition, side by side, so a
    slow or failing topic never holds up another. A lane hands `consume_batch` (`consume_concurrently`
    with `concurrency` > 1) up to `batch_size` records of its topic at once and commits their offsets
    after it returns; a batch that raises comes again (the inbox makes its redone records duplicates).
    A namespace prefixes topics and group, so several installations can share one cluster."""
    lanes = Lanes(consumer, namespace + consumer.retry_topic, namespace)
    min_bytes, max_wait_ms = _fetch_wait(consumer.gather)
    subscriber = broker.subscriber(
        *(_declared(namespace, topic) for topic in [*topics, consumer.retry_topic]),
        group_id=namespace + consumer.name,
        ack_policy=AckPolicy.MANUAL,  # the lanes commit what they handled, partition by partition
        auto_offset_reset="earliest",
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        batch=True,
        max_records=FETCH_RECORDS,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
        fetch_min_bytes=min_bytes,
        fetch_max_wait_ms=max_wait_ms,
        listener=_LeaveOnRevoke(lanes),
        decoder=_records,
        title=consumer.name,
        description=f"Handles: {', '.join(consumer.handled_types)} (batches of up to "
        f"{consumer.batch_size} per topic); its retry topic holds messages parked until what they "
        "depend on has arrived",
    )

    feed = _straight_to(subscriber, lanes, consumer.name)

    async def on_records(records: Any) -> None:
        # FastStream's handler: it names and documents the subscriber; the batches themselves take `feed`
        await feed(records)

    on_records.__name__ = f"{consumer.name}_consumer"
    subscriber(on_records)
    subscriber.consume_one = feed  # type: ignore[method-assign]
    broker.lanes.append(lanes)
    return lanes


def _straight_to(subscriber: Any, lanes: Lanes, name: str) -> Any:
    """What the subscriber's fetch loop does with a fetched batch: hand it to the lanes as it is. FastStream's
    own path (`consume` -> `process_message`: context scopes, its middleware stack, a message wrapper with
    fresh uuids, the handler's argument validated by fast-depends, then `on_records`) cost 0.5 ms of CPU a
    batch on this box, 9-13 % of risk's and delivery's CPU at 20 orders/s, for records the lanes read raw
    anyway (each one's type from its header). The subscriber is still FastStream's: it starts, joins the
    group, fetches (`_get_batch`), documents its topics and stops as before. Anything the lanes raise is
    logged, as FastStream's own path logged it; the batch's offsets are not committed, so it comes again
    after the next rebalance."""

    async def consume_one(records: tuple[ConsumerRecord[bytes, bytes], ...]) -> None:
        if not subscriber.running:
            return
        assert subscriber.consumer is not None, "records come only from a started consumer"
        try:
            lanes.feed(subscriber.consumer, records)
        except Exception:
            log.exception("the lanes of %s could not take a fetched batch", name)

    return consume_one


def _fetch_wait(gather: float) -> tuple[int, int]:
    """How the broker answers the consumer's fetches. By default at the first record: every record then
    wakes every consumer of its topic, each for a fetch of its own, records it does not want included
    (on this box each such fetch, naming every partition the consumer holds, cost the consumer 2.4-2.9 ms of
    CPU and Kafka some more). A consumer that gathers is answered when `gather` seconds have passed (or a
    megabyte waits), with everything that came meanwhile: at most 1/`gather` fetches a second, however many
    records. Fetch's least bytes and longest wait in ms."""
    if gather <= 0:
        return 1, IDLE_FETCH_WAIT_MS
    return GATHER_BYTES, max(1, round(gather * 1000))


def _declared(namespace: str, topic: str) -> Topic:
    """The topic as FastStream creates it when missing: with our partition count, not its default of 1."""
    return Topic(namespace + topic, num_partitions=partitions(topic))


async def create_topics(
    bootstrap_servers: str, topics: Iterable[str], namespace: str = "", security: BaseSecurity | None = None
) -> None:
    """Create the topics that are missing with their partition counts (the broker's own default would
    differ from the Kubernetes topics; a consumed topic is declared by its subscriber the same way)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="faka-topics", **client_options(security)
    )
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
