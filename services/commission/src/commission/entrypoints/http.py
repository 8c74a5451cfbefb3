"""Commission internal HTTP API (a placeholder until the ledger exists)."""

from typing import Any

from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter

from commission.bootstrap import Service


def router(service: Service) -> APIRouter:
    api = internal_router(service.runtime.settings, callers={"gateway"})

    @api.get(
        "/ledger/summary", summary="The shop's commission ledger totals (all zero until the ledger exists)"
    )
    async def ledger_summary(shop: ShopScope) -> dict[str, Any]:
        return {"shop_id": str(shop), "entries": 0, "pending": 0, "settled": 0, "currency": "CNY"}

    return api
