"""Telegram Bot API: `POST /bot<token>/sendMessage` with the chat id and the notice's text."""

from __future__ import annotations

import httpx
from faka_common.http import json_object

from notification.adapters.channels.http import call, raise_for_status
from notification.domain.channels import ChannelResult, OutgoingMessage, PermanentChannelError
from notification.domain.model import TELEGRAM

MAX_TEXT = 4096


class TelegramChannel:
    """Telegram keeps every bot chat on its servers, so keys travel here only when the shop says so
    (TELEGRAM_CARRIES_KEYS); otherwise a delivered notice says where to find them."""

    name = TELEGRAM
    idempotent = False

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, bot_token: str, carries_secrets: bool = False
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/bot{bot_token}/sendMessage"
        self.carries_secrets = carries_secrets

    def accepts(self, template: str) -> bool:
        return True

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        text = f"{message.content.subject}\n\n{message.content.text}"[:MAX_TEXT]
        response = await call(
            self._client,
            "Telegram",
            "POST",
            self._url,
            json={"chat_id": message.recipient, "text": text, "disable_web_page_preview": True},
        )
        body = json_object(response)
        raise_for_status("Telegram", response, str(body.get("description", "")))
        if body.get("ok") is not True:
            raise PermanentChannelError(f"Telegram refused the message: {body.get('description', 'not ok')}")
        result = body.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return ChannelResult(self.name, str(message_id) if message_id is not None else None)
