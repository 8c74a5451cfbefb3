"""A shop's buyer SMS through the shop's own Aliyun or Twilio account when it has one that sends the notice,
else through the platform's. The shop's provider failing transiently (down, slow, throttled) falls back to
the platform's account, so the buyer still hears (under the platform's sign name or number); a permanent
refusal does not: it is the shop's account (credentials, sign name, template, balance) or the number, which
the platform's account would not mend, and the shop sees it in its notification log. Endpoints (base URLs,
the region) are the platform's settings, never a shop's."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from notification.adapters.channels.aliyun_sms import AliyunSmsChannel
from notification.adapters.channels.twilio_sms import TwilioSmsChannel
from notification.config import Settings
from notification.domain.channels import (
    Channel,
    ChannelResult,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from notification.domain.model import ALIYUN_SMS, TWILIO_SMS
from notification.domain.shop_channels import AliyunAccount, ShopSms, TwilioAccount

log = logging.getLogger(__name__)

OwnAccount = Callable[[ShopSms], Channel | None]
"""The provider's channel for a shop's own account (None: the shop has none with this provider)."""


class ShopSmsChannel:
    """One SMS provider for every shop: the shop's own account first, the platform's (if configured) for
    a shop without one, for a notice the shop's account has no template for, and as the fallback."""

    carries_secrets = True
    idempotent = False

    def __init__(self, name: str, platform: Channel | None, own: OwnAccount) -> None:
        self.name = name
        self._platform = platform
        self._own = own

    def accepts(self, template: str) -> bool:
        """Whether the platform's account sends the notice (a shop's own is asked per notice)."""
        return self._platform is not None and self._platform.accepts(template)

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        own = self._own(message.sms) if message.sms is not None else None
        if own is not None and own.accepts(message.template):
            try:
                return await own.send(message)
            except TransientChannelError as error:
                if not self.accepts(message.template):
                    raise
                log.warning(
                    "shop %s's own %s account failed (%s); sending %s through the platform's",
                    message.shop_id,
                    self.name,
                    error,
                    message.idempotency_key,
                )
        if self._platform is None or not self._platform.accepts(message.template):
            raise PermanentChannelError(
                f"{self.name}: no account (the shop's or the platform's) sends {message.template}"
            )
        return await self._platform.send(message)


def sms_channels(settings: Settings, client: httpx.AsyncClient) -> list[Channel]:
    """Aliyun and Twilio for every shop, each with the platform's account when the settings configure one
    (an account as a shop's is: the endpoints and the region are the platform's for both)."""
    s = settings

    def aliyun(account: AliyunAccount | None) -> Channel | None:
        if account is None or account.access_key_secret is None:
            return None
        return AliyunSmsChannel(
            client,
            s.aliyun_sms_base_url,
            account.access_key_id,
            account.access_key_secret,
            account.sign_name,
            account.templates,
            s.aliyun_sms_region,
        )

    def twilio(account: TwilioAccount | None) -> Channel | None:
        if account is None or account.auth_token is None:
            return None
        return TwilioSmsChannel(
            client, s.twilio_base_url, account.account_sid, account.auth_token, account.from_number
        )

    platform_aliyun = None
    if s.aliyun_sms_access_key_id and s.aliyun_sms_access_key_secret and s.aliyun_sms_sign_name:
        secret = s.aliyun_sms_access_key_secret.get_secret_value()
        platform_aliyun = AliyunAccount(
            s.aliyun_sms_access_key_id, secret, s.aliyun_sms_sign_name, s.aliyun_sms_templates
        )
    platform_twilio = None
    if s.twilio_account_sid and s.twilio_auth_token and s.twilio_from:
        token = s.twilio_auth_token.get_secret_value()
        platform_twilio = TwilioAccount(s.twilio_account_sid, token, s.twilio_from)
    return [
        ShopSmsChannel(ALIYUN_SMS, aliyun(platform_aliyun), lambda sms: aliyun(sms.aliyun)),
        ShopSmsChannel(TWILIO_SMS, twilio(platform_twilio), lambda sms: twilio(sms.twilio)),
    ]
