"""Notification internal HTTP API. Every route about an order is scoped by the shop it acts for
(`X-Shop-Id`): another shop's order answers as an unknown one does."""

from typing import Annotated, Any
from uuid import UUID

from faka_common.contracts.notification_admin import (
    ShopChannelSettings,
    ShopChannelsView,
    ShopWording,
    ShopWordingChange,
)
from faka_common.db.resealing import resealing_router
from faka_common.errors import NotFound
from faka_common.http import OptionalShopScope, ShopScope, combined, internal_router
from fastapi import APIRouter
from pydantic import BaseModel, Field

from notification.adapters.channels.resilience import GuardedChannel
from notification.adapters.shop_channels import SEALED
from notification.bootstrap import Service
from notification.domain.model import TELEGRAM
from notification.service_layer.shop_channels import set_shop_channels, shop_channels_view
from notification.service_layer.shop_templates import (
    preview,
    reset_template,
    shop_templates_view,
    word_template,
)
from notification.service_layer.telegram_links import link_chat


class TelegramLink(BaseModel):
    """What the gateway's Telegram webhook forwards from a `/start <token>` message."""

    chat_id: Annotated[
        str, Field(pattern=r"^-?[0-9]{1,20}$", description="Telegram chat id", examples=["4242"])
    ]
    token: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="The deep link's start parameter: a signed, expiring token naming the order",
        ),
    ]
    language_code: Annotated[str | None, Field(max_length=16, description="The Telegram user's language")] = (
        None
    )


def router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    @api.get("/notifications/{order_id}", summary="The notifications sent (or attempted) about an order")
    async def get_notifications(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            items = await uow.notifications.for_order(shop, order_id)
        if not items:
            raise NotFound(f"no notifications for order {order_id}")
        return {
            "order_id": str(order_id),
            "items": [
                {
                    "notification_id": str(n.id),
                    "template": n.template,
                    "channel": n.channel,
                    "status": n.status,
                    "attempts": n.attempts,
                    "error": n.error,
                    "provider_message_id": n.provider_message_id,
                    "latency_ms": n.latency_ms,
                    "created_at": n.created_at.isoformat(),
                    "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                }
                for n in items
            ],
        }

    @api.get(
        "/orders/{order_id}/messages",
        summary="In-site messages for the buyer's order page, oldest first (an empty list when none)",
    )
    async def get_order_messages(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            messages = await uow.messages.for_order(shop, order_id)
        return {
            "order_id": str(order_id),
            "items": [
                {
                    "message_id": str(m.id),
                    "template": m.template,
                    "subject": m.subject,
                    "body": m.body,
                    "created_at": m.created_at.isoformat(),
                }
                for m in messages
            ],
        }

    # The platform's bot serves every shop: the signed token, not the shop, opens the order. Without
    # X-Shop-Id any shop's order links; with it, only that shop's.
    @api.post(
        "/telegram/links",
        summary="Link a buyer's Telegram chat to the order its token names; the bot confirms in the chat",
    )
    async def post_telegram_link(link: TelegramLink, shop: OptionalShopScope) -> dict[str, Any]:
        secret = service.settings.telegram_link_secret
        if secret is None or TELEGRAM not in service.notifier.channels:
            raise NotFound("Telegram notices are not enabled (TELEGRAM_LINK_SECRET and TELEGRAM_BOT_TOKEN)")
        linked = await link_chat(
            service.uow(),
            service.notifier,
            secret.get_secret_value(),
            shop,
            link.token,
            link.chat_id,
            link.language_code,
        )
        return {"order_id": str(linked.order_id), "linked": True, "confirmed": linked.confirmed}

    @api.get(
        "/shop-channels",
        response_model=ShopChannelsView,
        summary="The shop's own channels (sender, SMTP server, SMS accounts, alert recipients and Telegram "
        "chat, webhook); secrets only as *_set. A shop that set none gets every field unset: the platform's "
        "channels stand in",
    )
    async def get_shop_channels(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            channels = await uow.shop_channels.get(shop)
        return shop_channels_view(shop, channels)

    @api.put(
        "/shop-channels",
        response_model=ShopChannelsView,
        summary="Replace the shop's own channels (the whole settings); 422 unsafe_url when the SMTP host or "
        "webhook URL may not be reached, 422 missing_secret when a login, SMS account or webhook has no "
        "secret, 422 no_telegram_bot for an alert chat while the platform runs no bot",
    )
    async def put_shop_channels(body: ShopChannelSettings, shop: ShopScope) -> dict[str, Any]:
        bot = TELEGRAM in service.notifier.channels
        channels = await set_shop_channels(body, shop, service.uow(), service.settings.outbound(), bot)
        return shop_channels_view(shop, channels)

    @api.get(
        "/shop-templates",
        summary="The buyer e-mails the shop may word, per language: placeholders, marker of the platform's "
        "part, limits, the platform's default and the shop's own (null: the default is sent)",
    )
    async def get_shop_templates(shop: ShopScope) -> dict[str, Any]:
        return await shop_templates_view(shop, service.uow(), service.notifier.renderer)

    @api.put(
        "/shop-templates/{template}/{language}",
        summary="Word the e-mail the shop's way; 422 template_refused naming the field (an unknown "
        "placeholder, a syntax error's line, a size over its limit): nothing is stored",
    )
    async def put_shop_template(
        template: str, language: str, body: ShopWordingChange, shop: ShopScope
    ) -> dict[str, Any]:
        return await word_template(
            shop, template, language, body.subject, body.body, body.changed_by,
            service.uow(), service.notifier.renderer, service.notifier.shop_templates,
        )  # fmt: skip

    @api.post(
        "/shop-templates/{template}/{language}/preview",
        summary="The e-mail a wording gives with sample facts and a sample key or link (stores nothing)",
    )
    async def preview_shop_template(
        template: str, language: str, body: ShopWording, shop: ShopScope
    ) -> dict[str, str]:
        return preview(service.notifier.renderer, template, language, body.subject, body.body)

    @api.delete(
        "/shop-templates/{template}/{language}",
        summary="Back to the platform's wording of the e-mail",
    )
    async def delete_shop_template(template: str, language: str, shop: ShopScope) -> dict[str, Any]:
        return await reset_template(
            shop,
            template,
            language,
            service.uow(),
            service.notifier.renderer,
            service.notifier.shop_templates,
        )

    # The platform's channels serve every shop (a shop's own stand before them): not shop-owned.
    @api.get("/channels", summary="Configured channels, their circuit breaker state and the routes")
    async def get_channels() -> dict[str, Any]:
        channels = []
        for name, channel in service.notifier.channels.items():
            state = await channel.state() if isinstance(channel, GuardedChannel) else "closed"
            channels.append({"channel": name, "breaker": state})
        return {"channels": channels, "routes": service.settings.routes()}

    return combined(
        api, resealing_router(service.settings, service.runtime.sessions, service.keyring, [SEALED])
    )
