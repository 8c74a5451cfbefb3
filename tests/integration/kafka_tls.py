"""A throwaway single-node Kafka that speaks only SASL_SSL (SCRAM-SHA-512) to clients, the way managed Kafkas
do, for the tests of the services' Kafka security settings: its own CA and certificate for 127.0.0.1, one
SCRAM user, its own data directory and ports; the jars are the local broker's (deploy/local/infra.sh)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .e2e_platform import free_ports

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("FAKA_STATE_DIR", ROOT / ".state"))
USER, PASSWORD = "faka-svc", "scram-test-password-1"


@dataclass(frozen=True)
class TlsBroker:
    bootstrap: str
    cafile: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def write_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA (its certificate is the clients' trust) and the broker's key + chain for 127.0.0.1, as PEM."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("faka test CA")).issuer_name(_name("faka test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(loopback, critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cafile, keystore = directory / "ca.pem", directory / "broker.pem"
    cafile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore.write_bytes(
        pkcs8 + cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    return cafile, keystore


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def tls_broker(directory: Path) -> Iterator[TlsBroker]:
    libs = STATE / "kafka" / "libs"
    assert (libs / ".complete").exists() or any(libs.glob("kafka_2.13-*.jar")), (
        f"no Kafka jars in {libs}: `make infra-up` fetches them"
    )
    cafile, keystore = write_certificates(directory)
    client, internal, controller = free_ports(3)
    props = directory / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=SASL_SSL://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal},"
                f"CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=SASL_SSL://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal}",
                "listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=INTERNAL",
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                f"log.dirs={directory / 'data'}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "num.network.threads=1",
                "num.io.threads=2",
            ]
        )
        + "\n"
    )
    java_home = os.environ.get("JAVA_HOME")
    java = [
        str(Path(java_home) / "bin" / "java") if java_home else "java",
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        f"-Dlog4j.configuration=file:{ROOT / 'deploy' / 'local' / 'kafka' / 'tools-log4j.properties'}",
        "-cp", f"{libs}/*",
    ]  # fmt: skip
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", "faka-tls-test-cluster0", "-c", str(props),
         "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    out = (directory / "kafka.out").open("wb")
    broker = subprocess.Popen([*java, "kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _port_open(client):
            assert broker.poll() is None, (directory / "kafka.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the SASL_SSL broker did not open its port within 120 s"
            time.sleep(0.2)
        yield TlsBroker(f"127.0.0.1:{client}", cafile)
    finally:
        broker.kill()
        broker.wait(timeout=30)
        out.close()
