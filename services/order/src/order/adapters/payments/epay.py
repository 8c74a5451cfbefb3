"""易支付 (epay): MD5 over the parameters sorted by name (sign, sign_type and empty values left out) with
the merchant key appended; notifications carry pid, out_trade_no, trade_no, money (yuan) and trade_status;
`api.php?act=order` queries and `api.php?act=refund` refunds.

Empty values are left out of notifications too, unlike Alipay: the gateway's `creat_callback` signs
through `paraFilter` (drops sign, sign_type and empty values), and the merchant SDK's
`EpayCore::getSignContent` verifies with the same rule."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

import httpx
from faka_common.contracts.risk_rules import payment_account

from order.adapters.payments import forms
from order.adapters.payments.base import (
    Ack,
    PaidTrade,
    PaymentOrder,
    PaymentRequest,
    ProviderError,
    ProviderStatus,
    RawNotification,
    RefundRefused,
    RefundResult,
    VerifiedPayment,
    call,
    constant_time_equal,
    json_object,
)
from order.domain.payments import BadNotification, check_trade_no, major_units, minor_units

EPAY = "epay"
TRADE_SUCCESS = "TRADE_SUCCESS"
CURRENCY = "CNY"


def sign(params: Mapping[str, object], key: str) -> str:
    """md5("a=1&b=2" + key), lower-case hex, over non-empty params except sign and sign_type."""
    signed = sorted(
        (name, str(value))
        for name, value in params.items()
        if name not in ("sign", "sign_type") and value is not None and str(value) != ""
    )
    text = "&".join(f"{name}={value}" for name, value in signed) + key
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (the protocol's own MD5)


class EpayProvider:
    name = EPAY

    def __init__(
        self,
        base_url: str,
        pid: str,
        key: str,
        notify_url: str,
        return_url: str,
        http: httpx.AsyncClient,
        pay_type: str = "alipay",
    ) -> None:
        self._base = base_url.rstrip("/")
        self._pid = pid
        self._key = key
        self._notify_url = notify_url
        self._return_url = return_url
        self._http = http
        self._type = pay_type

    async def create(self, order: PaymentOrder) -> PaymentRequest:
        if order.currency != CURRENCY:
            raise BadNotification(f"epay charges CNY only, not {order.currency}")
        params = {
            "pid": self._pid,
            "type": self._type,
            "out_trade_no": order.order_no,
            "notify_url": self._notify_url,
            "return_url": self._return_url,
            "name": order.title[:100],
            "money": major_units(order.amount),
        }
        params["sign"] = sign(params, self._key)
        params["sign_type"] = "MD5"
        return PaymentRequest(self.name, pay_url=f"{self._base}/submit.php?{urlencode(params)}")

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        params = forms.form(notification.body)
        forms.require(params, "pid", "out_trade_no", "trade_no", "money", "trade_status", "sign")
        if not constant_time_equal(params["sign"].lower(), sign(params, self._key)):
            raise BadNotification("bad signature")
        if params.get("sign_type", "MD5").upper() != "MD5":
            raise BadNotification("sign_type must be MD5")
        if not constant_time_equal(params["pid"], self._pid):
            raise BadNotification("merchant id (pid) is not ours")
        if params["trade_status"] != TRADE_SUCCESS:
            raise BadNotification(f"trade_status is {params['trade_status'][:40]!r}, not {TRADE_SUCCESS}")
        return VerifiedPayment(
            self.name,
            params["out_trade_no"],
            check_trade_no(params["trade_no"]),
            minor_units(params["money"], "money"),
            CURRENCY,
            # newer 易支付 versions sign a `buyer` (the payer's account at the channel); older send none
            payer_account=payment_account(self.name, params.get("buyer")),
        )

    async def query(self, order: PaymentOrder) -> ProviderStatus:
        params = {"act": "order", "pid": self._pid, "key": self._key, "out_trade_no": order.order_no}
        body = json_object(
            await call(self._http, self.name, "GET", f"{self._base}/api.php", params=params), EPAY
        )
        if str(body.get("code")) != "1":
            return ProviderStatus("not_found")
        if str(body.get("out_trade_no")) != order.order_no or str(body.get("pid", self._pid)) != self._pid:
            raise ProviderError("epay answered about another order or merchant")
        if str(body.get("status")) != "1":
            return ProviderStatus("pending")
        try:
            amount = minor_units(body.get("money"), "money")
        except BadNotification as error:
            raise ProviderError(f"epay answered a bad amount: {error.message}") from error
        payer = payment_account(self.name, body.get("buyer"))  # as its notification's, on newer versions
        return ProviderStatus("paid", str(body.get("trade_no") or ""), amount, CURRENCY, payer)

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        data = {
            "pid": self._pid,
            "key": self._key,
            "trade_no": trade.trade_no,
            "out_trade_no": trade.order_no,
            "money": major_units(amount),
        }
        response = await call(self._http, self.name, "POST", f"{self._base}/api.php?act=refund", data=data)
        body = json_object(response, EPAY)
        if str(body.get("code")) != "1":
            raise RefundRefused(f"epay refused the refund: {str(body.get('msg'))[:200]}")
        return RefundResult(refund_no, amount, "succeeded")

    def ack(self, result: str) -> Ack:
        return Ack(b"success", "text/plain")
