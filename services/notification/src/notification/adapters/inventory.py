"""The order's plaintext keys, read from inventory's internal API at send time (never stored here)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from faka_common.http import InternalClient
from pydantic import BaseModel

from notification.adapters.answers import parse_answer
from notification.domain.model import OrderKeys


class KeySource(Protocol):
    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        """The keys allocated to the shop's order; raises (NotFound, Unavailable, ...) when they cannot be
        read."""


class _Key(BaseModel):
    key_id: UUID
    content: str


class _OrderKeysBody(BaseModel):
    order_id: UUID
    keys: list[_Key]
    usage_instructions: str | None = ""


class InventoryKeys:
    """`GET /internal/orders/{order_id}/keys` for the order's shop (each reveal is audit-logged there, with
    this service as the reader: the caller its credential names)."""

    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        response = await self._client.request("GET", f"/internal/orders/{order_id}/keys", shop=shop_id)
        body = parse_answer(_OrderKeysBody, response, "inventory answered an unexpected keys body")
        return OrderKeys(
            order_id=order_id,
            keys=[key.content for key in body.keys],
            usage_instructions=body.usage_instructions or "",
            key_ids=[key.key_id for key in body.keys],
        )
