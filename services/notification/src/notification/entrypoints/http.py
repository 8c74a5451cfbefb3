"""Notification internal HTTP API."""

from typing import Any
from uuid import UUID

from faka_common.errors import NotFound
from faka_common.http import internal_auth
from fastapi import APIRouter

from notification.adapters.channels.resilience import GuardedChannel
from notification.bootstrap import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(service.token)])

    @api.get("/notifications/{order_id}", summary="The notifications sent (or attempted) about an order")
    async def get_notifications(order_id: UUID) -> dict[str, Any]:
        async with service.uow() as uow:
            items = await uow.notifications.for_order(order_id)
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
    async def get_order_messages(order_id: UUID) -> dict[str, Any]:
        async with service.uow() as uow:
            messages = await uow.messages.for_order(order_id)
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

    @api.get("/channels", summary="Configured channels, their circuit breaker state and the routes")
    async def get_channels() -> dict[str, Any]:
        channels = []
        for name, channel in service.notifier.channels.items():
            state = await channel.state() if isinstance(channel, GuardedChannel) else "closed"
            channels.append({"channel": name, "breaker": state})
        return {"channels": channels, "routes": service.settings.routes()}

    return api
