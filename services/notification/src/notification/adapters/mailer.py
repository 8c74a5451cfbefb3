"""Sending email over SMTP (aiosmtplib): multipart plain text + HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib

from notification.domain.model import NotificationError, RenderedEmail


class Mailer(Protocol):
    async def send(self, recipient: str, email: RenderedEmail, message_id: str) -> None:
        """Hand the email to the mail server; raise NotificationError when it is not accepted."""


def compose(sender: str, recipient: str, email: RenderedEmail, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = email.subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(datetime.now(UTC))
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        timeout: float = 10,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._use_tls = use_tls
        self._timeout = timeout

    async def send(self, recipient: str, email: RenderedEmail, message_id: str) -> None:
        message = compose(self._sender, recipient, email, message_id)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._use_tls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            # The error names the server's answer, never the message body (which holds the keys).
            raise NotificationError(
                f"SMTP {self._host}:{self._port} did not accept the email: {type(error).__name__}: {error}"
            ) from error
