"""The order's plaintext keys, read from inventory's internal API at send time (never stored here)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from faka_common.key_reveals import KeyReveals
from pydantic import BaseModel

from notification.adapters.answers import parse_object
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
    """Inventory's reveal of the shop's order (each reveal is audit-logged there, with this service as the
    reader: the caller its credential names); the reveals of a batch's e-mails go in one request."""

    def __init__(self, reveals: KeyReveals) -> None:
        self._reveals = reveals

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        revealed = await self._reveals.order_keys(shop_id, order_id)
        body = parse_object(_OrderKeysBody, revealed, "inventory answered an unexpected keys body")
        return OrderKeys(
            order_id=order_id,
            keys=[key.content for key in body.keys],
            usage_instructions=body.usage_instructions or "",
            key_ids=[key.key_id for key in body.keys],
        )
