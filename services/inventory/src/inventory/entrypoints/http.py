"""Inventory internal HTTP API (docs/internal-api.md, inventory section)."""

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.db.resealing import resealing_router
from faka_common.errors import DomainError
from faka_common.fields import MAX_MONEY, Line, Money, Text
from faka_common.http import InternalCaller, ShopScope, combined, internal_router
from faka_common.key_reveals import MAX_REVEALS
from faka_common.service_auth import KEY_READERS
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from starlette.datastructures import UploadFile

from inventory.adapters.tables import SEALED
from inventory.bootstrap import Service
from inventory.domain.keys import MAX_KEY_LENGTH, ImportFormat
from inventory.domain.model import Category, PoolKey, Product
from inventory.domain.stock import IssueOrder, Stock
from inventory.entrypoints.quality import quality_router
from inventory.service_layer import catalog as catalog_ops
from inventory.service_layer import key_pools, replacements

Title = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[Text, StringConstraints(max_length=20_000)]
VariantLabel = Annotated[Line, StringConstraints(min_length=1, max_length=60)]
Limit = Annotated[int, Field(ge=1, le=1_000_000)]
WindowHours = Annotated[int, Field(ge=0, le=24 * 365)]
PerOrder = Annotated[int, Field(ge=0, le=1000)]
UPLOAD_FIELD = "file"
KeyStatus = Literal["available", "reserved", "sold", "void", "expired", "withdrawn"]
MAX_POOL_PAGE = 500
#: Hex digits of a key's keyed fingerprint a list shows: enough to tell keys apart, nothing of the key.
FINGERPRINT_SHOWN = 16
READ_CHUNK = 1024 * 1024
MULTIPART_FRAMING = 64 * 1024


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class CatalogFields(BaseModel):
    category_id: UUID | None = None
    max_per_order: Limit | None = Field(default=None, description="Most units one order may buy")
    max_per_buyer: Limit | None = Field(default=None, description="Most units one buyer may buy in all")
    active: bool = True
    visible: bool = Field(
        default=True, description="Listed in the storefront (hidden products stay buyable by link)"
    )
    sort_order: int = Field(default=0, ge=-(10**6), le=10**6)
    issue_order: IssueOrder = Field(
        default=IssueOrder.FIFO, description="fifo (earliest expiry, oldest batch) or random"
    )
    low_stock_threshold: int | None = Field(default=None, ge=0, le=10**9)
    hide_when_sold_out: bool = Field(
        default=False, description="Left out of the storefront while sold out (default: listed as sold out)"
    )
    replacement_window_hours: WindowHours = Field(
        default=24, description="After-sales: a key reported invalid this long after delivery is replaced"
    )
    replacements_per_order: PerOrder = Field(
        default=1, description="After-sales: automatic replacements per order (0: always the shop decides)"
    )
    replacement_evidence_required: bool = Field(
        default=False, description="After-sales: a claim without evidence goes to the shop"
    )


class NewProductBody(CatalogFields):
    title: Title
    description: LongText = ""
    price: Money = Field(description=f"Unit price in minor units (cents / 分), at most {MAX_MONEY}")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    delivery_type: Literal["card_key", "loop_key", "manual", "recharge"] = Field(
        description="card_key / loop_key: keys held here; manual: an operator fulfils; recharge: a supplier"
    )
    face_value: Money | None = Field(
        default=None, gt=0, description="What one unit of a recharge tops up, in minor units"
    )
    loop_key: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, description="The one key every buyer gets; required for loop_key products"
    )
    usage_instructions: LongText = ""
    variant_of: UUID | None = Field(
        default=None, description="SKUs: the main product this one is a variant of (its own price and stock)"
    )
    variant_label: VariantLabel | None = Field(
        default=None, description="The variant's option name, e.g. '100 元'; required with variant_of"
    )


class ProductPatchBody(BaseModel):
    """Only the fields sent are changed; null clears an optional field."""

    title: Title | None = None
    description: LongText | None = None
    price: Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    usage_instructions: LongText | None = None
    category_id: UUID | None = None
    max_per_order: Limit | None = None
    max_per_buyer: Limit | None = None
    active: bool | None = None
    visible: bool | None = None
    sort_order: int | None = Field(default=None, ge=-(10**6), le=10**6)
    issue_order: IssueOrder | None = None
    low_stock_threshold: int | None = Field(default=None, ge=0, le=10**9)
    face_value: Money | None = Field(default=None, gt=0)
    hide_when_sold_out: bool | None = None
    variant_label: VariantLabel | None = None
    replacement_window_hours: WindowHours | None = None
    replacements_per_order: PerOrder | None = None
    replacement_evidence_required: bool | None = None


