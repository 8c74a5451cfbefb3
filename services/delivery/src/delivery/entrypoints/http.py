"""Delivery internal HTTP API: delivery records and content, the manual queue, suppliers and their routes."""

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
from faka_common.db.resealing import SealedColumns, SealedTable, resealing_router
from faka_common.errors import NotFound
from faka_common.http import InternalCaller, ShopScope, combined, internal_router
from faka_common.service_auth import KEY_READERS
from fastapi import APIRouter, Query

from delivery.adapters import tables
from delivery.adapters.deliveries import Attempt
from delivery.adapters.suppliers.factory import secret_context
from delivery.bootstrap import Service
from delivery.domain.manual import ManualTask
from delivery.domain.model import Delivery
from delivery.domain.suppliers import Claim, Route, Supplier
from delivery.entrypoints.figures import delivery_figures_router
from delivery.entrypoints.supplier_accounts import supplier_accounts_router
from delivery.entrypoints.ticket_attachments import ticket_attachments_router
from delivery.entrypoints.tickets import tickets_router
from delivery.service_layer import handlers
from delivery.service_layer import suppliers as supplier_ops

TaskStatus = Literal["open", "claimed", "delivered", "rejected", "resolved"]


#: What a key rotation re-seals (faka_common.db.resealing): suppliers' secrets and delivered contents.
SEALED = [
    SealedTable(
        tables.suppliers,
        key=[tables.suppliers.c.id],
        values=[
            SealedColumns(
                tables.suppliers.c.secret_key_id,
                tables.suppliers.c.secret_blob,
                lambda r: secret_context(r.name),
            )
        ],
    ),
    SealedTable(
        tables.delivery_contents,
        key=[tables.delivery_contents.c.order_id],
        values=[
            SealedColumns(
                tables.delivery_contents.c.key_id,
                tables.delivery_contents.c.blob,
                lambda r: handlers.content_context(r.order_id),
            )
        ],
    ),
]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_view(delivery: Delivery, attempts: list[Attempt] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "delivery_id": str(delivery.id),
        "order_id": str(delivery.order_id),
        "product_id": str(delivery.product_id) if delivery.product_id else None,
        "mode": delivery.mode,
        "item_count": delivery.item_count,
        "status": delivery.status,
        "reason": delivery.reason,
        "attempts": delivery.attempts,
        "created_at": _iso(delivery.created_at),
        "paid_at": _iso(delivery.paid_at),
        "requested_at": _iso(delivery.requested_at),
        "completed_at": _iso(delivery.completed_at),
        "latency_ms": delivery.latency_ms,
    }
    if attempts is not None:
        view["attempt_log"] = [attempt_view(a) for a in attempts]
    return view


def attempt_view(a: Attempt) -> dict[str, Any]:
    return {
        "attempt_id": str(a.id),
        "channel": a.channel,
        "phase": a.phase,
        "supplier_id": str(a.supplier_id) if a.supplier_id else None,
        "cost": a.cost,
        "started_at": _iso(a.started_at),
        "finished_at": _iso(a.finished_at),
        "latency_ms": a.latency_ms,
        "outcome": a.outcome,
        "error_class": a.error_class,
        "error": a.error,
        "supplier_order_no": a.supplier_order_no,
    }


def task_view(task: ManualTask, delivery: Delivery | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": str(task.id),
        "order_id": str(task.order_id),
        "delivery_id": str(task.delivery_id),
        "reason": task.reason,
        "detail": task.detail,
        "status": task.status,
        "created_at": _iso(task.created_at),
        "claimed_by": task.claimed_by,
        "claimed_at": _iso(task.claimed_at),
        "resolved_by": task.resolved_by,
        "resolved_at": _iso(task.resolved_at),
        "reject_reason": task.reject_reason,
    }
    if delivery is not None:
        view.update(
            mode=delivery.mode,
            product_id=str(delivery.product_id) if delivery.product_id else None,
            paid_at=_iso(delivery.paid_at),
            request=delivery.request,
        )
    return view


