"""Email channel: the notice's subject, text and HTML through a Mailer (SMTP)."""

from __future__ import annotations

from notification.adapters.mailer import Mailer
from notification.domain.channels import ChannelResult, OutgoingMessage
from notification.domain.model import EMAIL, message_id


class EmailChannel:
    name = EMAIL
    carries_secrets = True
    idempotent = False

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    def accepts(self, template: str) -> bool:
        return True

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        # one Message-ID per notice (each partial refund its own), stable across resends
        mail_id = message_id(message.order_id, (message.notice or message.template).replace(":", "-"))
        if message.headers:  # a ticket's reply: its Reply-To and its thread
            await self._mailer.send(
                message.recipient, message.content, mail_id, message.sender, headers=message.headers
            )
        else:
            await self._mailer.send(message.recipient, message.content, mail_id, message.sender)
        return ChannelResult(self.name, mail_id)
