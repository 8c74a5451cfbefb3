"""Risk control (the risk service's, RISK_URL): a shop's rule set and its review queue, and the platform's
rule set above every shop's. A rule set is replaced whole, as a new version that the next order is decided
with; a malformed one is a 422 naming the field (checked here with the risk service's own model, and again
there) and nothing of it is saved; one over the 64 KiB a JSON body may be is a 413. Who changes rules or
ends a review is the request's principal."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.contracts.risk_rules import ReviewApproval, ReviewRejection, RiskRules, RiskRulesChange
from faka_common.fields import Line
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.entrypoints.access import actor_label, admin_api, platform_api, requires


class Rejection(BaseModel):
    """Why the order is rejected (the buyer's order says it was refused by the shop's review)."""

    model_config = ConfigDict(extra="forbid")

    reason: Line = Field(min_length=1, max_length=500)


def risk_admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin: risk"])
    platform = platform_api(gw)

    async def call(method: str, path: str, body: BaseModel | None = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body.model_dump(mode="json")
        return json_body(await gw.risk.request(method, path, **kwargs))

    def change(request: Request, rules: RiskRules) -> RiskRulesChange:
        return RiskRulesChange(**rules.model_dump(), changed_by=actor_label(request))

    @api.get(
        "/risk/rules",
        summary="The shop's risk rules, their version (0: never set), who set them and when",
        dependencies=[requires(gw, "risk:read")],
    )
    async def get_rules() -> Any:
        return await call("GET", "/internal/rules")

    @api.put(
        "/risk/rules",
        summary="Replace the shop's risk rules: a new version, which the next order is decided with (the "
        "whole rule set is at most 64 KiB of JSON: 413 above)",
        dependencies=[requires(gw, "risk:write")],
    )
    async def put_rules(rules: RiskRules, request: Request) -> Any:
        return await call("PUT", "/internal/rules", change(request, rules))

    @api.get(
        "/risk/rules/history",
        summary="The audit of the shop's rule set: each version, newest first, who saved it, when and its "
        "rules' types",
        dependencies=[requires(gw, "risk:read")],
    )
    async def rules_history(limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
        return await call("GET", "/internal/rules/history", params={"limit": limit})

    @api.get(
        "/risk/reviews",
        summary="The shop's orders held for review (open unless told otherwise), oldest first",
        dependencies=[requires(gw, "risk:read")],
    )
    async def list_reviews(
        status: Annotated[Literal["open", "approved", "rejected", "expired", "all"], Query()] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        return await call("GET", "/internal/reviews", params={"status": status, "limit": limit})

    @api.post(
        "/risk/reviews/{order_id}/approve",
        summary="Approve an order in review: stock is reserved and the buyer can pay (409 when the review "
        "has ended already)",
        dependencies=[requires(gw, "risk:write")],
    )
    async def approve_review(order_id: UUID, request: Request) -> Any:
        body = ReviewApproval(reviewed_by=actor_label(request))
        return await call("POST", f"/internal/reviews/{order_id}/approve", body)

    @api.post(
        "/risk/reviews/{order_id}/reject",
        summary="Reject an order in review, with the reason (409 when the review has ended already)",
        dependencies=[requires(gw, "risk:write")],
    )
    async def reject_review(order_id: UUID, rejection: Rejection, request: Request) -> Any:
        body = ReviewRejection(reviewed_by=actor_label(request), reason=rejection.reason)
        return await call("POST", f"/internal/reviews/{order_id}/reject", body)

    @api.get(
        "/risk/decisions/{order_id}",
        summary="The risk decision on an order: verdict, reasons, the rules that fired and the versions used",
        dependencies=[requires(gw, "risk:read")],
    )
    async def get_decision(order_id: UUID) -> Any:
        return await call("GET", f"/internal/decisions/{order_id}")

    @platform.get(
        "/risk/rules",
        summary="The platform's risk rules, applied in every shop above the shop's own",
        dependencies=[requires(gw, "platform:read")],
    )
    async def get_platform_rules() -> Any:
        return await call("GET", "/internal/platform-rules", platform=True)

    @platform.put(
        "/risk/rules",
        summary="Replace the platform's risk rules: a new version, which the next order is decided with (at "
        "most 64 KiB of JSON: 413 above)",
        dependencies=[requires(gw, "platform:write")],
    )
    async def put_platform_rules(rules: RiskRules, request: Request) -> Any:
        return await call("PUT", "/internal/platform-rules", change(request, rules), platform=True)

    router = APIRouter()
    router.include_router(api)
    router.include_router(platform)
    return router
