"""The inbound listener's guards on real SMTP (aiosmtplib as the sending server), real Redis and Postgres:
with a certificate (a throwaway self-signed one made here) it offers STARTTLS and a reply goes in over it,
and when TLS is required a sender that skips STARTTLS is refused with 530; a sender address or a peer IP
past its window gets a 450 saying which limit and when to try again, and nothing of that message goes in.

Needs DATABASE_URL and REDIS_URL."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiosmtplib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from notification.bootstrap import bootstrap
from notification.entrypoints.inbound_mail import serve_replies

from .test_channels import Mailbox, database, smtp
from .test_ticket_mail import (
    FakeTickets,
    Links,
    NoKeys,
    answered,
    free_port,
    reply_to,
    settings_for,
)

pytestmark = pytest.mark.integration
__all__ = ["database", "smtp"]

Listener = Callable[..., AbstractAsyncContextManager[tuple[FakeTickets, int, EmailMessage]]]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key, as PEM files."""
    now, minutes = datetime.datetime.now(datetime.UTC), datetime.timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - minutes).not_valid_after(now + 12 * minutes)
        .add_extension(loopback, critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "mx.pem", directory / "mx.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def listener(database: str, smtp: tuple[Mailbox, int]) -> Listener:
    """A notification service whose listener runs as `serve_replies` builds it from the settings given,
    with a ticket the shop answered: (the tickets, the listener's port, the e-mail the buyer got)."""

    @asynccontextmanager
    async def running(**settings: Any) -> AsyncIterator[tuple[FakeTickets, int, EmailMessage]]:
        port = free_port()
        built = settings_for(
            database,
            smtp[1],
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0"),
            inbound_smtp_port=port,
            **settings,
        )
        tickets = FakeTickets()
        made = bootstrap(built, keys=NoKeys(), links=Links(), tickets=tickets)
        assert made.reply_addresses is not None
        server = await serve_replies(built, made.reply_addresses, made.take_in_reply)
        try:
            _, _, mail = await answered(made, tickets, smtp)
            yield tickets, port, mail
        finally:
            server.close()
            await server.wait_closed()
            for hook in reversed(made.runtime.on_stop):
                await hook()
            await made.runtime.engine.dispose()

    return running


def trusting(cert_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert_file))


async def send(mail: EmailMessage, port: int, **options: Any) -> None:
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=port, **options)


async def test_with_a_certificate_starttls_is_offered_and_a_reply_goes_in_over_it(
    listener: Listener, tmp_path: Path
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    async with listener(inbound_smtp_tls_cert_file=cert_file, inbound_smtp_tls_key_file=key_file) as (
        tickets,
        port,
        mail,
    ):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        async with client:
            await client.ehlo()
            assert client.supports_extension("starttls")
            await client.starttls(tls_context=trusting(cert_file))
            assert client.get_transport_info("sslcontext") is not None
            await client.send_message(reply_to(mail, "Over TLS.", f"<{uuid4()}@mail.example.com>"))

    assert [p[3] for p in tickets.posted] == ["Over TLS."]


async def test_when_tls_is_required_a_sender_without_starttls_is_refused_with_530(
    listener: Listener, tmp_path: Path
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    tls = {"inbound_smtp_tls_cert_file": cert_file, "inbound_smtp_tls_key_file": key_file}
    async with listener(**tls, inbound_smtp_require_tls=True) as (tickets, port, mail):
        reply = reply_to(mail, "In the clear", f"<{uuid4()}@mail.example.com>")
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await send(reply, port, start_tls=False)
        assert refused.value.code == 530
        await send(reply, port, tls_context=trusting(cert_file))

    assert [p[3] for p in tickets.posted] == ["In the clear"]


async def test_a_sender_past_its_hourly_window_gets_450_naming_the_limit_and_nothing_goes_in(
    listener: Listener,
) -> None:
    async with listener(inbound_smtp_per_sender_per_hour=2) as (tickets, port, mail):
        for n in range(2):
            await send(reply_to(mail, f"Try {n}", f"<{uuid4()}@m.example.com>"), port)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await send(reply_to(mail, "Try 2", f"<{uuid4()}@m.example.com>"), port)
        other = reply_to(mail, "Another sender", f"<{uuid4()}@m.example.com>")
        other.replace_header("From", "friend@example.com")
        await send(other, port)

    assert refused.value.code == 450
    assert "too many messages for <buyer@example.com>; try again in" in refused.value.message
    assert [p[3] for p in tickets.posted] == ["Try 0", "Try 1", "Another sender"]


async def test_a_peer_past_its_window_gets_450_whatever_sender_it_names(listener: Listener) -> None:
    async with listener(inbound_smtp_per_peer_per_minute=3) as (tickets, port, mail):

        async def send_as(n: int) -> None:
            reply = reply_to(mail, f"Sender {n}", f"<{uuid4()}@m.example.com>")
            reply.replace_header("From", f"sender{n}@example.com")
            await send(reply, port)

        outcomes = await asyncio.gather(*(send_as(n) for n in range(5)), return_exceptions=True)

    refused = [o for o in outcomes if isinstance(o, aiosmtplib.SMTPSenderRefused)]
    assert len(tickets.posted) == 3 and len(refused) == 2
    assert {r.code for r in refused} == {450}
    assert all("too many messages for your address 127.0.0.1" in r.message for r in refused)
