"""The interface every supplier adapter implements, and the request signature they share."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from delivery.domain.suppliers import RechargeOrder, UpstreamOrder


@dataclass(frozen=True)
class Balance:
    amount: int
    currency: str


@dataclass(frozen=True)
class UpstreamProduct:
    sku: str
    title: str
    price: int | None
    currency: str | None
    available: bool


class SupplierAdapter(Protocol):
    """Raises TransientError / AmbiguousError / PermanentError (delivery.domain.suppliers) on failure."""

    async def submit(self, order: RechargeOrder) -> UpstreamOrder: ...

    async def query(self, order_id: UUID) -> UpstreamOrder: ...

    async def balance(self) -> Balance: ...

    async def products(self) -> list[UpstreamProduct]: ...

    async def aclose(self) -> None: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256, hex, over `timestamp + "." + body` (a GET signs its URL path + query)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, timestamp: str, body: bytes, presented: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), presented)
