"""Sending email over SMTP (aiosmtplib): multipart plain text + HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib

from notification.domain.channels import PermanentChannelError, TransientChannelError
from notification.domain.model import RenderedEmail


class Mailer(Protocol):
    async def send(self, recipient: str, email: RenderedEmail, message_id: str) -> None:
        """Hand the email to the mail server; raise TransientChannelError / PermanentChannelError when it
        is not accepted."""


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


def _permanent(error: Exception) -> bool:
    """A 5xx answer to the recipient or the data is final (no such mailbox, rejected); everything else
    (connection refused, timeout, 4xx greylisting) may pass later."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refused.code < 600 for refused in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException) and not isinstance(
        error, aiosmtplib.SMTPConnectError
    ):
        return 500 <= error.code < 600
    return False


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
            reason = (
                f"SMTP {self._host}:{self._port} did not accept the email: {type(error).__name__}: {error}"
            )
            if _permanent(error):
                raise PermanentChannelError(reason) from error
            raise TransientChannelError(reason) from error
