"""A configurable HTTP-JSON supplier: signed requests, configurable paths, field names and status mapping.
The "platform" preset talks to another instance of this platform through its agent API."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from faka_common.fields import Line
from faka_common.outbound import UnsafeURL
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from delivery.adapters.suppliers.base import Balance, UpstreamProduct, sign
from delivery.domain.suppliers import (
    AmbiguousError,
    PermanentError,
    RechargeOrder,
    TransientError,
    UpstreamOrder,
    UpstreamState,
)

Phase = Literal["submit", "read"]
#: One configured name, path or code: printable, one line (it lands in request paths, JSON and the database).
Setting = Annotated[Line, StringConstraints(max_length=200)]

# Fixed, not configurable: an operator-chosen header (Metadata-Flavor, X-aws-ec2-metadata-token) is
# half of what reading a cloud metadata service takes.
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"
MERCHANT_HEADER = "X-Merchant-Id"
AGENT_HEADER = "X-Agent-Id"

DEFAULT_STATUS_MAP: dict[str, UpstreamState] = {
    "success": "succeeded",
    "succeeded": "succeeded",
    "delivered": "succeeded",
    "processing": "processing",
    "pending": "processing",
    "accepted": "processing",
    "failed": "failed",
    "not_found": "not_found",
}


class HttpJsonConfig(BaseModel):
    """How to speak to one supplier. Every field has a default, so `{}` is a valid configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submit_path: Setting = "/orders"
    query_method: Literal["GET", "POST"] = "POST"
    query_path: Setting = Field(default="/orders/query", description="May contain {order_id}")
    balance_path: Setting = "/balance"
    products_path: Setting = "/products"
    merchant_id: Setting = ""
    merchant_field: Setting = "merchant_id"
    order_id_field: Setting = "order_id"
    sku_field: Setting = "product_id"
    account_field: Setting = "account"
    amount_field: Setting = "amount"
    quantity_field: Setting = "quantity"
    status_field: Setting = "status"
    status_map: dict[Setting, UpstreamState] = Field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    error_code_field: Setting = "error"
    message_field: Setting = "message"
    permanent_codes: list[Setting] = Field(
        default_factory=lambda: [
            "invalid_account",
            "out_of_stock",
            "product_unavailable",
            "insufficient_balance",
        ]
    )
    not_found_codes: list[Setting] = Field(default_factory=lambda: ["not_found"])
    supplier_order_no_field: Setting = "supplier_order_no"
    content_field: Setting = "content"
    balance_field: Setting = "balance"
    currency_field: Setting = "currency"
    products_field: Setting = "items"
    product_sku_field: Setting = "product_id"
    product_title_field: Setting = "title"
    product_price_field: Setting = "price"
    product_available_field: Setting = "in_stock"

    @field_validator("submit_path", "query_path", "balance_path", "products_path")
    @classmethod
    def _a_path_under_the_base_url(cls, value: str) -> str:
        # "//host/x" or "http://host/x" would send the request to another host than the checked base URL.
        if not value.startswith("/") or value.startswith("//"):
            raise ValueError("must be a path under the supplier's base URL, starting with a single /")
        return value


PLATFORM_PRESET: dict[str, Any] = {
    "submit_path": "/api/agent/v1/recharges",
    "query_method": "GET",
    "query_path": "/api/agent/v1/recharges/{order_id}",
    "balance_path": "/api/agent/v1/balance",
    "products_path": "/api/agent/v1/products",
    "merchant_field": "agent_id",
    "order_id_field": "out_trade_no",
    "supplier_order_no_field": "order_no",
    "status_map": {"delivered": "succeeded", "processing": "processing", "failed": "failed"},
}


def platform_config(overrides: dict[str, Any]) -> HttpJsonConfig:
    return HttpJsonConfig.model_validate({**PLATFORM_PRESET, **overrides})


