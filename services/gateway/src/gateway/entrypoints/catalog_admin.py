"""Admin API for the catalog and key pools beyond the basics: categories, product edits, streamed key
imports with a per-batch report, export of unsold keys, void/replace of one key, re-encryption.

Authenticated like every admin route (see `access`). Uploads and exports are streamed through to the
inventory service, never held whole in the gateway's memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from faka_common.contracts.quality import ProductQualityPolicy
from faka_common.errors import DomainError, Unavailable
from faka_common.http import SHOP_HEADER
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from gateway.adapters.owners import ShopOwner, served_shop
from gateway.bootstrap import Gateway
from gateway.domain.access import Principal
from gateway.entrypoints.access import admin_api, platform_api, requires
from gateway.entrypoints.schemas import KeyReplacement, NewCategory, ProductChanges
from gateway.service_layer.edge import json_body


class ServiceResealing(BaseModel):
    """One service's re-sealing: how many values it re-sealed and how many did not open, or why it failed."""

    resealed: int = 0
    unreadable: int = Field(
        default=0, description="Values whose key id is not in the keyring or that did not open"
    )
    active_key_id: str | None = None
    error: str | None = Field(default=None, description="Why the service did not answer; run it again")


class Resealing(BaseModel):
    complete: bool = Field(description="Every service re-sealed all it keeps: the old key may go")
    services: dict[str, ServiceResealing]


KeyStatus = Literal["available", "reserved", "sold", "void", "expired", "withdrawn"]
PASSED_QUERY = ("format", "cost_price", "expires_at", "supplier_id")

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "text/plain (one key per line), text/csv (key[,secret]) or multipart with field "
        "`file`; streamed, up to the inventory's MAX_IMPORT_BYTES (64 MiB by default). "
        "Query: format=text|csv, cost_price (minor units), expires_at (ISO 8601 with offset), "
        "supplier_id (the shop's supplier the keys came from: a key replaced as invalid is claimed from it).",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "additionalProperties": False,
                }
            },
        },
    }
}


def _streaming_client(gw: Gateway, timeout: float) -> httpx.AsyncClient:
    """A client for a streamed upload or export, acting for the shop of the request being served."""
    return httpx.AsyncClient(
        base_url=gw.settings.inventory_url,
        headers={**gw.settings.credential().headers(), SHOP_HEADER: str(served_shop.get().shop_id)},
        timeout=timeout,
    )


