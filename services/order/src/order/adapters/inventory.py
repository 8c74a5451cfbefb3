"""The product catalog, read from the inventory service's internal API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from faka_common.errors import DomainError, NotFound, Unavailable
from faka_common.http import InternalClient
from pydantic import BaseModel, ConfigDict, ValidationError


@dataclass(frozen=True)
class Product:
    product_id: UUID
    title: str
    price: int
    currency: str
    active: bool
    delivery_type: str = "card_key"
    category_id: UUID | None = None
    max_per_order: int | None = None
    max_per_buyer: int | None = None
    face_value: int | None = None
    paused: bool = False
    """Taken off sale by its after-sales rate (inventory) until an operator resumes it."""


class Catalog(Protocol):
    async def product(self, product_id: UUID, shop_id: UUID) -> Product:
        """The shop's product; NotFound for an unknown one and for another shop's."""
        ...


class _ProductView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    product_id: UUID
    title: str
    price: int
    currency: str
    active: bool
    # Optional in the inventory's view: absent means "no such rule" (and card keys).
    delivery_type: str = "card_key"
    category_id: UUID | None = None
    max_per_order: int | None = None
    max_per_buyer: int | None = None
    face_value: int | None = None
    paused: bool = False


#: The selling terms are all an order needs: inventory leaves out the stock counts (a query less a sale).
_TERMS_ONLY = {"stock": "false"}


class InventoryCatalog:
    """`GET /internal/products/{id}?stock=false` as the shop (X-Shop-Id): an unknown product, and another
    shop's, comes back as a 404 NotFound."""

    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def product(self, product_id: UUID, shop_id: UUID) -> Product:
        try:
            response = await self._client.request(
                "GET", f"/internal/products/{product_id}", params=_TERMS_ONLY, shop=shop_id
            )
        except DomainError as error:
            if error.status_code == 404:
                raise NotFound(f"unknown product {product_id}") from error
            raise
        try:
            view = _ProductView.model_validate_json(response.content)
        except ValidationError as error:
            raise Unavailable("inventory answered an unexpected product shape") from error
        return Product(
            view.product_id,
            view.title,
            view.price,
            view.currency,
            view.active,
            view.delivery_type,
            view.category_id,
            view.max_per_order,
            view.max_per_buyer,
            view.face_value,
            view.paused,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
