"""Notification internal HTTP API."""

from typing import Any
from uuid import UUID

from faka_common.errors import NotFound
from faka_common.http import internal_auth
from fastapi import APIRouter

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
                    "created_at": n.created_at.isoformat(),
                    "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                }
                for n in items
            ],
        }

    return api
