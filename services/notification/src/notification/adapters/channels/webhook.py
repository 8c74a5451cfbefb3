"""Signed webhooks to sellers and agents.

Each POST carries the JSON body and `X-Faka-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`
keyed with the shared secret; `X-Faka-Event-Id` is stable across retries so a receiver can deduplicate.
Transient failures (timeout, 5xx, 429) are retried with exponential backoff (tenacity); every attempt is
written to the delivery log. The receiver's address passes the outgoing-URL guard (faka_common.outbound)
at start-up and on every connection; redirects are not followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from notification.adapters.channels.http import call, raise_for_status
from notification.domain.channels import (
    ChannelError,
    ChannelResult,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from notification.domain.model import WEBHOOK

SIGNATURE_HEADER = "X-Faka-Signature"
EVENT_ID_HEADER = "X-Faka-Event-Id"
EVENT_TYPE_HEADER = "X-Faka-Event"
DEFAULT_TOLERANCE = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = DEFAULT_TOLERANCE
) -> bool:
    """What a receiver does: parse `t=...,v1=...`, refuse a stale timestamp, compare in constant time."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


@dataclass(frozen=True)
class WebhookAttempt:
    shop_id: UUID
    event_id: str
    template: str
    order_id: UUID
    url: str
    attempt: int
    status_code: int | None
    outcome: str  # delivered | failed
    error: str | None
    latency_ms: int


class WebhookLog(Protocol):
    async def record(self, attempt: WebhookAttempt) -> None:
        """Keep the attempt, whatever becomes of the notice's transaction."""


def _without_query(url: str) -> str:
    """The log keeps where a webhook went, not credentials or a token a receiver put in the URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class WebhookChannel:
    name = WEBHOOK
    carries_secrets = False
    idempotent = False

    def __init__(
        self,
        client: httpx.AsyncClient,
        secret: str | None,
        log: WebhookLog,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._secret = secret
        self._log = log
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock

    def accepts(self, template: str) -> bool:
        return True

    def body(self, message: OutgoingMessage) -> bytes:
        document = {
            "id": message.idempotency_key,
            "type": message.template,
            "order_id": str(message.order_id),
            "data": dict(message.payload),
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        body = self.body(message)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            retry=retry_if_exception_type(TransientChannelError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._post(message, body, attempt.retry_state.attempt_number)
        return ChannelResult(self.name, message.idempotency_key)

    async def _post(self, message: OutgoingMessage, body: bytes, number: int) -> None:
        # a shop's own webhook is signed with its own secret, the platform seller's with SELLER_WEBHOOK_SECRET
        secret = message.signing_secret or self._secret
        if secret is None:
            raise PermanentChannelError("no secret to sign the webhook with")
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(secret, timestamp, body),
            EVENT_ID_HEADER: message.idempotency_key,
            EVENT_TYPE_HEADER: message.template,
        }
        started = time.monotonic()
        status: int | None = None
        try:
            response = await call(
                self._client, "webhook", "POST", message.recipient, content=body, headers=headers
            )
            status = response.status_code
            raise_for_status("webhook", response)
        except ChannelError as error:
            await self._record(message, number, status, "failed", str(error), started)
            raise
        await self._record(message, number, status, "delivered", None, started)

    async def _record(
        self,
        message: OutgoingMessage,
        number: int,
        status: int | None,
        outcome: str,
        error: str | None,
        started: float,
    ) -> None:
        await self._log.record(
            WebhookAttempt(
                shop_id=message.shop_id,
                event_id=message.idempotency_key,
                template=message.template,
                order_id=message.order_id,
                url=_without_query(message.recipient),
                attempt=number,
                status_code=status,
                outcome=outcome,
                error=error,
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        )
