"""Paid orders' keys from inventory, the reveals a process asks for at one moment in one request.

A run of deliveries wakes several readers at once: the e-mails of a consumer batch (notification) and the
order pages its announcements update (the gateway). Each used to cost a request to inventory and a statement
there; `KeyReveals` hands every reveal asked before the event loop comes round (a DataLoader, no cache) to
inventory's batch route, `POST /internal/keys/reveals`, which reads and audits them all in one statement.

Each order travels with the shop it belongs to, and inventory reveals it only for that shop (an order named
with another shop is answered as one that owns no keys, and nothing is logged for it). A pair asked twice in
one batch is revealed, and audited, once. The request carries the trace of the reveal that opened the
batch."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol
from uuid import UUID

import httpx
from aiodataloader import DataLoader

from faka_common.errors import NotFound, Unavailable

REVEALS_PATH = "/internal/keys/reveals"
#: The most orders one request to the batch route names (the route refuses more).
MAX_REVEALS = 100


#: An order and the shop it is revealed for.
_Asked = tuple[UUID, UUID]


class _Client(Protocol):
    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


class KeyReveals:
    """`order_keys` of any order, coalesced into requests of at most `max_batch` orders."""

    def __init__(self, client: _Client, *, max_batch: int = MAX_REVEALS) -> None:
        self._client = client
        self._max_batch = max_batch
        # its values: an order's reveal, or the exception its future is to raise (as DataLoader takes them)
        self._loader: DataLoader[_Asked, Any] | None = None

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> dict[str, Any]:
        """Inventory's reveal of the shop's order (`order_id`, `shop_id`, `product_id`, `keys` with each
        `key_id` and `content`, `usage_instructions`), audited there with this service as the reader;
        NotFound when the shop's order has no keys to reveal, the request's error when it failed."""
        found: dict[str, Any] = await self._loaded().load((order_id, shop_id))
        return found

    def _loaded(self) -> DataLoader[_Asked, Any]:
        """The loader of the running event loop (a test's loop ends; the next one needs its own)."""
        loop = asyncio.get_running_loop()
        if self._loader is None or self._loader.loop is not loop:
            self._loader = DataLoader(self._reveal, cache=False, max_batch_size=self._max_batch, loop=loop)
        return self._loader

    async def _reveal(self, asked: list[_Asked]) -> list[Any]:
        body = {"orders": [{"order_id": str(order), "shop_id": str(shop)} for order, shop in asked]}
        response = await self._client.request("POST", REVEALS_PATH, json=body)
        # by order and shop: an order asked for its own shop and for another is revealed for its own only
        try:
            revealed = {(item["order_id"], item["shop_id"]): item for item in response.json()["orders"]}
        except (ValueError, TypeError, KeyError) as error:  # not the route's answer (a mismatched release)
            raise Unavailable(
                f"inventory answered an unexpected reveals body ({type(error).__name__})"
            ) from None
        return [
            revealed.get((str(order), str(shop))) or NotFound(f"order {order} owns no keys")
            for order, shop in asked
        ]