def catalog_admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin"])

    @api.post(
        "/categories",
        status_code=201,
        summary="Create a category",
        dependencies=[requires(gw, "catalog:write")],
    )
    async def create_category(category: NewCategory) -> Any:
        body = category.model_dump(mode="json")
        return json_body(await gw.inventory.request("POST", "/internal/categories", json=body))

    @api.get("/categories", summary="Every category", dependencies=[requires(gw, "catalog:read")])
    async def list_categories() -> Any:
        return json_body(await gw.inventory.request("GET", "/internal/categories"))

    @api.patch(
        "/products/{product_id}",
        summary="Edit a product's catalog fields",
        dependencies=[requires(gw, "catalog:write")],
    )
    async def update_product(product_id: UUID, changes: ProductChanges) -> Any:
        path = f"/internal/products/{product_id}"
        body = changes.model_dump(mode="json", exclude_unset=True)
        return json_body(await gw.inventory.request("PATCH", path, json=body))

    @api.post(
        "/products/{product_id}/keys",
        summary="Import card keys (streamed; report of imported / duplicate / invalid lines)",
        openapi_extra=UPLOAD_BODY,
        dependencies=[requires(gw, "keys:import")],
    )
    @api.post(
        "/products/{product_id}/key-batches",
        summary="The same import under its batch name",
        openapi_extra=UPLOAD_BODY,
        dependencies=[requires(gw, "keys:import")],
    )
    async def import_batch(product_id: UUID, request: Request) -> Any:
        """The upload goes through to the inventory as it arrives (never held whole here); the inventory
        parses text, CSV or multipart, enforces MAX_IMPORT_BYTES (413) and answers the batch report."""
        headers = {
            name: value
            for name in ("content-type", "content-length")
            if (value := request.headers.get(name)) is not None
        }
        params = {k: v for k, v in request.query_params.items() if k in PASSED_QUERY}
        response = await gw.inventory.request(
            "POST",
            f"/internal/products/{product_id}/keys",
            content=request.stream(),
            headers=headers,
            params=params,
            timeout=gw.settings.key_import_timeout_seconds,
        )
        return json_body(response)

    @api.get(
        "/products/{product_id}/keys/unsold",
        summary="Export unsold keys (text, streamed)",
        response_class=Response,  # documented below: text, while refusals stay JSON
        responses={
            200: {
                "description": "One unsold key per line",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
        dependencies=[requires(gw, "keys:export")],
    )
    async def export_keys(product_id: UUID) -> StreamingResponse:
        client = _streaming_client(gw, gw.settings.key_import_timeout_seconds)
        try:
            response = await client.send(
                client.build_request("GET", f"/internal/products/{product_id}/keys/unsold"), stream=True
            )
        except httpx.HTTPError as error:
            await client.aclose()
            raise Unavailable(f"inventory unreachable: {type(error).__name__}") from error
        if response.status_code != 200:
            body = await response.aread()
            await response.aclose()
            await client.aclose()
            refusal = DomainError(_message(body) or f"inventory answered {response.status_code}")
            refusal.status_code = response.status_code if response.status_code < 500 else 503
            raise refusal

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            finally:
                await response.aclose()
                await client.aclose()

        return StreamingResponse(
            lines(),
            media_type="text/plain; charset=utf-8",
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": f'attachment; filename="{product_id}.txt"',
            },
        )

    @api.get(
        "/products/{product_id}/keys",
        summary="A page of the product's key pool in id order: each key's id, state, batch, dates, order and "
        "a fingerprint prefix, never its text (the text only through the export, after a step-up). "
        "Query: status (available, reserved, sold, void, expired, withdrawn: held back while its supplier is "
        "paused), after (the last key id of the page before: `next_after`), limit (1-500, default 50)",
        dependencies=[requires(gw, "keys:import")],
    )
    async def list_keys(
        product_id: UUID,
        status: Annotated[KeyStatus | None, Query()] = None,
        after: Annotated[UUID | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Any:
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        if after is not None:
            params["after"] = str(after)
        path = f"/internal/products/{product_id}/keys"
        return json_body(await gw.inventory.request("GET", path, params=params))

    @api.post(
        "/products/{product_id}/keys/{key_id}/void",
        summary="Void one unsold key (a person steps up first)",
        dependencies=[requires(gw, "keys:manage")],
    )
    async def void_key(product_id: UUID, key_id: UUID) -> Any:
        path = f"/internal/products/{product_id}/keys/{key_id}/void"
        return json_body(await gw.inventory.request("POST", path))

    @api.post(
        "/products/{product_id}/keys/{key_id}/replace",
        summary="Replace one unsold key (a person steps up first)",
        dependencies=[requires(gw, "keys:manage")],
    )
    async def replace_key(product_id: UUID, key_id: UUID, replacement: KeyReplacement) -> Any:
        path = f"/internal/products/{product_id}/keys/{key_id}/replace"
        return json_body(await gw.inventory.request("POST", path, json=replacement.model_dump()))

    @api.get(
        "/products/{product_id}/quality",
        summary="A product's after-sales rate over the shop's window, its pause, and its 7-day delivery "
        "success rate and typical delivery time",
        dependencies=[requires(gw, "catalog:read")],
    )
    async def product_quality(product_id: UUID) -> Any:
        return json_body(await gw.inventory.request("GET", f"/internal/products/{product_id}/quality"))

    @api.post(
        "/products/{product_id}/resume",
        summary="Put a product paused by its after-sales rate back on sale (judged afresh from the next "
        "hour)",
        dependencies=[requires(gw, "catalog:write")],
    )
    async def resume_product(product_id: UUID, request: Request) -> Any:
        principal: Principal = request.state.principal
        body = {"resumed_by": principal.label[:100]}
        return json_body(
            await gw.inventory.request("POST", f"/internal/products/{product_id}/resume", json=body)
        )

    @api.get(
        "/product-quality-policy",
        summary="When the shop's products pause themselves",
        dependencies=[requires(gw, "catalog:read")],
    )
    async def quality_policy() -> Any:
        return json_body(await gw.inventory.request("GET", "/internal/product-quality-policy"))

    @api.put(
        "/product-quality-policy",
        summary="Set the after-sales rate over a window (with a minimum of deliveries) that pauses a product",
        dependencies=[requires(gw, "catalog:write")],
    )
    async def put_quality_policy(body: ProductQualityPolicy) -> Any:
        sent = body.model_dump(mode="json")
        return json_body(await gw.inventory.request("PUT", "/internal/product-quality-policy", json=sent))

    platform = platform_api(gw, prefix="/api/platform")

    @platform.post(
        "/keys/reencrypt",
        summary="After a new key joined KEY_ENCRYPTION_KEYS and became active: re-seal what every service "
        "keeps sealed (card keys, payment channel credentials, supplier secrets and delivered contents, "
        "shops' SMTP, webhook and SMS secrets, TOTP secrets) with it. Each service reports "
        "how many values it re-sealed and how many did not open; once every one is `complete` with "
        "nothing unreadable, the old key can leave the keyring. Safe beside live traffic and to run again",
        response_model=Resealing,
        dependencies=[requires(gw, "platform:write")],
    )
    async def reencrypt() -> Resealing:
        services: dict[str, ServiceResealing] = {}
        sealing = (
            ("inventory", gw.inventory),
            ("order", gw.order),
            ("delivery", gw.delivery),
            ("notification", gw.notification),
            ("merchant", ShopOwner(gw.merchant)),
        )
        for name, owner in sealing:
            try:
                response = await owner.request(
                    "POST", "/internal/keys/reencrypt", platform=True,
                    timeout=gw.settings.key_import_timeout_seconds,
                )  # fmt: skip
            except DomainError as error:
                services[name] = ServiceResealing(error=error.message)
                continue
            services[name] = ServiceResealing.model_validate(json_body(response))
        complete = all(s.error is None and s.unreadable == 0 for s in services.values())
        return Resealing(complete=complete, services=services)

    router = APIRouter()
    router.include_router(api)
    router.include_router(platform)
    return router


def _message(body: bytes) -> str | None:
    try:
        payload = httpx.Response(200, content=body).json()
    except ValueError:
        return None
    return str(payload.get("message")) if isinstance(payload, dict) else None
