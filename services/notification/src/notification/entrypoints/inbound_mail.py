"""The inbound SMTP listener (aiosmtpd, in the notification process, on its event loop): it takes mail only
for tickets' reply addresses this installation issued and still honours (anything else is refused at RCPT
TO), and puts each buyer's reply into its ticket. A failure of the delivery service answers 451 so the
sending server tries again; a reply that cannot go in (no text, no such ticket) answers 550 with why."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any
from uuid import UUID

from aiosmtpd.smtp import SMTP, Envelope, Session
from faka_common.errors import DomainError, Unavailable
from faka_common.ticket_images import MAX_IMAGES_FORM_BYTES

from notification.domain.ticket_mail import ReplyAddresses, ReplyAddressRefused
from notification.service_layer.ticket_mail import ReplyRefused

log = logging.getLogger(__name__)

#: A reply with three 2 MB images, base64-encoded (4/3) with headers and text, fits.
MAX_MAIL_BYTES = MAX_IMAGES_FORM_BYTES * 3 // 2
TakeIn = Callable[[UUID, EmailMessage, bytes], Awaitable[bool]]


class TicketReplies:
    """The aiosmtpd handler: RCPT checks the address, DATA takes the reply in for each ticket named."""

    def __init__(self, addresses: ReplyAddresses, take_in: TakeIn) -> None:
        self._addresses = addresses
        self._take_in = take_in

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
    addresses: ReplyAddresses, take_in: TakeIn, host: str, port: int
) -> asyncio.AbstractServer:
    """Listen on `host`:`port` on the running loop (the loop the service's database pool belongs to)."""
    handler = TicketReplies(addresses, take_in)

    def protocol() -> Any:
        return SMTP(
            handler,
            data_size_limit=MAX_MAIL_BYTES,
            enable_SMTPUTF8=True,
            hostname=addresses.domain,
            timeout=60,
        )

    server = await asyncio.get_running_loop().create_server(protocol, host, port)
    log.info("taking ticket replies for @%s by SMTP on %s:%d", addresses.domain, host, port)
    return server
