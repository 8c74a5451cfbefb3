"""Every Kafka client of a service speaks SASL_SSL when told to (KAFKA_SECURITY_PROTOCOL and friends),
against a real broker that accepts nothing else: the topic admin creates topics, the outbox relay's
producer writes, the services' FastStream broker publishes and a consumer with the same options reads it
back; a wrong password and an untrusted certificate are refused; SASL without credentials is a settings
error naming them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError, KafkaError
from faka_common.messaging.broker import create_broker, create_topics
from faka_common.messaging.relay import create_producer
from faka_common.messaging.security import KafkaSettings, client_options
from pydantic import ValidationError

from .kafka_tls import PASSWORD, USER, TlsBroker, tls_broker, write_certificates

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    with tls_broker(tmp_path_factory.mktemp("kafka-tls")) as running:
        yield running


def settings(broker: TlsBroker, password: str = PASSWORD, cafile: Path | None = None) -> KafkaSettings:
    return KafkaSettings(
        kafka_bootstrap_servers=broker.bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=USER,
        kafka_sasl_password=password,
        kafka_ssl_cafile=str(cafile or broker.cafile),
    )


async def read_one(config: KafkaSettings, topic: str) -> bytes:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=config.kafka_bootstrap_servers, auto_offset_reset="earliest",
        group_id=f"tls-test-{uuid.uuid4().hex[:8]}", **client_options(config.kafka_security()),
    )  # fmt: skip
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=60)
        assert record.value is not None
        return record.value
    finally:
        await consumer.stop()


async def test_the_services_clients_create_topics_write_and_read_over_sasl_ssl(broker: TlsBroker) -> None:
    config = settings(broker)
    security = config.kafka_security()
    await create_topics(config.kafka_bootstrap_servers, ["tls.relay", "tls.broker"], "t1.", security)

    producer = create_producer(config.kafka_bootstrap_servers, "tls-test-relay", security)
    await producer.start()
    try:
        await producer.send_and_wait("t1.tls.relay", b"from the outbox relay", key=b"k")
    finally:
        await producer.stop()
    assert await read_one(config, "t1.tls.relay") == b"from the outbox relay"

    service_broker = create_broker(config.kafka_bootstrap_servers, "tls-test", security)
    await service_broker.connect()
    try:
        await service_broker.publish(b"from the service broker", topic="t1.tls.broker")
    finally:
        await service_broker.stop()
    assert await read_one(config, "t1.tls.broker") == b"from the service broker"


async def test_a_wrong_password_is_refused(broker: TlsBroker) -> None:
    config = settings(broker, password="not-the-password")
    producer = create_producer(config.kafka_bootstrap_servers, "tls-test-wrong", config.kafka_security())
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), timeout=60)
    await producer.stop()


async def test_a_broker_certificate_the_configured_ca_did_not_sign_is_refused(
    broker: TlsBroker, tmp_path: Path
) -> None:
    other_ca, _ = write_certificates(tmp_path)
    config = settings(broker, cafile=other_ca)
    producer = create_producer(config.kafka_bootstrap_servers, "tls-test-untrusted", config.kafka_security())
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await asyncio.wait_for(producer.start(), timeout=60)
    await producer.stop()


def test_sasl_without_credentials_is_a_settings_error_naming_them() -> None:
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        KafkaSettings(kafka_security_protocol="SASL_SSL")
    assert KafkaSettings().kafka_security() is None, "plaintext stays the default (the local broker)"