class HttpJsonSupplier:
    """Every request carries the merchant id, a timestamp and HMAC-SHA256(secret, timestamp + "." + body).
    Redirects are not followed: a supplier answers where it was asked."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        config: HttpJsonConfig,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        merchant_header: str = MERCHANT_HEADER,
    ) -> None:
        self._secret = secret
        self.config = config
        self._merchant_header = merchant_header
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport, follow_redirects=False
        )

    async def submit(self, order: RechargeOrder) -> UpstreamOrder:
        c = self.config
        body = {
            c.merchant_field: c.merchant_id,
            c.order_id_field: str(order.order_id),
            c.sku_field: order.supplier_sku,
            c.account_field: order.account,
            c.amount_field: order.amount,
            c.quantity_field: order.quantity,
        }
        if order.buyer_fields:
            body["buyer_fields"] = order.buyer_fields
        return self._order(await self._call("POST", c.submit_path, body, "submit"))

    async def query(self, order_id: UUID) -> UpstreamOrder:
        c = self.config
        path = c.query_path.format(order_id=order_id)
        body = (
            None
            if c.query_method == "GET"
            else {c.merchant_field: c.merchant_id, c.order_id_field: str(order_id)}
        )
        answer = await self._call(c.query_method, path, body, "read")
        if answer is None:
            return UpstreamOrder("not_found")
        return self._order(answer)

    async def balance(self) -> Balance:
        answer = await self._call("GET", self.config.balance_path, None, "read") or {}
        try:
            return Balance(
                int(answer[self.config.balance_field]), str(answer.get(self.config.currency_field, ""))
            )
        except (KeyError, TypeError, ValueError) as error:
            raise TransientError("balance answer without a usable balance", "bad_response") from error

    async def products(self) -> list[UpstreamProduct]:
        c = self.config
        answer = await self._call("GET", c.products_path, None, "read") or {}
        items = answer.get(c.products_field)
        if not isinstance(items, list):
            raise TransientError("product list answer without a list", "bad_response")
        return [
            UpstreamProduct(
                sku=str(item.get(c.product_sku_field, "")),
                title=str(item.get(c.product_title_field, "")),
                price=item.get(c.product_price_field)
                if isinstance(item.get(c.product_price_field), int)
                else None,
                currency=item.get(c.currency_field),
                available=bool(item.get(c.product_available_field, True)),
            )
            for item in items
            if isinstance(item, dict)
        ]

    async def aclose(self) -> None:
        await self._client.aclose()

    def _order(self, answer: dict[str, Any] | None) -> UpstreamOrder:
        c = self.config
        if answer is None:
            return UpstreamOrder("not_found")
        raw = str(answer.get(c.status_field, ""))
        state = c.status_map.get(raw)
        if state is None:
            raise AmbiguousError(f"unknown upstream status {raw[:40]!r}", "unknown_status")
        order_no = answer.get(c.supplier_order_no_field)
        content = answer.get(c.content_field)
        reason = answer.get(c.message_field)
        return UpstreamOrder(
            state,
            str(order_no) if order_no is not None else None,
            str(content) if content is not None else None,
            str(reason)[:300] if reason is not None else None,
        )

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None, phase: Phase
    ) -> dict[str, Any] | None:
        """The decoded JSON object; None for a query's "no such order". Raises the error classes."""
        c = self.config
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        request = self._client.build_request(method, path, content=body or None)
        timestamp = str(int(time.time()))
        signed = body if payload is not None else request.url.raw_path
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, signed)
        request.headers[self._merchant_header] = c.merchant_id
        if payload is not None:
            request.headers["Content-Type"] = "application/json"
        ambiguous = AmbiguousError if phase == "submit" else TransientError
        try:
            response = await self._client.send(request)
        except UnsafeURL as error:
            raise PermanentError(error.message, "unsafe_url") from error
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise TransientError(f"not reached: {type(error).__name__}", "connect") from error
        except httpx.TimeoutException as error:
            raise ambiguous(f"no answer in time: {type(error).__name__}", "timeout") from error
        except httpx.HTTPError as error:
            raise ambiguous(f"broken exchange: {type(error).__name__}", "protocol") from error
        if response.status_code == 429:
            raise TransientError("rate limited (429)", "rate_limited")
        if response.status_code >= 500:
            raise ambiguous(f"answered {response.status_code}", "http_5xx")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.status_code == 404 and phase == "read":
                return None
            raise ambiguous(f"answered {response.status_code} without a JSON object", "bad_response")
        if response.status_code >= 400:
            code = str(answer.get(c.error_code_field, ""))
            message = str(answer.get(c.message_field, ""))[:300] or f"answered {response.status_code}"
            if phase == "read" and (response.status_code == 404 or code in c.not_found_codes):
                return None
            if code in c.permanent_codes:
                raise PermanentError(message, code)
            raise PermanentError(f"{response.status_code} {code}: {message}", f"http_{response.status_code}")
        return answer
