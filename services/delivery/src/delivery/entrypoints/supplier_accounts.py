"""Delivery internal HTTP API for holding suppliers to account: a supplier's balance, claims per import batch
and ledger, the shop's deposits, its demotion and pause thresholds, and the resume of a paused supplier.
Every route acts for the shop of `X-Shop-Id`: another shop's suppliers are not found."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from faka_common.contracts.quality import SupplierDeposit, SupplierPolicy, SupplierResume
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query

from delivery.adapters.supplier_accounts import LedgerEntry
from delivery.bootstrap import Service
from delivery.domain.suppliers import Supplier
from delivery.domain.suppliers import SupplierPolicy as Policy
from delivery.service_layer import suppliers as supplier_ops


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def standing_view(s: Supplier) -> dict[str, Any]:
    return {
        "supplier_id": str(s.id),
        "name": s.name,
        "active": s.active,
        "paused": s.paused_at is not None,
        "paused_at": _iso(s.paused_at),
        "paused_reason": s.paused_reason,
        "resumed_at": _iso(s.resumed_at),
    }


def entry_view(e: LedgerEntry) -> dict[str, Any]:
    return {
        "entry_id": str(e.id),
        "kind": e.kind,
        "amount": e.amount,
        "currency": e.currency,
        "claim_id": str(e.claim_id) if e.claim_id else None,
        "note": e.note,
        "recorded_by": e.recorded_by,
        "created_at": _iso(e.created_at),
    }


def policy_view(p: Policy) -> dict[str, Any]:
    return {
        "window_minutes": int(p.window.total_seconds() // 60),
        "min_sample": p.min_sample,
        "demote_claim_rate": p.demote_claim_rate,
        "pause_claim_rate": p.pause_claim_rate,
    }


def supplier_accounts_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    @api.get(
        "/suppliers/{supplier_id}/account",
        summary="A supplier's balance per currency, claims and replacements per import batch, latest entries",
    )
    async def supplier_account(
        supplier_id: UUID, shop: ShopScope, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            found = await supplier_ops.account(uow, shop, supplier_id, limit)
        return {
            **standing_view(found.supplier),
            "balances": found.balances,
            "claims": [
                {
                    "batch_id": str(t.batch_id) if t.batch_id else None,
                    "currency": t.currency,
                    "claims": t.claims,
                    "replacements": t.replacements,
                    "amount": t.amount,
                }
                for t in found.claims
            ],
            "entries": [entry_view(e) for e in found.entries],
        }

    @api.post(
        "/suppliers/{supplier_id}/deposits",
        status_code=201,
        summary="Record money the shop holds for the supplier (claims are deducted from it)",
    )
    async def add_deposit(supplier_id: UUID, body: SupplierDeposit, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            entry = await supplier_ops.record_deposit(uow, shop, supplier_id, body)
        return entry_view(entry)

    @api.post("/suppliers/{supplier_id}/resume", summary="Route to a paused supplier again")
    async def resume(supplier_id: UUID, body: SupplierResume, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            supplier = await supplier_ops.resume_supplier(uow, shop, supplier_id, body.resumed_by)
        return standing_view(supplier)

    @api.get("/supplier-policy", summary="When the shop's suppliers are demoted and paused")
    async def get_policy(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return policy_view(await uow.accounts.policy(shop))

    @api.put("/supplier-policy", summary="Set when the shop's suppliers are demoted and paused")
    async def put_policy(body: SupplierPolicy, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return policy_view(await supplier_ops.put_policy(uow, shop, body))

    return api
