"""The inbound SMTP listener (aiosmtpd, in the notification process, on its event loop): it takes mail only
for tickets' reply addresses this installation issued and still honours (anything else is refused at RCPT
TO), and puts each buyer's reply into its ticket. A failure of the delivery service answers 451 so the
sending server tries again; a reply that cannot go in (no text, no such ticket) answers 550 with why.

With a certificate configured it offers STARTTLS (and may require it). Each MAIL FROM is counted in two
moving windows kept in Redis (so every replica counts together): the sender's address and the connecting
peer's IP; a full window answers 450 with which limit and when to try again, before any recipient is read."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from uuid import UUID

from aiosmtpd.smtp import SMTP, Envelope, Session
from faka_common.errors import DomainError, Unavailable
from faka_common.rate_limits import Limiter, RateLimited, Window, email_id
from faka_common.ticket_images import MAX_IMAGES_FORM_BYTES
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute

from notification.config import Settings
from notification.domain.ticket_mail import ReplyAddresses, ReplyAddressRefused
from notification.service_layer.ticket_mail import ReplyRefused

log = logging.getLogger(__name__)

#: A reply with three 2 MB images, base64-encoded (4/3) with headers and text, fits.
MAX_MAIL_BYTES = MAX_IMAGES_FORM_BYTES * 3 // 2
TakeIn = Callable[[UUID, EmailMessage, bytes], Awaitable[bool]]


@dataclass(frozen=True)
class SenderLimits:
    """How many messages one sender address and one peer IP may start (MAIL FROM) in their windows."""

    limiter: Limiter
    #: The windows' key prefix, e.g. ("faka", "<kafka namespace>", "inbound-mail").
    prefix: tuple[str, ...]
    per_sender: RateLimitItem
    per_peer: RateLimitItem

    def windows(self, sender: str, peer: str) -> list[Window]:
        return [
            Window(self.per_peer, (*self.prefix, "peer", peer), f"your address {peer}", "messages"),
            Window(self.per_sender, (*self.prefix, "sender", email_id(sender)), f"<{sender}>", "messages"),
        ]


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The listener's server side of STARTTLS (TLS 1.2 or newer) with its certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class TicketReplies:
    """The aiosmtpd handler: MAIL counts the sender and the peer, RCPT checks the address, DATA takes the
    reply in for each ticket named."""

    def __init__(self, addresses: ReplyAddresses, take_in: TakeIn, limits: SenderLimits | None) -> None:
        self._addresses = addresses
        self._take_in = take_in
        self._limits = limits

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._limits is not None:
            peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
            try:
                await self._limits.limiter.take(self._limits.windows(address, peer))
            except RateLimited as refused:
                log.warning("inbound mail from <%s> via %s refused: %s", address, peer, refused.message)
                return f"450 4.7.1 {refused.message}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            self._addresses.ticket_of(address, datetime.now(UTC))
        except ReplyAddressRefused as refused:
            return f"550 5.1.1 {refused}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 the message cannot be read"
        mail = message_from_bytes(raw, policy=default)
        assert isinstance(mail, EmailMessage)
        now = datetime.now(UTC)
        try:
            for address in envelope.rcpt_tos:
                await self._take_in(self._addresses.ticket_of(address, now), mail, raw)
        except (ReplyRefused, ReplyAddressRefused) as refused:
            return f"550 5.6.0 not taken into the ticket: {refused}"
        except Unavailable as error:
            log.warning("a ticket reply waits: %s", error)
            return "451 4.3.0 the ticket cannot be written now; try again later"
        except DomainError as error:
            return f"550 5.6.0 not taken into the ticket: {error.message}"
        return "250 OK: taken into the ticket"


async def start_listener(
    addresses: ReplyAddresses,
    take_in: TakeIn,
    host: str,
    port: int,
    tls: ssl.SSLContext | None = None,
    require_tls: bool = False,
    limits: SenderLimits | None = None,
) -> asyncio.AbstractServer:
    """Listen on `host`:`port` on the running loop (the loop the service's database pool belongs to);
    with `tls`, STARTTLS is offered (`require_tls`: nothing but EHLO, NOOP, QUIT before it)."""
    if require_tls and tls is None:
        raise ValueError("requiring STARTTLS needs a certificate")
    handler = TicketReplies(addresses, take_in, limits)

    def protocol() -> Any:
        return SMTP(
            handler,
            data_size_limit=MAX_MAIL_BYTES,
            enable_SMTPUTF8=True,
            hostname=addresses.domain,
            timeout=60,
            tls_context=tls,
            require_starttls=require_tls,
        )

    server = await asyncio.get_running_loop().create_server(protocol, host, port)
    log.info(
        "taking ticket replies for @%s by SMTP on %s:%d (STARTTLS %s)",
        addresses.domain, host, port, "required" if require_tls else "offered" if tls else "off",
    )  # fmt: skip
    return server


async def serve_replies(
    settings: Settings, addresses: ReplyAddresses, take_in: TakeIn
) -> asyncio.AbstractServer:
    """The listener as the settings say: INBOUND_SMTP_HOST/PORT, STARTTLS with INBOUND_SMTP_TLS_CERT_FILE and
    _KEY_FILE (required with INBOUND_SMTP_REQUIRE_TLS), the sender's and the peer's windows in REDIS_URL."""
    assert settings.inbound_smtp_port is not None
    tls = None
    if settings.inbound_smtp_tls_cert_file and settings.inbound_smtp_tls_key_file:
        tls = tls_context(settings.inbound_smtp_tls_cert_file, settings.inbound_smtp_tls_key_file)
    limits = SenderLimits(
        Limiter(settings.redis_url),
        ("faka", settings.kafka_namespace or "default", "inbound-mail"),
        RateLimitItemPerHour(settings.inbound_smtp_per_sender_per_hour),
        RateLimitItemPerMinute(settings.inbound_smtp_per_peer_per_minute),
    )
    return await start_listener(
        addresses, take_in, settings.inbound_smtp_host, settings.inbound_smtp_port,
        tls, settings.inbound_smtp_require_tls, limits,
    )  # fmt: skip
