"""The one interface every channel (email, SMS providers, Telegram, in-site, webhooks) implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from notification.domain.model import NotificationError, RenderedNotice
from notification.domain.shop_channels import MailSender, ShopSms


@dataclass(frozen=True)
class OutgoingMessage:
    """One notice, rendered, addressed to one recipient on one channel."""

    template: str
    order_id: UUID
    recipient: str
    locale: str
    content: RenderedNotice
    idempotency_key: str  # stable per (notice, order): Message-ID, webhook event id, provider OutId
    notice: str = ""  # the notice's dedupe key: the template, or e.g. "order_refunded:R1" for one refund
    params: Mapping[str, str] = field(default_factory=dict, repr=False)
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False)
    shop_id: UUID = field(kw_only=True)  # whose notice it is: what a channel stores is filed under it
    # an e-mail's From and server (None: the platform's)
    sender: MailSender | None = field(default=None, kw_only=True)
    sms: ShopSms | None = field(default=None, kw_only=True, repr=False)  # the shop's own SMS accounts
    signing_secret: str | None = field(default=None, kw_only=True, repr=False)  # a shop's own webhook secret
    # an e-mail's headers over the composed ones (a ticket reply's Reply-To, In-Reply-To, References)
    headers: Mapping[str, str] = field(default_factory=dict, kw_only=True)


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    provider_message_id: str | None = None


class ChannelError(NotificationError):
    """A channel did not deliver. The message names the provider's answer, never the content."""

    transient = True


class TransientChannelError(ChannelError):
    """Timeout, connection refused, 5xx, rate limit: the same send may work later."""


class ChannelUnavailable(TransientChannelError):
    """The channel's circuit breaker is open: not even tried."""


class PermanentChannelError(ChannelError):
    """Rejected for good (invalid number, unknown chat, bad credentials): retrying will not help."""

    transient = False


class Channel(Protocol):
    @property
    def name(self) -> str:
        """The channel's name in routes: email, aliyun_sms, twilio_sms, telegram, in_site, webhook."""

    @property
    def carries_secrets(self) -> bool:
        """Whether the buyer's keys may travel in its messages (never in stored or relayed ones)."""

    @property
    def idempotent(self) -> bool:
        """Whether sending the same message twice shows it once (then a retry is free of duplicates)."""

    def accepts(self, template: str) -> bool:
        """Whether the channel is set up for this notice (e.g. an SMS provider template exists for it)."""

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        """Deliver or raise TransientChannelError / PermanentChannelError."""
