"""faka-dlq: list and replay dead letters. Replay republishes the original bytes to the original topic;
consumers that already handled the message skip it through their inbox."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.security import BaseSecurity

from faka_common.messaging.relay import create_producer
from faka_common.messaging.security import KafkaSettings, client_options

app = typer.Typer(help="List and replay dead-lettered Kafka messages.", no_args_is_help=True)
BOOTSTRAP = typer.Option(
    os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
    "--bootstrap",
    help="Kafka bootstrap servers",
)
NAMESPACE = typer.Option(
    os.environ.get("KAFKA_NAMESPACE", ""),
    "--namespace",
    help="The installation's topic prefix (KAFKA_NAMESPACE); TOPIC and the origins are named without it",
)


def _security() -> BaseSecurity | None:
    """The brokers' security from the same KAFKA_* variables the services read."""
    return KafkaSettings().kafka_security()


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def origin(self) -> str:
        return self.headers.get("dlq-topic", "")


async def read_dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every message currently in `topic`, read from the start of each partition to its end."""
    assigned = await _partitions(bootstrap, topic)
    if not assigned:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options(_security())
    )
    await consumer.start()
    try:
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        letters: list[DeadLetter] = []
        for tp in assigned:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    headers = {k: v.decode(errors="replace") for k, v in record.headers}
                    letters.append(DeadLetter(tp.partition, record.offset, record.key, record.value, headers))
        return letters
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options(_security()))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [t for t in described if t.get("topic") == topic and not t.get("error_code")]
    return [TopicPartition(topic, p["partition"]) for t in found for p in t.get("partitions", [])]


async def replay_dead_letters(bootstrap: str, letters: list[DeadLetter], namespace: str = "") -> int:
    """Republish each letter to the topic it came from (`namespace` + its origin)."""
    producer = create_producer(bootstrap, "faka-dlq-replay", _security())
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(namespace + letter.origin, value=letter.value, key=letter.key)
    finally:
        await producer.stop()
    return len(letters)


@app.command("list")
def list_(topic: str, bootstrap: str = BOOTSTRAP, namespace: str = NAMESPACE) -> None:
    """Show the dead letters of TOPIC (e.g. order.events.dlq)."""
    for letter in asyncio.run(read_dead_letters(bootstrap, namespace + topic)):
        typer.echo(
            f"{letter.partition}@{letter.offset}\tkey={(letter.key or b'').decode(errors='replace')}\t"
            f"consumer={letter.headers.get('dlq-consumer')}\tfrom={letter.origin}\t"
            f"reason={letter.headers.get('dlq-reason')}"
        )


@app.command()
def replay(
    topic: str,
    bootstrap: str = BOOTSTRAP,
    namespace: str = NAMESPACE,
    offset: list[str] = typer.Option([], help="partition@offset to replay; repeatable; default: all"),
) -> None:
    """Republish dead letters of TOPIC to the topics they came from."""
    letters = asyncio.run(read_dead_letters(bootstrap, namespace + topic))
    if offset:
        wanted = set(offset)
        letters = [x for x in letters if f"{x.partition}@{x.offset}" in wanted]
    count = asyncio.run(replay_dead_letters(bootstrap, letters, namespace))
    typer.echo(f"replayed {count} message(s)")


def main() -> None:
    app()
