"""Sending email over SMTP (aiosmtplib): multipart plain text + HTML."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib
from faka_common.outbound import UnsafeURL

from notification.domain.channels import PermanentChannelError, TransientChannelError
from notification.domain.model import RenderedEmail
from notification.domain.shop_channels import MailSender

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(
        self,
        recipient: str,
        email: RenderedEmail,
        message_id: str,
        sender: MailSender | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Hand the email to the mail server, From `sender` (None: the mailer's own), with `headers` over
        the composed ones (a ticket's Reply-To and thread); raise TransientChannelError /
        PermanentChannelError when it is not accepted."""


def compose(
    sender: str,
    recipient: str,
    email: RenderedEmail,
    message_id: str,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = email.subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(datetime.now(UTC))
    for name, value in (headers or {}).items():
        del message[name]
        message[name] = value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def _permanent(error: Exception) -> bool:
    """A 5xx answer to the recipient or the data is final (no such mailbox, rejected); everything else
    (connection refused, timeout, 4xx greylisting) may pass later."""
    if isinstance(error, UnsafeURL):
        return True
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refused.code < 600 for refused in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException) and not isinstance(
        error, aiosmtplib.SMTPConnectError
    ):
        return 500 <= error.code < 600
    return False


class SmtpMailer:
    """Sends over a few kept-open SMTP connections (a new connection per email costs a TCP, TLS and AUTH
    handshake); a connection the server closed while idle is replaced and the email sent on the new one."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        timeout: float = 10,
        connections: int = 4,
        start_tls: bool | None = None,
        connect: Callable[[], Awaitable[socket.socket]] | None = None,
    ) -> None:
        """`start_tls`: None upgrades when the server offers it; `connect`: opens the connection itself
        (a shop's server: only to an address the outgoing-URL guard allows)."""
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._connect = connect
        self._timeout = timeout
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(
        self,
        recipient: str,
        email: RenderedEmail,
        message_id: str,
        sender: MailSender | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if sender is None:
            message = compose(self._sender, recipient, email, message_id, headers=headers)
        else:
            message = compose(
                sender.from_header, recipient, email, message_id, sender.reply_to, headers=headers
            )
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                client = await self._deliver(client, message)
            except (aiosmtplib.SMTPException, OSError, UnsafeURL) as error:
                # The error names the server's answer, never the message body (which holds the keys).
                server = f"SMTP {self._host}:{self._port}"
                reason = f"{server} did not accept the email: {type(error).__name__}: {error}"
                if _permanent(error):
                    # the connection is fine, the email was refused: keep it
                    if client is not None and client.is_connected:
                        self._idle.append(client)
                    raise PermanentChannelError(reason) from error
                raise TransientChannelError(reason) from error
            self._idle.append(client)

    async def _deliver(self, client: aiosmtplib.SMTP | None, message: EmailMessage) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            try:
                await client.send_message(message)
                return client
            except aiosmtplib.SMTPServerDisconnected:
                log.info("SMTP %s:%d closed an idle connection; reconnecting", self._host, self._port)
        sock = await self._connect() if self._connect is not None else None
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port if sock is None else None,
            sock=sock,
            use_tls=self._use_tls,
            start_tls=self._start_tls,
            timeout=self._timeout,
        )
        try:
            await client.connect()
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        try:
            if self._username is not None and self._password is not None:
                await client.login(self._username, self._password)
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        return client

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