def supplier_view(s: Supplier) -> dict[str, Any]:
    return {
        "supplier_id": str(s.id),
        "name": s.name,
        "kind": s.kind,
        "base_url": s.base_url,
        "config": s.config,
        "timeout_seconds": s.timeout_seconds,
        "active": s.active,
        "paused": s.paused_at is not None,
        "paused_reason": s.paused_reason,
    }


def route_view(r: Route) -> dict[str, Any]:
    return {
        "route_id": str(r.id),
        "product_id": str(r.product_id),
        "supplier_id": str(r.supplier_id),
        "supplier_name": r.supplier_name,
        "supplier_sku": r.supplier_sku,
        "priority": r.priority,
        "cost": r.cost,
        "currency": r.currency,
    }


def claim_view(c: Claim) -> dict[str, Any]:
    return {
        "claim_id": str(c.id),
        "supplier_id": str(c.supplier_id),
        "order_id": str(c.order_id),
        "amount": c.amount,
        "currency": c.currency,
        "reason": c.reason,
        "recorded_by": c.recorded_by,
    }


def router(service: Service) -> APIRouter:
    """The internal API: deliveries, manual tasks and suppliers for the gateway's admin API; the reveal of
    delivered content for the key readers only. Every route acts for the shop the request names (X-Shop-Id):
    another shop's orders and suppliers are not found."""
    api = internal_router(service.settings, callers={"gateway"})
    reveals = internal_router(service.settings, callers=KEY_READERS)

    @api.get("/deliveries/{order_id}", summary="The delivery record of an order, with its attempts")
    async def get_delivery(order_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            delivery = await uow.deliveries.get(shop, order_id)
            attempts = await uow.attempts.for_order(shop, order_id)
        if delivery is None:
            raise NotFound(f"no delivery for order {order_id}")
        return delivery_view(delivery, attempts)

    @reveals.get(
        "/deliveries/{order_id}/content",
        summary="Reveal content delivered by an operator or supplier (audited with the calling service as "
        "the reader)",
    )
    async def reveal_content(order_id: UUID, reader: InternalCaller, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            revealed = await handlers.reveal_content(shop, order_id, reader, uow, service.keyring)
        return {
            "order_id": str(revealed.order_id),
            "mode": revealed.mode,
            "source": revealed.source,
            "content": revealed.content,
        }

    @api.get("/manual-tasks", summary="The manual queue (open and claimed tasks unless told otherwise)")
    async def list_tasks(
        shop: ShopScope,
        status: Annotated[list[TaskStatus] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            rows = await handlers.list_tasks(uow, shop, list(status or ["open", "claimed"]), limit)
        return {"items": [task_view(task, delivery) for task, delivery in rows]}

    @api.post("/manual-tasks/{order_id}/claim", summary="Take a task from the manual queue")
    async def claim_task(order_id: UUID, body: ClaimTask, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            task = await handlers.claim_task(shop, order_id, body.operator, uow)
        return task_view(task)

    @api.post("/manual-tasks/{order_id}/deliver", summary="Deliver a claimed task with its content")
    async def deliver_task(order_id: UUID, body: DeliverTask, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            delivery = await handlers.deliver_manually(
                shop, order_id, body.operator, body.content, uow, service.keyring, body.force
            )
        return delivery_view(delivery)

    @api.post(
        "/manual-tasks/{order_id}/reject", summary="Reject a claimed task with a reason (delivery fails)"
    )
    async def reject_task(order_id: UUID, body: RejectTask, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            delivery = await handlers.reject_manually(shop, order_id, body.operator, body.reason, uow)
        return delivery_view(delivery)

    @api.post(
        "/suppliers", status_code=201, summary="Register a supplier (its secret is sealed, never shown)"
    )
    async def add_supplier(body: NewSupplier, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            supplier = await supplier_ops.add_supplier(
                uow,
                shop,
                service.keyring,
                service.outbound,
                body.name,
                body.kind,
                body.base_url,
                body.secret,
                body.config,
                body.timeout_seconds,
            )
        return supplier_view(supplier)

    @api.get("/suppliers", summary="The shop's suppliers")
    async def list_suppliers(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            return {"items": [supplier_view(s) for s in await uow.suppliers.all(shop)]}

    @api.get("/suppliers/scores", summary="Success rate, latency and claims per supplier over the window")
    async def supplier_scores(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            rows = await supplier_ops.scores(uow, shop, service.breakers, service.score_window)
        return {
            "window_minutes": service.settings.score_window_minutes,
            "items": [
                {
                    "supplier_id": str(r.supplier.id),
                    "name": r.supplier.name,
                    "active": r.supplier.active,
                    "paused": r.supplier.paused_at is not None,
                    "breaker": r.breaker,
                    "attempts": r.score.attempts,
                    "succeeded": r.score.succeeded,
                    "success_rate": round(r.score.success_rate, 4),
                    "mean_latency_ms": round(r.score.mean_latency_ms, 1) if r.score.mean_latency_ms else None,
                    "claims": r.score.claims,
                    "claim_rate": round(r.score.claim_rate, 4),
                }
                for r in rows
            ],
        }

    @api.patch("/suppliers/{supplier_id}", summary="Switch a supplier on or off")
    async def set_active(supplier_id: UUID, body: SupplierActive, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            await supplier_ops.set_supplier_active(uow, shop, supplier_id, body.active)
        return {"supplier_id": str(supplier_id), "active": body.active}

    @api.get("/suppliers/{supplier_id}/balance", summary="Our balance at the supplier (asks it)")
    async def supplier_balance(supplier_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            balance = await supplier_ops.balance(uow, service.adapters, shop, supplier_id)
        return {"supplier_id": str(supplier_id), "balance": balance.amount, "currency": balance.currency}

    @api.get("/suppliers/{supplier_id}/products", summary="The supplier's product list (asks it)")
    async def supplier_products(supplier_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            items = await supplier_ops.products(uow, service.adapters, shop, supplier_id)
        return {
            "items": [
                {
                    "sku": p.sku,
                    "title": p.title,
                    "price": p.price,
                    "currency": p.currency,
                    "available": p.available,
                }
                for p in items
            ]
        }

    @api.post("/suppliers/{supplier_id}/claims", status_code=201, summary="Record a loss the supplier caused")
    async def add_claim(supplier_id: UUID, body: NewClaim, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            claim = await supplier_ops.record_claim(
                uow,
                shop,
                supplier_id,
                body.order_id,
                body.amount,
                body.currency,
                body.reason,
                body.recorded_by,
            )
        return claim_view(claim)

    @api.get("/suppliers/{supplier_id}/claims", summary="Losses recorded against the supplier")
    async def list_claims(supplier_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            if await uow.suppliers.get(shop, supplier_id) is None:
                raise NotFound(f"no supplier {supplier_id}")
            claims = await uow.suppliers.claims(shop, supplier_id)
        return {"items": [{**claim_view(c), "created_at": _iso(at)} for c, at in claims]}

    @api.get("/products/{product_id}/routes", summary="A product's supplier routes, in routing order")
    async def list_routes(product_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            routes = await supplier_ops.ranked_routes(uow, shop, product_id, service.score_window)
        return {"items": [route_view(r) for r in routes]}

    @api.put("/products/{product_id}/routes/{supplier_id}", summary="Route a product to a supplier")
    async def put_route(
        product_id: UUID, supplier_id: UUID, body: NewRoute, shop: ShopScope
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            route = await supplier_ops.put_route(
                uow, shop, product_id, supplier_id, body.supplier_sku, body.priority, body.cost, body.currency
            )
        return route_view(route)

    @api.delete("/products/{product_id}/routes/{supplier_id}", status_code=204, summary="Stop routing to it")
    async def delete_route(product_id: UUID, supplier_id: UUID, shop: ShopScope) -> None:
        async with service.uow() as uow:
            await supplier_ops.remove_route(uow, shop, product_id, supplier_id)

    return combined(
        api,
        reveals,
        tickets_router(service),
        ticket_attachments_router(service),
        supplier_accounts_router(service),
        delivery_figures_router(service),
        resealing_router(service.settings, service.runtime.sessions, service.keyring, SEALED),
    )
