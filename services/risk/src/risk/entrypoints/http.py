"""Risk internal HTTP API (the gateway's): decisions, rule sets (a shop's and the platform's), reviews."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.contracts.risk_rules import ReviewApproval, ReviewRejection, RiskRulesChange
from faka_common.errors import NotFound
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from risk.bootstrap import Service
from risk.domain.reviews import Review
from risk.domain.rules import PLATFORM
from risk.service_layer import handlers


class ReviewView(BaseModel):
    order_id: UUID
    order_no: str
    product_title: str
    amount: int
    currency: str
    buyer_email: str
    device_id: str | None = Field(description="The device id the checkout sent, if any")
    reasons: list[str]
    fired: list[str] = Field(description="The rules that fired, as `<scope>.<type>[<index>]`")
    trailing_mean: int | None = Field(
        description="The product's trailing mean the amount was compared with (minor units; none when no "
        "amount rule looked)"
    )
    status: Literal["open", "approved", "rejected", "expired"]
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_reason: str | None

    @classmethod
    def of(cls, review: Review) -> ReviewView:
        return cls.model_validate(review, from_attributes=True)


def router(service: Service) -> APIRouter:
    api = internal_router(service.runtime.settings, callers={"gateway"})

    @api.get("/decisions/{order_id}", summary="The risk decision on an order of the shop")
    async def get_decision(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            decision = await uow.decisions.get(shop, order_id)
        if decision is None:
            raise NotFound(f"no risk decision for order {order_id}")
        return {
            "order_id": str(order_id),
            "verdict": decision.verdict,
            "reasons": decision.reasons,
            "fired": decision.fired,
            "rules_version": decision.rules_version,
            "platform_rules_version": decision.platform_rules_version,
        }

    async def read_rules(scope: UUID) -> dict[str, Any]:
        async with service.uow() as uow:
            stored = await uow.rule_sets.current(scope)
        return {
            "version": stored.version,
            **stored.rules.model_dump(mode="json"),
            "changed_by": stored.changed_by,
            "changed_at": stored.changed_at,
        }

    async def write_rules(scope: UUID, body: RiskRulesChange) -> dict[str, Any]:
        await handlers.change_rules(service.uow(), scope, body, body.changed_by, service.decider)
        return await read_rules(scope)

    @api.get("/rules", summary="The shop's current rule set and its version (0: never set)")
    async def get_rules(shop: ShopScope) -> dict[str, Any]:
        return await read_rules(shop)

    @api.put("/rules", summary="Replace the shop's rule set: a new version, used by the next order")
    async def put_rules(body: RiskRulesChange, shop: ShopScope) -> dict[str, Any]:
        return await write_rules(shop, body)

    @api.get("/rules/history", summary="The shop's rule-set versions, newest first: who, when and what")
    async def rules_history(
        shop: ShopScope, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> dict[str, list[dict[str, Any]]]:
        async with service.uow() as uow:
            found = await uow.rule_sets.history(shop, limit)
        return {"items": [asdict(change) for change in found]}

    @api.get("/platform-rules", summary="The platform's rule set (applied above every shop's)")
    async def get_platform_rules() -> dict[str, Any]:
        return await read_rules(PLATFORM)

    @api.put("/platform-rules", summary="Replace the platform's rule set: a new version")
    async def put_platform_rules(body: RiskRulesChange) -> dict[str, Any]:
        return await write_rules(PLATFORM, body)

    @api.get("/reviews", summary="The shop's orders in review (open unless told otherwise), oldest first")
    async def list_reviews(
        shop: ShopScope,
        status: Annotated[Literal["open", "approved", "rejected", "expired", "all"], Query()] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, list[ReviewView]]:
        async with service.uow() as uow:
            found = await uow.reviews.of_shop(shop, None if status == "all" else status, limit)
        return {"items": [ReviewView.of(review) for review in found]}

    @api.post("/reviews/{order_id}/approve", summary="Approve an order in review: it proceeds to payment")
    async def approve_review(order_id: UUID, body: ReviewApproval, shop: ShopScope) -> ReviewView:
        review = await handlers.resolve_review(service.uow(), shop, order_id, True, body.reviewed_by)
        return ReviewView.of(review)

    @api.post("/reviews/{order_id}/reject", summary="Reject an order in review, with the reason")
    async def reject_review(order_id: UUID, body: ReviewRejection, shop: ShopScope) -> ReviewView:
        review = await handlers.resolve_review(
            service.uow(), shop, order_id, False, body.reviewed_by, body.reason
        )
        return ReviewView.of(review)

    return api
