"""The payment adapter interface and the values that cross it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

import httpx
from faka_common.errors import Conflict, Unavailable

from order.domain.payments import BadNotification, VerifiedPayment

ProviderState = Literal["paid", "pending", "closed", "not_found"]

__all__ = [
    "Ack",
    "BadNotification",
    "PaidTrade",
    "PaymentAdapter",
    "PaymentOrder",
    "PaymentRequest",
    "ProviderError",
    "ProviderStatus",
    "RawNotification",
    "RefundRefused",
    "RefundResult",
    "RefundUnsupported",
    "VerifiedPayment",
    "constant_time_equal",
]


class ProviderError(Unavailable):
    """The provider could not be reached or answered something we cannot trust (503; try again)."""

    code = "provider_unavailable"


class RefundRefused(Conflict):
    """The provider said no to a refund (409), with its reason."""

    code = "refund_refused"


class RefundUnsupported(Conflict):
    """The provider's protocol has no refund; the operator refunds by hand (409)."""

    code = "refund_unsupported"


@dataclass(frozen=True)
class RawNotification:
    """What the provider sent, untouched: body, content type and headers (names lower-case)."""

    body: bytes
    content_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class PaymentOrder:
    """The facts of an order a provider needs to charge or look it up."""

    order_id: UUID
    order_no: str
    amount: int
    currency: str
    title: str
    expires_at: datetime | None = None
    provider_ref: str | None = None
    access_token: str = ""


@dataclass(frozen=True)
class PaymentRequest:
    """Where the buyer pays: a URL to open, or a payload to render as a QR code; `provider_ref` is the
    provider's id for the payment attempt (kept for query)."""

    provider: str
    pay_url: str | None = None
    qr_payload: str | None = None
    provider_ref: str | None = None


@dataclass(frozen=True)
class ProviderStatus:
    """What the provider says about an order's payment when asked."""

    state: ProviderState
    trade_no: str | None = None
    amount: int | None = None
    currency: str | None = None
    #: Who paid, `<provider>:<account>`, when the answer names the payer (as a notification's
    #: `VerifiedPayment.payer_account`).
    payer_account: str | None = None


@dataclass(frozen=True)
class PaidTrade:
    """A payment we recorded, to be refunded."""

    order_no: str
    trade_no: str
    amount: int
    currency: str


RefundStatus = Literal["succeeded", "pending"]


@dataclass(frozen=True)
class RefundResult:
    refund_no: str
    amount: int
    status: RefundStatus
    provider_refund_id: str | None = None


@dataclass(frozen=True)
class Ack:
    """The answer a provider expects for an accepted notification."""

    body: bytes
    media_type: str
    status_code: int = 200


class PaymentAdapter(Protocol):
    name: str

    async def create(self, order: PaymentOrder) -> PaymentRequest: ...

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment: ...

    async def query(self, order: PaymentOrder) -> ProviderStatus: ...

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult: ...

    def ack(self, result: str) -> Ack: ...


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def call(
    client: httpx.AsyncClient, provider: str, method: str, url: str, **kwargs: object
) -> httpx.Response:
    """One HTTP call to a provider; transport errors and 5xx become ProviderError."""
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as error:
        raise ProviderError(f"{provider} unreachable: {type(error).__name__}") from error
    if response.status_code >= 500:
        raise ProviderError(f"{provider} answered {response.status_code}")
    return response


def json_object(response: httpx.Response, provider: str) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError as error:
        raise ProviderError(f"{provider} answered a body that is not JSON") from error
    if not isinstance(body, dict):
        raise ProviderError(f"{provider} answered JSON that is not an object")
    return body
