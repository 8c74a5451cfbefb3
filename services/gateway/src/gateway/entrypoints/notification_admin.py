"""A shop's own notification channels (a console session or an API token, see `access`): the sender of its
buyers' e-mails, its own SMTP server, its own Aliyun and Twilio SMS accounts, its seller-alert recipients,
Telegram chat and webhook. Each call is passed to the
notification service's internal API (NOTIFICATION_URL) for the shop the request acts for; its 4xx come back
as they are. Bodies are as strict as notification's (one model, faka_common.contracts.notification_admin)."""

from __future__ import annotations

from typing import Any

from faka_common.contracts.notification_admin import ShopChannelSettings, ShopChannelsView
from fastapi import APIRouter

from gateway.bootstrap import Gateway
from gateway.entrypoints.access import admin_api, requires


def notification_admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin: notifications"])

    @api.get(
        "/shop-channels",
        response_model=ShopChannelsView,
        summary="The shop's own notification channels; secrets only as smtp_password_set, "
        "webhook_secret_set, aliyun_sms_secret_set and twilio_sms_token_set. Unset fields: the platform's "
        "channels stand in",
        dependencies=[requires(gw, "notifications:read")],
    )
    async def get_shop_channels() -> Any:
        return (await gw.notification.request("GET", "/internal/shop-channels")).json()

    @api.put(
        "/shop-channels",
        response_model=ShopChannelsView,
        summary="Replace the shop's own notification channels (the whole settings). A password or secret "
        "left out keeps the stored one (the SMTP password only for the same host, port, security and "
        "username; an SMS account's secret only for the same access_key_id or account_sid); 422 unsafe_url "
        "when the SMTP host or webhook URL may not be reached, 422 missing_secret when a login, SMS account "
        "or webhook has no secret, 422 no_telegram_bot for an alert chat while the platform runs no bot",
        dependencies=[requires(gw, "notifications:write")],
    )
    async def put_shop_channels(body: ShopChannelSettings) -> Any:
        response = await gw.notification.request(
            "PUT", "/internal/shop-channels", json=body.model_dump(mode="json")
        )
        return response.json()

    return api
