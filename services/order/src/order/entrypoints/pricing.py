"""Order internal HTTP API for operators' pricing: wholesale tiers and coupons (docs/internal-api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.fields import MAX_MONEY, Money
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from order.bootstrap import Service
from order.domain.pricing import MAX_CODE, MAX_TIERS, Coupon, PriceTier
from order.service_layer import pricing

#: Use counts are 32-bit columns.
MAX_USES = 10**9


class Tier(BaseModel):
    min_quantity: int = Field(ge=2, le=1_000_000, examples=[10])
    unit_price: Money = Field(
        description=f"Minor units per unit from min_quantity on, at most {MAX_MONEY}", examples=[4500]
    )


class TiersBody(BaseModel):
    tiers: list[Tier] = Field(max_length=MAX_TIERS, description="Replaces every tier; [] removes them")


CouponCode = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CODE, pattern=r"^[A-Za-z0-9_-]+$")]


class NewCoupon(BaseModel):
    code: CouponCode = Field(examples=["SPRING10"])
    kind: Literal["fixed", "percent"]
    value: int = Field(
        ge=1,
        le=MAX_MONEY,
        description=f"fixed: minor units off (at most {MAX_MONEY}); percent: 1..100 percent off",
        examples=[10],
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="Required for fixed")
    product_id: UUID | None = None
    category_id: UUID | None = None
    usage_limit: int | None = Field(
        default=None, ge=1, le=MAX_USES, description="Uses in all; null: unlimited"
    )
    per_buyer_limit: int | None = Field(default=None, ge=1, le=MAX_USES, description="Uses per buyer email")
    expires_at: AwareDatetime | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def coupon_view(coupon: Coupon) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "kind": coupon.kind,
        "value": coupon.value,
        "currency": coupon.currency,
        "product_id": str(coupon.product_id) if coupon.product_id else None,
        "category_id": str(coupon.category_id) if coupon.category_id else None,
        "usage_limit": coupon.usage_limit,
        "per_buyer_limit": coupon.per_buyer_limit,
        "used_count": coupon.used_count,
        "expires_at": _iso(coupon.expires_at),
        "active": coupon.active,
        "created_at": _iso(coupon.created_at),
    }


def tiers_view(product_id: UUID, tiers: list[PriceTier]) -> dict[str, Any]:
    return {
        "product_id": str(product_id),
        "tiers": [{"min_quantity": t.min_quantity, "unit_price": t.unit_price} for t in tiers],
    }


def pricing_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"}, tags=["pricing"])

    @api.get("/products/{product_id}/price-tiers", summary="A product's wholesale tiers")
    async def get_tiers(shop: ShopScope, product_id: UUID) -> dict[str, Any]:
        tiers = await pricing.price_tiers(shop, product_id, service.uow(), service.catalog)
        return tiers_view(product_id, tiers)

    @api.put("/products/{product_id}/price-tiers", summary="Replace a product's wholesale tiers")
    async def put_tiers(shop: ShopScope, product_id: UUID, body: TiersBody) -> dict[str, Any]:
        wanted = [PriceTier(t.min_quantity, t.unit_price) for t in body.tiers]
        tiers = await pricing.set_price_tiers(shop, product_id, wanted, service.uow(), service.catalog)
        return tiers_view(product_id, tiers)

    @api.post("/coupons", status_code=201, summary="Create a coupon")
    async def create_coupon(shop: ShopScope, body: NewCoupon) -> dict[str, Any]:
        coupon = await pricing.create_coupon(service.uow(), shop_id=shop, **body.model_dump())
        return coupon_view(coupon)

    @api.get("/coupons", summary="The shop's coupons, newest first (at most 500)")
    async def list_coupons(shop: ShopScope) -> dict[str, Any]:
        return {"items": [coupon_view(c) for c in await pricing.list_coupons(shop, service.uow())]}

    @api.post("/coupons/{code}/disable", summary="Disable a coupon")
    async def disable_coupon(shop: ShopScope, code: CouponCode) -> dict[str, Any]:
        return coupon_view(await pricing.disable_coupon(shop, code, service.uow()))

    return api
