"""Delivery internal HTTP API."""

from typing import Any
from uuid import UUID

from faka_common.errors import NotFound
from faka_common.http import internal_auth
from fastapi import APIRouter

from delivery.bootstrap import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(service.token)])

    @api.get("/deliveries/{order_id}", summary="The delivery record of an order")
    async def get_delivery(order_id: UUID) -> dict[str, Any]:
        async with service.uow() as uow:
            delivery = await uow.deliveries.get(order_id)
        if delivery is None:
            raise NotFound(f"no delivery for order {order_id}")
        return {
            "delivery_id": str(delivery.id),
            "order_id": str(delivery.order_id),
            "mode": delivery.mode,
            "item_count": delivery.item_count,
            "status": delivery.status,
            "reason": delivery.reason,
            "attempts": delivery.attempts,
            "created_at": delivery.created_at.isoformat(),
            "completed_at": delivery.completed_at.isoformat() if delivery.completed_at else None,
            "latency_ms": delivery.latency_ms,
        }

    return api
