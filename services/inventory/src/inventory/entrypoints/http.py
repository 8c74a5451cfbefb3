"""Inventory internal HTTP API (docs/internal-api.md, inventory section)."""

from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.errors import DomainError
from faka_common.http import internal_auth
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from inventory.bootstrap import Service
from inventory.domain.model import Product, Stock
from inventory.service_layer import handlers

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class NewProductBody(BaseModel):
    title: Title
    description: LongText = ""
    price: int = Field(ge=0, le=10**15, description="Unit price in minor units (cents / 分)")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    delivery_type: Literal["card_key", "loop_key"]
    loop_key: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, description="The one key every buyer gets; required for loop_key products"
    )
    usage_instructions: LongText = ""


def product_view(product: Product, stock: Stock) -> dict[str, Any]:
    return {
        "product_id": str(product.id),
        "title": product.title,
        "description": product.description,
        "price": product.price,
        "currency": product.currency,
        "delivery_type": product.delivery_type,
        "usage_instructions": product.usage_instructions,
        "active": product.active,
        "stock": {"available": stock.available, "reserved": stock.reserved, "sold": stock.sold},
    }


async def _read_text(request: Request, limit: int) -> str:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"key import larger than {limit} bytes; split it into several uploads")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DomainError(f"key import must be UTF-8 text (bad byte at offset {error.start})") from error


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(service.token)])

    @api.post("/products", status_code=201, summary="Create a product")
    async def create_product(body: NewProductBody) -> dict[str, Any]:
        new = handlers.NewProduct(
            title=body.title,
            description=body.description,
            price=body.price,
            currency=body.currency,
            delivery_type=body.delivery_type,
            loop_key=body.loop_key,
            usage_instructions=body.usage_instructions,
        )
        async with service.uow() as uow:
            product, stock = await handlers.create_product(new, uow, service.keyring)
        return product_view(product, stock)

    @api.get("/products", summary="Every product with its stock counts")
    async def list_products() -> dict[str, Any]:
        async with service.uow() as uow:
            items = await handlers.list_products(uow)
        return {"items": [product_view(p, s) for p, s in items]}

    @api.get("/products/{product_id}", summary="One product with its stock counts")
    async def get_product(product_id: UUID) -> dict[str, Any]:
        async with service.uow() as uow:
            product, stock = await handlers.get_product(product_id, uow)
        return product_view(product, stock)

    @api.post(
        "/products/{product_id}/keys",
        summary="Import card keys: text/plain, one key per line",
        openapi_extra={
            "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
        },
    )
    async def import_keys(product_id: UUID, request: Request) -> dict[str, Any]:
        text = await _read_text(request, service.max_import_bytes)
        async with service.uow() as uow:
            result = await handlers.import_keys(product_id, text, uow, service.keyring)
        return {
            "batch_id": str(result.batch_id),
            "imported": result.imported,
            "duplicates": result.duplicates,
            "invalid": result.invalid,
        }

    @api.get("/orders/{order_id}/keys", summary="Reveal the keys a paid order owns (audit-logged)")
    async def reveal_keys(
        order_id: UUID,
        reader: Annotated[str, Query(min_length=1, max_length=200, description="Who reads the keys")],
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            revealed = await handlers.reveal_keys(order_id, reader, uow, service.keyring)
        return {
            "order_id": str(revealed.order_id),
            "product_id": str(revealed.product_id),
            "keys": [{"key_id": str(k.key_id), "content": k.content} for k in revealed.keys],
            "usage_instructions": revealed.usage_instructions,
        }

    return api
