"""Twilio Programmable Messaging over its REST protocol: `POST /2010-04-01/Accounts/{sid}/Messages.json`,
HTTP Basic auth (account SID, auth token), form fields To, From, Body."""

from __future__ import annotations

import httpx
from faka_common.http import json_object

from notification.adapters.channels.http import call, raise_for_status
from notification.domain.channels import ChannelResult, OutgoingMessage
from notification.domain.model import TWILIO_SMS


class TwilioSmsChannel:
    name = TWILIO_SMS
    carries_secrets = True
    idempotent = False

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, account_sid: str, auth_token: str, sender: str
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._sender = sender

    def accepts(self, template: str) -> bool:
        return True

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        response = await call(
            self._client,
            "Twilio",
            "POST",
            self._url,
            auth=self._auth,
            data={"To": message.recipient, "From": self._sender, "Body": message.content.sms},
        )
        body = json_object(response)
        # Twilio's error body: {"code": 21211, "message": "...", "status": 400}
        raise_for_status("Twilio", response, f"{body.get('code', '')} {body.get('message', '')}".strip())
        return ChannelResult(self.name, str(body.get("sid") or "") or None)
