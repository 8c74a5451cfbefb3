"""A shop's own notification channels, as its owner sets them (the whole settings at once) and reads them
back (never a secret: only whether one is stored)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from faka_common.contracts.notification_admin import ShopChannelSettings
from faka_common.outbound import OutboundPolicy

from notification.domain.shop_channels import ShopChannels, ShopSmtp, keep_secrets
from notification.service_layer.unit_of_work import NotificationUnitOfWork


async def set_shop_channels(
    body: ShopChannelSettings, shop_id: UUID, uow: NotificationUnitOfWork, outbound: OutboundPolicy
) -> ShopChannels:
    """Replace the shop's settings. The SMTP host and the webhook URL pass the outgoing-URL guard now (a
    422 naming the reason) and again on every connection; a secret left out keeps the stored one where
    `keep_secrets` allows it."""
    if body.smtp is not None:
        await outbound.addresses(body.smtp.host, body.smtp.port, "smtp.host")
    if body.webhook_url is not None:
        await outbound.check(body.webhook_url, "webhook_url")
    smtp = body.smtp
    wanted = ShopChannels(
        shop_id,
        body.from_name,
        body.from_address,
        body.reply_to,
        ShopSmtp(smtp.host, smtp.port, smtp.security, smtp.username, smtp.password) if smtp else None,
        tuple(dict.fromkeys(body.alert_emails)),
        body.webhook_url,
        body.webhook_secret,
    )
    async with uow:
        channels = keep_secrets(wanted, await uow.shop_channels.get(shop_id, lock=True))
        await uow.shop_channels.save(channels)
        await uow.commit()
    return channels


def shop_channels_view(shop_id: UUID, channels: ShopChannels | None) -> dict[str, Any]:
    """The settings as the console shows them: every field, secrets only as `*_set`."""
    channels = channels or ShopChannels(shop_id)
    smtp = channels.smtp
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
    }
