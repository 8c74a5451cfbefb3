"""Risk internal HTTP API."""

from typing import Any
from uuid import UUID

from faka_common.errors import NotFound
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter

from risk.bootstrap import Service


def router(service: Service) -> APIRouter:
    api = internal_router(service.runtime.settings, callers={"gateway"})

    @api.get("/decisions/{order_id}", summary="The risk decision on an order of the shop")
    async def get_decision(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            decision = await uow.decisions.get(shop, order_id)
        if decision is None:
            raise NotFound(f"no risk decision for order {order_id}")
        return {"order_id": str(order_id), "verdict": decision.verdict, "reasons": decision.reasons}

    return api
