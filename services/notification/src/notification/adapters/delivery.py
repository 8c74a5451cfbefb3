"""What an operator or supplier delivered (manual / recharge orders), read from delivery's internal API at
send time (never stored here)."""

from __future__ import annotations

from uuid import UUID

from faka_common.http import InternalClient
from pydantic import BaseModel

from notification.adapters.answers import parse_answer
from notification.domain.model import OrderKeys


class _ContentBody(BaseModel):
    order_id: UUID
    content: str


class DeliveredContent:
    """`GET /internal/deliveries/{order_id}/content` for the order's shop (each reveal audit-logged there,
    this service the reader); answers in the shape of inventory's keys so the delivered notice renders it
    the same way."""

    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        response = await self._client.request("GET", f"/internal/deliveries/{order_id}/content", shop=shop_id)
        body = parse_answer(_ContentBody, response, "delivery answered an unexpected content body")
        return OrderKeys(order_id=order_id, keys=[body.content], usage_instructions="")
