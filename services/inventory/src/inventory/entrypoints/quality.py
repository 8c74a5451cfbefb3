"""Inventory internal HTTP API for quality automation: a product's after-sales and delivery figures (the
admin's, and the storefront's pre-sale ones), the resume of a paused product, the shop's pause threshold, and
a supplier's import batches with their invalid-key rates. Every route acts for the shop of `X-Shop-Id`:
another shop's product is not found, another shop's supplier has no batches here."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from faka_common.contracts.quality import ProductQualityPolicy, ProductResume
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query

from inventory.bootstrap import Service
from inventory.domain.quality import QualityPolicy, Tally
from inventory.service_layer import quality
from inventory.service_layer.quality import ProductQuality


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def tally_view(t: Tally) -> dict[str, Any]:
    rate = t.success_rate
    return {
        "delivered_orders": t.delivered_orders,
        "delivered_items": t.delivered_items,
        "failed_orders": t.failed_orders,
        "cases": t.cases,
        "after_sales_rate": round(t.after_sales_rate, 4),
        "success_rate": round(rate, 4) if rate is not None else None,
    }


def policy_view(p: QualityPolicy) -> dict[str, Any]:
    return {"window_days": p.window_days, "min_deliveries": p.min_deliveries, "pause_rate": p.pause_rate}


def quality_view(q: ProductQuality) -> dict[str, Any]:
    return {
        "product_id": str(q.product.id),
        "paused": q.product.paused_at is not None,
        "paused_at": _iso(q.product.paused_at),
        "paused_reason": q.product.paused_reason,
        "resumed_at": _iso(q.product.resumed_at),
        "policy": policy_view(q.policy),
        "window": tally_view(q.window),
        "last_7_days": {
            **tally_view(q.last_7_days),
            "median_delivery_seconds": q.median_delivery_seconds,
            "products_combined": q.products_combined,
        },
    }


def quality_router(service: Service) -> APIRouter:
    api = internal_router(service.runtime.settings, callers={"gateway"})

    @api.get(
        "/products/{product_id}/quality",
        summary="A product's after-sales rate over the shop's window, its pause, and its delivery success "
        "rate and typical delivery time over 7 days (from hourly rollups)",
    )
    async def product_quality(
        product_id: UUID,
        shop: ShopScope,
        family: Annotated[
            bool,
            Query(
                description="The 7-day figures of the product's main product and all its variants together "
                "(its storefront page's); the pause and the window stay the product's own"
            ),
        ] = False,
    ) -> dict[str, Any]:
        async with service.reader() as uow:
            return quality_view(await quality.product_quality(uow, shop, product_id, family))

    @api.post("/products/{product_id}/resume", summary="Put a paused product back on sale")
    async def resume(product_id: UUID, body: ProductResume, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            await quality.resume_product(uow, shop, product_id, body.resumed_by)
        async with service.reader() as uow:
            return quality_view(await quality.product_quality(uow, shop, product_id))

    @api.get("/product-quality-policy", summary="When the shop's products pause themselves")
    async def get_policy(shop: ShopScope) -> dict[str, Any]:
        async with service.reader() as uow:
            return policy_view(await uow.quality.policy(shop))

    @api.put("/product-quality-policy", summary="Set when the shop's products pause themselves")
    async def put_policy(body: ProductQualityPolicy, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return policy_view(await quality.put_policy(uow, shop, body))

    @api.get(
        "/suppliers/{supplier_id}/batches",
        summary="The shop's import batches from a supplier: keys delivered, reported invalid, "
        "invalid-key rate, withdrawn from sale while the supplier is paused",
    )
    async def supplier_batches(supplier_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.reader() as uow:
            batches = await uow.quality.batches_of_supplier(shop, supplier_id)
        delivered = sum(b.delivered for b in batches)
        invalid = sum(b.reported_invalid for b in batches)
        return {
            "supplier_id": str(supplier_id),
            "delivered": delivered,
            "reported_invalid": invalid,
            "invalid_rate": round(invalid / delivered, 4) if delivered else 0.0,
            "withdrawn": sum(b.withdrawn for b in batches),
            "batches": [
                {
                    "batch_id": str(b.batch_id),
                    "product_id": str(b.product_id),
                    "imported": b.imported,
                    "delivered": b.delivered,
                    "reported_invalid": b.reported_invalid,
                    "invalid_rate": round(b.invalid_rate, 4),
                    "cost_price": b.cost_price,
                    "created_at": _iso(b.created_at),
                    "withdrawn": b.withdrawn,
                }
                for b in batches
            ],
        }

    return api
