"""A shop's own notification channels (a console session or an API token, see `access`): the sender of its
buyers' e-mails, its own SMTP server, its own Aliyun and Twilio SMS accounts, its seller-alert recipients,
Telegram chat and webhook; and its own wording of its buyers' e-mails (templates). Each call is passed to the
notification service's internal API (NOTIFICATION_URL) for the shop the request acts for; its 4xx come back
as they are. Bodies are as strict as notification's (one model, faka_common.contracts.notification_admin)."""

from __future__ import annotations

from typing import Annotated, Any

from faka_common.contracts.notification_admin import (
    ShopChannelSettings,
    ShopChannelsView,
    ShopWording,
    ShopWordingChange,
    WordableNotice,
    WordingLanguage,
)
from fastapi import APIRouter, Path, Request

from gateway.bootstrap import Gateway
from gateway.entrypoints.access import admin_api, requires

NoticeName = Annotated[WordableNotice, Path(description="The e-mail, e.g. order_delivered")]
LanguageName = Annotated[WordingLanguage, Path(description="Its language")]


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

    @api.get(
        "/notification-templates",
        summary="The buyer e-mails the shop may word, per language: each one's placeholders, the marker of "
        "the platform's part (keys, the order's link, a ticket's answer: never a placeholder), the limits, "
        "the platform's default and the shop's own (null: the default is sent)",
        dependencies=[requires(gw, "notifications:read")],
    )
    async def get_notification_templates() -> Any:
        return (await gw.notification.request("GET", "/internal/shop-templates")).json()

    @api.put(
        "/notification-templates/{template}/{language}",
        summary="Word the e-mail the shop's way (Jinja in a sandbox); 422 template_refused naming the field: "
        "an unknown placeholder, a syntax error's line, a subject over 200 or a text over 10,000 characters. "
        "Nothing is stored then",
        dependencies=[requires(gw, "notifications:write")],
    )
    async def put_notification_template(
        template: NoticeName,
        language: LanguageName,
        body: ShopWording,
        request: Request,
    ) -> Any:
        changed_by = request.state.principal.label[:254] or str(request.state.principal.id)
        change = ShopWordingChange(**body.model_dump(), changed_by=changed_by)
        path = f"/internal/shop-templates/{template}/{language}"
        return (await gw.notification.request("PUT", path, json=change.model_dump())).json()

    @api.post(
        "/notification-templates/{template}/{language}/preview",
        summary="The e-mail a wording gives with sample facts and a sample key or link; stores nothing",
        dependencies=[requires(gw, "notifications:write")],
    )
    async def preview_notification_template(
        template: NoticeName,
        language: LanguageName,
        body: ShopWording,
    ) -> Any:
        path = f"/internal/shop-templates/{template}/{language}/preview"
        return (await gw.notification.request("POST", path, json=body.model_dump())).json()

    @api.delete(
        "/notification-templates/{template}/{language}",
        summary="Back to the platform's wording of the e-mail",
        dependencies=[requires(gw, "notifications:write")],
    )
    async def reset_notification_template(template: NoticeName, language: LanguageName) -> Any:
        path = f"/internal/shop-templates/{template}/{language}"
        return (await gw.notification.request("DELETE", path)).json()

    return api
