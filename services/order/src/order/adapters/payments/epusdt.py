"""USDT-TRC20 through an epusdt-compatible gateway: md5 signatures (non-empty parameters sorted by name,
`a=1&b=2` + API token, lower-case hex), create-transaction, JSON callbacks with status 2 = paid, amount in
CNY and actual_amount in USDT. The protocol has no refund: USDT is refunded by hand.

Empty values are left out both ways because the gateway signs its callbacks that way: assimon/epusdt
`src/util/sign/sign.go` `MapToParams` skips nulls and empty strings ("空值不参与签名"), and so does
v03413/bepusdt `app/help/help.go` `EpusdtSign`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from order.adapters.payments import forms
from order.adapters.payments.base import (
    Ack,
    PaidTrade,
    PaymentOrder,
    PaymentRequest,
    ProviderError,
    ProviderStatus,
    RawNotification,
    RefundResult,
    RefundUnsupported,
    VerifiedPayment,
    call,
    constant_time_equal,
    json_object,
)
from order.domain.payments import BadNotification, check_trade_no, major_units, minor_units

EPUSDT = "usdt"
PAID = 2
CURRENCY = "CNY"


def text(value: object) -> str:
    """How the gateway renders a value before signing: numbers without trailing zeros (28.8, 10)."""
    if isinstance(value, Decimal):
        rendered = format(value.normalize(), "f")
        return rendered
    if isinstance(value, float):
        return text(Decimal(repr(value)))
    return str(value)


def sign(params: Mapping[str, Any], token: str) -> str:
    pairs = sorted(
        (k, text(v)) for k, v in params.items() if k != "signature" and v is not None and text(v) != ""
    )
    signed = "&".join(f"{k}={v}" for k, v in pairs) + token
    return hashlib.md5(signed.encode()).hexdigest()  # noqa: S324 (the protocol's own MD5)


class EpusdtProvider:
    name = EPUSDT

    def __init__(
        self,
        base_url: str,
        token: str,
        notify_url: str,
        redirect_url: str,
        http: httpx.AsyncClient,
        wallet: str | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._notify_url = notify_url
        self._redirect_url = redirect_url
        self._http = http
        self._wallet = wallet

    async def create(self, order: PaymentOrder) -> PaymentRequest:
        if order.currency != CURRENCY:
            raise BadNotification(f"epusdt prices in CNY only, not {order.currency}")
        params: dict[str, Any] = {
            "order_id": order.order_no,
            "amount": Decimal(major_units(order.amount)),
            "notify_url": self._notify_url,
            "redirect_url": self._redirect_url,
        }
        params["signature"] = sign(params, self._token)
        body = {**params, "amount": float(params["amount"])}
        response = await call(
            self._http, self.name, "POST", f"{self._base}/api/v1/order/create-transaction", json=body
        )
        answer = json_object(response, self.name)
        data = answer.get("data")
        if answer.get("status_code") != 200 or not isinstance(data, dict):
            raise ProviderError(f"epusdt refused the order: {str(answer.get('message'))[:200]}")
        return PaymentRequest(
            self.name,
            pay_url=str(data.get("payment_url") or "") or None,
            qr_payload=str(data.get("token") or "") or None,
            provider_ref=str(data.get("trade_id") or "") or None,
        )

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        params = forms.json_object(notification.body)
        forms.require(params, "trade_id", "order_id", "amount", "actual_amount", "status", "signature")
        if not constant_time_equal(str(params["signature"]).lower(), sign(params, self._token)):
            raise BadNotification("bad signature")
        if self._wallet and str(params.get("token")) != self._wallet:
            raise BadNotification("the receiving wallet is not ours")
        if params["status"] != PAID:
            raise BadNotification(f"status is {str(params['status'])[:10]!r}, not {PAID} (paid)")
        if minor_units(text(params["actual_amount"]), "actual_amount", 6) <= 0:
            raise BadNotification("actual_amount must be positive")
        return VerifiedPayment(
            self.name,
            str(params["order_id"]),
            check_trade_no(str(params["trade_id"])),
            minor_units(text(params["amount"]), "amount"),
            CURRENCY,
        )

    async def query(self, order: PaymentOrder) -> ProviderStatus:
        """The checkout counter's status endpoint, by the trade id create-transaction returned."""
        if not order.provider_ref:
            return ProviderStatus("not_found")
        url = f"{self._base}/pay/check-status/{order.provider_ref}"
        response = await call(self._http, self.name, "GET", url)
        if response.status_code == 404:
            return ProviderStatus("not_found")
        body = json_object(response, self.name)
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        status = data.get("status") if isinstance(data, dict) else None
        if status == PAID:
            return ProviderStatus("paid", order.provider_ref, order.amount, CURRENCY)
        if status == 3:
            return ProviderStatus("closed")
        return ProviderStatus("pending")

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        raise RefundUnsupported("epusdt has no refund API: send the USDT back by hand")

    def ack(self, result: str) -> Ack:
        return Ack(b"ok", "text/plain")