REQUIRED_WHEN_SENT = ("title", "description", "price", "currency", "usage_instructions", "active", "visible",
                      "sort_order", "issue_order", "hide_when_sold_out", "replacement_window_hours",
                      "replacements_per_order", "replacement_evidence_required")  # fmt: skip


class NewCategoryBody(BaseModel):
    name: Title
    sort_order: int = Field(default=0, ge=-(10**6), le=10**6)
    visible: bool = True


class ReplacementBody(BaseModel):
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH)]


class NamedKey(BaseModel):
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH)] = Field(
        description="A key as the buyer was shown it"
    )


def pool_key_view(key: PoolKey) -> dict[str, Any]:
    return {
        "key_id": str(key.id),
        "fingerprint": key.fingerprint.hex()[:FINGERPRINT_SHOWN],
        "status": key.status,
        "batch_id": str(key.batch_id),
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "voided_at": key.voided_at.isoformat() if key.voided_at else None,
        "order_id": str(key.order_id) if key.order_id else None,
    }


def product_view(product: Product, stock: Stock | None) -> dict[str, Any]:
    """The product as the APIs show it; without `stock` (not counted) its stock is null and in_stock is the
    product's own flag (kept by the stock fold)."""
    return {
        "product_id": str(product.id),
        "title": product.title,
        "description": product.description,
        "price": product.price,
        "currency": product.currency,
        "delivery_type": product.delivery_type,
        "usage_instructions": product.usage_instructions,
        # on sale for the order service: the seller's switch, and not paused by its after-sales rate
        "active": product.active and product.paused_at is None,
        "paused": product.paused_at is not None,
        "paused_at": product.paused_at.isoformat() if product.paused_at else None,
        "paused_reason": product.paused_reason,
        "visible": product.visible,
        "category_id": str(product.category_id) if product.category_id else None,
        "max_per_order": product.max_per_order,
        "max_per_buyer": product.max_per_buyer,
        "sort_order": product.sort_order,
        "issue_order": product.issue_order.value,
        "low_stock_threshold": product.low_stock_threshold,
        "face_value": product.face_value,
        "hide_when_sold_out": product.hide_when_sold_out,
        "variant_of": str(product.variant_of) if product.variant_of else None,
        "variant_label": product.variant_label,
        "replacement_window_hours": product.replacement_window_hours,
        "replacements_per_order": product.replacements_per_order,
        "replacement_evidence_required": product.replacement_evidence_required,
        "in_stock": product.in_stock if stock is None or stock.available is None else stock.available > 0,
        "stock": None
        if stock is None
        else {"available": stock.available, "reserved": stock.reserved, "sold": stock.sold},
    }


def category_view(category: Category) -> dict[str, Any]:
    return {
        "category_id": str(category.id),
        "name": category.name,
        "sort_order": category.sort_order,
        "visible": category.visible,
    }


def import_view(result: key_pools.ImportResult) -> dict[str, Any]:
    return {
        "batch_id": str(result.batch_id),
        "imported": result.imported,
        "duplicates": result.duplicates,
        "invalid": result.invalid,
        "invalid_lines": [{"line": i.line, "reason": i.reason} for i in result.invalid_lines],
        "cost_price": result.cost_price,
        "expires_at": result.expires_at.isoformat() if result.expires_at else None,
        "supplier_id": str(result.supplier_id) if result.supplier_id else None,
    }


def media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def declared_length(request: Request) -> int | None:
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


async def bounded(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The chunks, refusing (413) once more than `limit` bytes came; nothing is kept when that happens."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"key upload larger than {limit} bytes; split it into several uploads")
        yield chunk


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK):
        yield chunk


async def key_upload(request: Request, limit: int) -> tuple[AsyncIterator[bytes], ImportFormat | None]:
    """The upload as a stream of byte chunks, and the format its media type or file name implies."""
    length = declared_length(request)
    kind = media_type(request)
    if kind == "multipart/form-data":
        if length is None:
            raise DomainError("a multipart key upload needs a Content-Length")
        if length > limit + MULTIPART_FRAMING:
            raise PayloadTooLarge(f"key upload larger than {limit} bytes; split it into several uploads")
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get(UPLOAD_FIELD)
        if not isinstance(upload, UploadFile):
            raise DomainError(f"multipart body has no file field named {UPLOAD_FIELD!r}")
        implied = ImportFormat.CSV if (upload.filename or "").lower().endswith(".csv") else None
        if (upload.content_type or "").lower().startswith("text/csv"):
            implied = ImportFormat.CSV
        return bounded(upload_chunks(upload), limit), implied
    if kind not in ("", "text/plain", "text/csv", "application/octet-stream"):
        raise UnsupportedMediaType(
            f"send keys as text/plain, text/csv or a multipart upload with field {UPLOAD_FIELD!r}, not {kind}"
        )
    if length is not None and length > limit:
        raise PayloadTooLarge(f"key upload larger than {limit} bytes; split it into several uploads")
    return bounded(request.stream(), limit), ImportFormat.CSV if kind == "text/csv" else None


