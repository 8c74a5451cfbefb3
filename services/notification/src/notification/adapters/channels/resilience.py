"""Per-channel circuit breakers (purgatory) and short retries (tenacity) around any channel."""

from __future__ import annotations

import logging

from faka_common.breakers import BreakerStore, breaker_factory
from faka_common.settings import ServiceSettings
from prometheus_client import Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from notification.adapters.metrics import counting_send
from notification.domain.channels import (
    Channel,
    ChannelResult,
    ChannelUnavailable,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)

log = logging.getLogger(__name__)

BREAKER_OPEN = Gauge(
    "faka_notification_channel_breaker_open", "1 while a channel's circuit breaker is open", ["channel"]
)


def breakers(
    threshold: int,
    reset_seconds: float,
    settings: ServiceSettings | None = None,
    store: BreakerStore | None = None,
) -> AsyncCircuitBreakerFactory:
    """Consecutive transient failures open a channel's breaker; a permanent refusal (a bad number) says
    nothing about the channel's health and does not count. With `settings`, every replica shares the
    breakers through Redis (see faka_common.breakers); without, they live in this process."""
    factory = breaker_factory(
        settings or ServiceSettings(service_name="notification"),
        threshold,
        reset_seconds,
        [PermanentChannelError],
        store if settings is not None else "memory",
    )

    def on_event(name: str, kind: str, event: object) -> None:
        if kind == "state_changed":
            state = getattr(event, "state", "")
            BREAKER_OPEN.labels(name).set(1 if state == "opened" else 0)
            log.warning("channel %s circuit breaker is now %s", name, state)

    factory.add_listener(on_event)
    return factory


class GuardedChannel:
    """A channel behind its breaker: while open, sends fail at once with ChannelUnavailable. Inside the
    breaker, transient failures are retried a few times with backoff (one notice counts as one failure).
    Without a breaker factory the sends are only counted and retried."""

    def __init__(
        self,
        channel: Channel,
        factory: AsyncCircuitBreakerFactory | None,
        attempts: int = 1,
        backoff: float = 0.2,
    ) -> None:
        self._channel = channel
        self._factory = factory
        self._attempts = attempts
        self._backoff = backoff

    @property
    def name(self) -> str:
        return self._channel.name

    @property
    def carries_secrets(self) -> bool:
        return self._channel.carries_secrets

    @property
    def idempotent(self) -> bool:
        return self._channel.idempotent

    def accepts(self, template: str) -> bool:
        return self._channel.accepts(template)

    async def state(self) -> str:
        if self._factory is None:
            return "closed"
        breaker = await self._factory.get_breaker(self.name)
        return str(breaker.context.state)

    def breaker_name(self, message: OutgoingMessage) -> str:
        """The channel's breaker; a shop's own endpoint (its webhook, signed with its own secret, or its own
        SMS account) has one of its own, so that one shop's dead receiver or account stops nobody else's."""
        own = message.sms is not None and message.sms.sends(self.name, message.template)
        return f"{self.name}:{message.shop_id}" if own or message.signing_secret is not None else self.name

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        if self._factory is None:
            with counting_send(self.name):
                return await self._send_with_retries(message)
        breaker = await self._factory.get_breaker(self.breaker_name(message))
        with counting_send(self.name):
            try:
                async with breaker:
                    return await self._send_with_retries(message)
            except OpenedState as error:
                raise ChannelUnavailable(f"{self.breaker_name(message)} circuit breaker is open") from error

    async def _send_with_retries(self, message: OutgoingMessage) -> ChannelResult:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=5),
            retry=retry_if_exception_type(TransientChannelError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._channel.send(message)
        raise AssertionError("unreachable: tenacity reraises the last failure")
