"""What an operator or supplier delivered (manual / recharge orders), read from delivery's internal API at
send time (never stored here)."""

from __future__ import annotations

from uuid import UUID

from faka_common.http import InternalClient
from pydantic import BaseModel, ValidationError

from notification.domain.model import NotificationError, OrderKeys


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
        try:
            body = _ContentBody.model_validate_json(response.content)
        except ValidationError as error:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
            raise NotificationError(
                f"delivery answered an unexpected content body (fields: {fields})"
            ) from None
        return OrderKeys(order_id=order_id, keys=[body.content], usage_instructions="")

    async def aclose(self) -> None:
        await self._client.aclose()