KEYS_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One key per line (text/plain), or key[,secret] rows (text/csv); or a multipart "
        "upload with field `file` (.txt or .csv). Streamed; BOM, CRLF and blank lines tolerated; a line "
        "that is not UTF-8 is reported invalid, not fatal.",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {UPLOAD_FIELD: {"type": "string", "format": "binary"}},
                    "required": [UPLOAD_FIELD],
                }
            },
        },
    }
}


class NamedOrder(BaseModel):
    order_id: UUID
    shop_id: UUID = Field(description="The shop the order belongs to: another shop's order is not revealed")


class RevealsBody(BaseModel):
    orders: list[NamedOrder] = Field(min_length=1, max_length=MAX_REVEALS)


def _revealed(revealed: key_pools.Revealed) -> dict[str, Any]:
    return {
        "order_id": str(revealed.order_id),
        "shop_id": str(revealed.shop_id),
        "product_id": str(revealed.product_id),
        "keys": [{"key_id": str(k.key_id), "content": k.content} for k in revealed.keys],
        "usage_instructions": revealed.usage_instructions,
    }


def router(service: Service) -> APIRouter:
    """The internal API: the catalog and key administration for the gateway's admin API, product reads
    for the order service too, key reveals for the key readers only. Every route but the platform's key
    rotation acts for the shop of `X-Shop-Id` (ShopScope): another shop's ids are 404."""
    settings = service.runtime.settings
    api = internal_router(settings, callers={"gateway"})
    catalog = internal_router(settings, callers={"gateway", "order"})
    reveals = internal_router(settings, callers=KEY_READERS)

    @api.post("/categories", status_code=201, summary="Create a category")
    async def create_category(body: NewCategoryBody, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            category = await catalog_ops.create_category(shop, body.name, body.sort_order, body.visible, uow)
        return category_view(category)

    @api.get("/categories", summary="The shop's categories in sort order")
    async def list_categories(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            items = await catalog_ops.list_categories(shop, uow)
        return {"items": [category_view(c) for c in items]}

    @api.post("/products", status_code=201, summary="Create a product")
    async def create_product(body: NewProductBody, shop: ShopScope) -> dict[str, Any]:
        new = catalog_ops.NewProduct(**body.model_dump())
        async with service.uow() as uow:
            product, stock = await catalog_ops.create_product(
                shop, new, uow, service.keyring, service.catalog
            )
        return product_view(product, stock)

    @api.get("/products", summary="The shop's products with their stock counts")
    async def list_products(shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            items = await catalog_ops.list_products(shop, uow)
        return {"items": [product_view(p, s) for p, s in items]}

    @catalog.get("/products/{product_id}", summary="One product with its stock counts")
    async def get_product(
        product_id: UUID,
        shop: ShopScope,
        counted: Annotated[
            bool,
            Query(
                alias="stock",
                description="false: without the stock counts (null), one query less; the order service "
                "pricing an order needs only the selling terms",
            ),
        ] = True,
    ) -> dict[str, Any]:
        async with service.reader() as uow:
            if not counted:
                return product_view(await catalog_ops.find_product(shop, product_id, uow), None)
            product, stock = await catalog_ops.get_product(shop, product_id, uow)
        return product_view(product, stock)

    @api.patch("/products/{product_id}", summary="Edit catalog fields of a product")
    async def update_product(product_id: UUID, body: ProductPatchBody, shop: ShopScope) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)
        cleared = [name for name in REQUIRED_WHEN_SENT if name in changes and changes[name] is None]
        if cleared:
            raise DomainError(f"cannot be null: {', '.join(cleared)}")
        async with service.uow() as uow:
            product, stock = await catalog_ops.update_product(shop, product_id, changes, uow, service.catalog)
        return product_view(product, stock)

    @api.post(
        "/products/{product_id}/keys",
        summary="Import card keys (streamed): text/plain, text/csv or multipart `file`",
        openapi_extra=KEYS_UPLOAD_BODY,
    )
    async def import_keys(
        product_id: UUID,
        request: Request,
        shop: ShopScope,
        format: Annotated[
            ImportFormat | None, Query(description="text or csv; default from the media type")
        ] = None,
        cost_price: Annotated[
            int | None, Query(ge=0, le=MAX_MONEY, description="Cost per key, minor units")
        ] = None,
        expires_at: Annotated[
            AwareDatetime | None, Query(description="Keys of this batch expire then")
        ] = None,
        supplier_id: Annotated[
            UUID | None,
            Query(description="The shop's supplier the keys came from: a replaced key is claimed from it"),
        ] = None,
    ) -> dict[str, Any]:
        chunks, implied = await key_upload(request, service.max_import_bytes)
        options = key_pools.ImportOptions(
            format or implied or ImportFormat.TEXT, cost_price, expires_at, supplier_id
        )
        async with service.uow() as uow:
            result = await key_pools.import_key_stream(
                shop, product_id, chunks, options, uow, service.keyring
            )
        return import_view(result)

    @api.get(
        "/products/{product_id}/keys/unsold",
        summary="Export the unsold keys (plaintext, one per line, in issue order; streamed)",
        response_class=StreamingResponse,
    )
    async def export_keys(product_id: UUID, shop: ShopScope) -> StreamingResponse:
        uow = service.uow()
        await uow.__aenter__()
        lines = key_pools.export_unsold(shop, product_id, uow, service.keyring)
        try:
            first = await anext(lines, "")
        except BaseException:
            await uow.__aexit__(None, None, None)
            raise

        async def body() -> AsyncIterator[bytes]:
            try:
                if first:
                    yield first.encode()
                async for line in lines:
                    yield line.encode()
            finally:
                await uow.__aexit__(None, None, None)

        return StreamingResponse(
            body(), media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"}
        )

    @api.get(
        "/products/{product_id}/keys",
        summary="A page of the product's key pool in id order: ids, states and fingerprints, never the keys",
    )
    async def list_keys(
        product_id: UUID,
        shop: ShopScope,
        status: Annotated[KeyStatus | None, Query(description="Only keys in this state")] = None,
        after: Annotated[UUID | None, Query(description="The last key id of the page before")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_POOL_PAGE)] = 50,
    ) -> dict[str, Any]:
        async with service.reader() as uow:
            keys = await key_pools.list_pool(shop, product_id, status, after, limit, uow)
        return {
            "items": [pool_key_view(key) for key in keys],
            "next_after": str(keys[-1].id) if len(keys) == limit else None,
        }

    @api.post("/products/{product_id}/keys/{key_id}/void", summary="Void one unsold key")
    async def void_key(product_id: UUID, key_id: UUID, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            await key_pools.void_key(shop, product_id, key_id, uow)
        return {"key_id": str(key_id), "status": "void"}

    @api.post("/products/{product_id}/keys/{key_id}/replace", summary="Void one unsold key and add another")
    async def replace_key(
        product_id: UUID, key_id: UUID, body: ReplacementBody, shop: ShopScope
    ) -> dict[str, Any]:
        async with service.uow() as uow:
            new_id = await key_pools.replace_key(shop, product_id, key_id, body.content, uow, service.keyring)
        return {"voided_key_id": str(key_id), "key_id": str(new_id)}

    @api.post(
        "/orders/{order_id}/keys/identify",
        summary="Which key of the order a buyer names (held, or held until replaced); reveals nothing",
    )
    async def identify_key(order_id: UUID, body: NamedKey, shop: ShopScope) -> dict[str, Any]:
        async with service.uow() as uow:
            key_id = await replacements.identify_key(shop, order_id, body.content, uow, service.keyring)
        return {"order_id": str(order_id), "key_id": str(key_id)}

    @reveals.post(
        "/keys/reveals",
        summary="Reveal the keys of several paid orders at once, each for the shop it names (each key "
        "audit-logged with the calling service as the reader)",
        description="An order its named shop does not own with keys allocated is left out of the answer, and "
        "nothing is logged for it. One statement reads and audits them all.",
    )
    async def reveal_keys_of_orders(body: RevealsBody, reader: InternalCaller) -> dict[str, Any]:
        asked = [(named.order_id, named.shop_id) for named in body.orders]
        async with service.reader() as uow:
            revealed = await key_pools.reveal_keys_many(asked, reader, uow, service.keyring)
        return {"orders": [_revealed(one) for one in revealed]}

    @reveals.get(
        "/orders/{order_id}/keys",
        summary="Reveal the keys a paid order of the shop owns (audit-logged with the calling service as "
        "the reader)",
    )
    async def reveal_keys(order_id: UUID, reader: InternalCaller, shop: ShopScope) -> dict[str, Any]:
        # one statement reads and audits (key_pools.reveal_keys): on its own, no BEGIN and COMMIT round trips
        async with service.reader() as uow:
            revealed = await key_pools.reveal_keys(shop, order_id, reader, uow, service.keyring)
        return _revealed(revealed)

    # not shop-owned: the keyring is the platform's, so a rotation re-seals every shop's keys at once
    resealing = resealing_router(settings, service.runtime.sessions, service.keyring, SEALED)
    # the routes every sale calls come first (a placement's product read, the two key reveals): FastAPI tries
    # a request against each route in turn, twice, at 2-3 us a route (FastAPI 0.165)
    return combined(catalog, reveals, api, resealing, quality_router(service))
