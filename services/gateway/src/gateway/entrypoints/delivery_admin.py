"""Operator endpoints for delivery (a console session or an API token, see `access`): the manual queue,
suppliers, routes, scores, claims, deposits, the shop's demotion and pause thresholds and a paused
supplier's resume.
Each call is passed to the delivery service's internal API (DELIVERY_URL), whose 4xx come back as they are."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.contracts.delivery_admin import (
    ClaimTask,
    DeliverTask,
    NewClaim,
    NewRoute,
    NewSupplier,
    RejectTask,
    SupplierActive,
)
from faka_common.contracts.quality import SupplierDeposit, SupplierPolicy, SupplierResume
from faka_common.fields import Line, Money, Text
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.bootstrap import Gateway
from gateway.domain.access import Principal
from gateway.entrypoints.access import admin_api, requires


class ManualDelivery(BaseModel):
    """What the buyer receives; who delivers it is the request's principal."""

    model_config = ConfigDict(extra="forbid")

    content: Text = Field(
        min_length=1, max_length=20_000, description="What the buyer receives (sealed at rest)"
    )
    force: bool = Field(
        default=False, description="Deliver even while a supplier may still recharge the order"
    )


class ManualRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Line = Field(min_length=1, max_length=500)


class NewDeposit(BaseModel):
    """Who records it is the request's principal."""

    model_config = ConfigDict(extra="forbid")

    amount: Money = Field(gt=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    note: Line = Field(default="", max_length=500)


TaskStatus = Literal["open", "claimed", "delivered", "rejected", "resolved"]


def delivery_admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin: delivery"])

    async def call(method: str, path: str, body: BaseModel | None = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body.model_dump(mode="json")
        response = await gw.delivery.request(method, path, **kwargs)
        return response.json() if response.content else None

    @api.get(
        "/delivery/manual-tasks",
        summary="The manual queue (open and claimed unless told otherwise)",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def list_tasks(
        status: Annotated[list[TaskStatus] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return await call("GET", "/internal/manual-tasks", params=params)

    def operator(request: Request) -> str:
        """Who works the task, for delivery's record: the authenticated principal, not a name it types."""
        principal: Principal = request.state.principal
        return principal.label[:100]

    @api.post(
        "/delivery/manual-tasks/{order_id}/claim",
        summary="Claim a task (as the signed-in person or the token)",
        dependencies=[requires(gw, "delivery:write")],
    )
    async def claim(order_id: UUID, request: Request) -> Any:
        body = ClaimTask(operator=operator(request))
        return await call("POST", f"/internal/manual-tasks/{order_id}/claim", body=body)

    @api.post(
        "/delivery/manual-tasks/{order_id}/deliver",
        summary="Deliver: {content, force?} (as the signed-in person or the token)",
        dependencies=[requires(gw, "delivery:write")],
    )
    async def deliver(order_id: UUID, body: ManualDelivery, request: Request) -> Any:
        task = DeliverTask(operator=operator(request), **body.model_dump())
        return await call("POST", f"/internal/manual-tasks/{order_id}/deliver", body=task)

    @api.post(
        "/delivery/manual-tasks/{order_id}/reject",
        summary="Reject: body {reason} (as the signed-in person or the token)",
        dependencies=[requires(gw, "delivery:write")],
    )
    async def reject(order_id: UUID, body: ManualRejection, request: Request) -> Any:
        task = RejectTask(operator=operator(request), **body.model_dump())
        return await call("POST", f"/internal/manual-tasks/{order_id}/reject", body=task)

    @api.get(
        "/delivery/orders/{order_id}",
        summary="An order's delivery record with its attempts",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def get_delivery(order_id: UUID) -> Any:
        return await call("GET", f"/internal/deliveries/{order_id}")

    @api.get("/suppliers", summary="Every supplier", dependencies=[requires(gw, "delivery:read")])
    async def list_suppliers() -> Any:
        return await call("GET", "/internal/suppliers")

    @api.post(
        "/suppliers",
        status_code=201,
        summary="Register a supplier",
        dependencies=[requires(gw, "suppliers:credentials")],
    )
    async def add_supplier(body: NewSupplier) -> Any:
        return await call("POST", "/internal/suppliers", body=body)

    @api.get(
        "/suppliers/scores",
        summary="Success rate, latency, claims and breaker state per supplier",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def scores() -> Any:
        return await call("GET", "/internal/suppliers/scores")

    @api.patch(
        "/suppliers/{supplier_id}",
        summary="Switch a supplier on or off: {active}",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def set_active(supplier_id: UUID, body: SupplierActive) -> Any:
        return await call("PATCH", f"/internal/suppliers/{supplier_id}", body=body)

    @api.get(
        "/suppliers/{supplier_id}/balance",
        summary="Our balance at the supplier",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def balance(supplier_id: UUID) -> Any:
        return await call("GET", f"/internal/suppliers/{supplier_id}/balance")

    @api.get(
        "/suppliers/{supplier_id}/products",
        summary="The supplier's product list",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def products(supplier_id: UUID) -> Any:
        return await call("GET", f"/internal/suppliers/{supplier_id}/products")

    @api.get(
        "/suppliers/{supplier_id}/claims",
        summary="Losses recorded against the supplier",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def list_claims(supplier_id: UUID) -> Any:
        return await call("GET", f"/internal/suppliers/{supplier_id}/claims")

    @api.post(
        "/suppliers/{supplier_id}/claims",
        status_code=201,
        summary="Record a loss the supplier caused",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def add_claim(supplier_id: UUID, body: NewClaim) -> Any:
        return await call("POST", f"/internal/suppliers/{supplier_id}/claims", body=body)

    @api.get(
        "/suppliers/{supplier_id}/account",
        summary="What the supplier owes and is owed: pause, balance per currency, claims and replacements "
        "per import batch, latest ledger entries, and its import batches' invalid-key rates",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def supplier_account(supplier_id: UUID) -> Any:
        found = await call("GET", f"/internal/suppliers/{supplier_id}/account")  # 404: not the shop's
        keys = await gw.inventory.request("GET", f"/internal/suppliers/{supplier_id}/batches")
        return {**found, "keys": keys.json()}

    @api.post(
        "/suppliers/{supplier_id}/deposits",
        status_code=201,
        summary="Record money the shop holds for the supplier (claims are deducted from it)",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def add_deposit(supplier_id: UUID, body: NewDeposit, request: Request) -> Any:
        deposit = SupplierDeposit(recorded_by=operator(request), **body.model_dump())
        return await call("POST", f"/internal/suppliers/{supplier_id}/deposits", body=deposit)

    @api.post(
        "/suppliers/{supplier_id}/resume",
        summary="Route to a supplier paused by its claim rate again (its standing is judged afresh)",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def resume_supplier(supplier_id: UUID, request: Request) -> Any:
        body = SupplierResume(resumed_by=operator(request))
        return await call("POST", f"/internal/suppliers/{supplier_id}/resume", body=body)

    @api.get(
        "/supplier-policy",
        summary="When the shop's suppliers are demoted (tried last) and paused (not tried)",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def supplier_policy() -> Any:
        return await call("GET", "/internal/supplier-policy")

    @api.put(
        "/supplier-policy",
        summary="Set the claim rates over a window at which the shop's suppliers are demoted and paused",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def put_supplier_policy(body: SupplierPolicy) -> Any:
        return await call("PUT", "/internal/supplier-policy", body=body)

    @api.get(
        "/products/{product_id}/supplier-routes",
        summary="A product's supplier routes in routing order",
        dependencies=[requires(gw, "delivery:read")],
    )
    async def routes(product_id: UUID) -> Any:
        return await call("GET", f"/internal/products/{product_id}/routes")

    @api.put(
        "/products/{product_id}/supplier-routes/{supplier_id}",
        summary="Route a product to a supplier: {supplier_sku, priority, cost, currency}",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def put_route(product_id: UUID, supplier_id: UUID, body: NewRoute) -> Any:
        return await call("PUT", f"/internal/products/{product_id}/routes/{supplier_id}", body=body)

    @api.delete(
        "/products/{product_id}/supplier-routes/{supplier_id}",
        status_code=204,
        summary="Unroute",
        dependencies=[requires(gw, "suppliers:write")],
    )
    async def delete_route(product_id: UUID, supplier_id: UUID) -> None:
        await call("DELETE", f"/internal/products/{product_id}/routes/{supplier_id}")

    return api
