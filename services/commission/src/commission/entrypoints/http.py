"""Commission internal HTTP API (a placeholder until the ledger exists)."""

from typing import Any

from faka_common.http import internal_auth
from fastapi import APIRouter

from commission.bootstrap import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(service.token)])

    @api.get("/ledger/summary", summary="Commission ledger totals (all zero until the ledger exists)")
    async def ledger_summary() -> dict[str, Any]:
        return {"entries": 0, "pending": 0, "settled": 0, "currency": "CNY"}

    return api
