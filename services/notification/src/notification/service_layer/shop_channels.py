"""A shop's own notification channels, as its owner sets them (the whole settings at once) and reads them
back (never a secret: only whether one is stored)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from faka_common.contracts.notification_admin import ShopChannelSettings
from faka_common.errors import DomainError
from faka_common.outbound import OutboundPolicy

from notification.domain.shop_channels import (
    AliyunAccount,
    ShopChannels,
    ShopSmtp,
    TwilioAccount,
    keep_secrets,
)
from notification.service_layer.unit_of_work import NotificationUnitOfWork


class NoTelegramBot(DomainError):
    """A shop named a Telegram chat for its alerts while the platform runs no bot to send them."""

    status_code = 422
    code = "no_telegram_bot"


async def set_shop_channels(
    body: ShopChannelSettings,
    shop_id: UUID,
    uow: NotificationUnitOfWork,
    outbound: OutboundPolicy,
    telegram_bot: bool = True,
) -> ShopChannels:
    """Replace the shop's settings. The SMTP host and the webhook URL pass the outgoing-URL guard now (a
    422 naming the reason) and again on every connection (the SMS providers' endpoints are the platform's
    settings: a shop names none); a secret left out keeps the stored one where `keep_secrets` allows it.
    An alert chat needs the platform's bot (`telegram_bot`): without one the alerts would go nowhere."""
    if body.alert_telegram_chat is not None and not telegram_bot:
        raise NoTelegramBot(
            "alert_telegram_chat: the platform runs no Telegram bot (TELEGRAM_BOT_TOKEN), so nothing would "
            "reach the chat"
        )
    if body.smtp is not None:
        await outbound.addresses(body.smtp.host, body.smtp.port, "smtp.host")
    if body.webhook_url is not None:
        await outbound.check(body.webhook_url, "webhook_url")
    smtp, aliyun, twilio = body.smtp, body.aliyun_sms, body.twilio_sms
    wanted = ShopChannels(
        shop_id,
        body.from_name,
        body.from_address,
        body.reply_to,
        ShopSmtp(smtp.host, smtp.port, smtp.security, smtp.username, smtp.password) if smtp else None,
        tuple(dict.fromkeys(body.alert_emails)),
        body.webhook_url,
        body.webhook_secret,
        aliyun_sms=(
            AliyunAccount(
                aliyun.access_key_id,
                aliyun.access_key_secret,
                aliyun.sign_name,
                dict[str, str](aliyun.templates.items()),
            )
            if aliyun
            else None
        ),
        twilio_sms=TwilioAccount(twilio.account_sid, twilio.auth_token, twilio.from_number)
        if twilio
        else None,
        alert_telegram_chat=body.alert_telegram_chat,
    )
    async with uow:
        channels = keep_secrets(wanted, await uow.shop_channels.get(shop_id, lock=True))
        await uow.shop_channels.save(channels)
        await uow.commit()
    return channels


def shop_channels_view(shop_id: UUID, channels: ShopChannels | None) -> dict[str, Any]:
    """The settings as the console shows them: every field, secrets only as `*_set`."""
    channels = channels or ShopChannels(shop_id)
    smtp, aliyun, twilio = channels.smtp, channels.aliyun_sms, channels.twilio_sms
    return {
        "shop_id": str(shop_id),
        "from_name": channels.from_name,
        "from_address": channels.from_address,
        "reply_to": channels.reply_to,
        "smtp": (
            {"host": smtp.host, "port": smtp.port, "security": smtp.security, "username": smtp.username}
            if smtp
            else None
        ),
        "smtp_password_set": smtp is not None and smtp.password is not None,
        "alert_emails": list(channels.alert_emails),
        "webhook_url": channels.webhook_url,
        "webhook_secret_set": channels.webhook_secret is not None,
        "aliyun_sms": (
            {
                "access_key_id": aliyun.access_key_id,
                "sign_name": aliyun.sign_name,
                "templates": dict(aliyun.templates),
            }
            if aliyun
            else None
        ),
        "aliyun_sms_secret_set": aliyun is not None and aliyun.access_key_secret is not None,
        "twilio_sms": {"account_sid": twilio.account_sid, "from_number": twilio.from_number}
        if twilio
        else None,
        "twilio_sms_token_set": twilio is not None and twilio.auth_token is not None,
        "alert_telegram_chat": channels.alert_telegram_chat,
    }
