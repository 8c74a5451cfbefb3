"""Alipay (open platform, RSA2 = SHA256withRSA): page-pay URLs, asynchronous notifications verified with
Alipay's public key over the sorted parameters (sign and sign_type left out, empty values kept as `k=`),
`alipay.trade.query` and `alipay.trade.refund` with signed requests (empty values left out) and signed
responses.

Settings: `alipay_private_key` is the app private key as PEM or bare base64, PKCS#8 (Java) or PKCS#1 (what
Alipay's key tool gives other languages); `alipay_public_key` is Alipay's public key (not the app's), bare
base64 or PEM. A notification is accepted while its notify_time is at most 26 hours old (Alipay's re-send
schedule) and not more than the clock skew in the future."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
from faka_common.contracts.risk_rules import payment_account

from order.adapters.payments import forms, keys
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
)
from order.domain.payments import (
    MAX_CLOCK_SKEW_SECONDS,
    BadNotification,
    check_trade_no,
    major_units,
    minor_units,
)

ALIPAY = "alipay"
PAID_STATUSES = ("TRADE_SUCCESS", "TRADE_FINISHED")
CURRENCY = "CNY"
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: How old a notification's notify_time may be. Alipay re-sends an unanswered notification 8 times over about
#: 25 hours (4m, 10m, 10m, 1h, 2h, 6h, 15h), so a window shorter than that could refuse a genuine re-send
#: after an outage (the reconciler would still find the payment, later). A narrow window buys nothing: the
#: notification is signed by Alipay, and a replay of it is idempotent (same out_trade_no and trade_no).
NOTIFY_WINDOW_SECONDS = 26 * 3600


def request_content(params: Mapping[str, str]) -> bytes:
    """What we sign in a request: `a=1&b=2` over the non-empty parameters but sign, sorted by name (the
    SDKs' `getSignContent` leaves empty values out, and Alipay checks requests the same way)."""
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v not in (None, ""))
    return "&".join(f"{k}={v}" for k, v in pairs).encode()


def notification_content(params: Mapping[str, str]) -> bytes:
    """What Alipay signed in a notification: every parameter but sign and sign_type, sorted by name, an empty
    one kept as `k=` (Java `AlipaySignature.getSignCheckContentV1`, alipay-sdk-python `get_sign_content`,
    python-alipay-sdk `verify`). Leaving empties out would refuse real notifications carrying `body=`."""
    pairs = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type"))
    return "&".join(f"{k}={v}" for k, v in pairs).encode()


def response_node(text: str, method: str) -> tuple[dict[str, Any], str]:
    """The `<method>_response` object and its exact text (what Alipay signed), or the error response."""
    decoder = json.JSONDecoder()
    for name in (method.replace(".", "_") + "_response", "error_response"):
        marker = f'"{name}"'
        at = text.find(marker)
        if at < 0:
            continue
        start = text.index(":", at + len(marker)) + 1
        while text[start].isspace():
            start += 1
        node, end = decoder.raw_decode(text, start)
        if isinstance(node, dict):
            return node, text[start:end]
    raise ProviderError(f"alipay answered no {method} response")


class AlipayProvider:
    name = ALIPAY

    def __init__(
        self,
        gateway_url: str,
        app_id: str,
        private_key: str,
        alipay_public_key: str,
        notify_url: str,
        return_url: str,
        http: httpx.AsyncClient,
        seller_id: str | None = None,
        notify_window_seconds: int = NOTIFY_WINDOW_SECONDS,
    ) -> None:
        self._gateway = gateway_url
        self._app_id = app_id
        self._private = keys.private_key(private_key, "alipay_private_key")
        self._public = keys.public_key(alipay_public_key, "alipay_public_key")
        self._notify_url = notify_url
        self._return_url = return_url
        self._http = http
        self._seller_id = seller_id
        self._window = notify_window_seconds

    def signed_request(self, method: str, biz: dict[str, Any], now: datetime, **extra: str) -> dict[str, str]:
        params = {
            "app_id": self._app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": now.astimezone(BEIJING).strftime(TIME_FORMAT),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **extra,
        }
        params["sign"] = keys.sign_sha256(self._private, request_content(params))
        return params

    async def create(self, order: PaymentOrder) -> PaymentRequest:
        if order.currency != CURRENCY:
            raise BadNotification(f"alipay charges CNY only, not {order.currency}")
        biz: dict[str, Any] = {
            "out_trade_no": order.order_no,
            "total_amount": major_units(order.amount),
            "subject": order.title[:256],
            "product_code": "FAST_INSTANT_TRADE_PAY",
        }
        if order.expires_at is not None:
            biz["time_expire"] = order.expires_at.astimezone(BEIJING).strftime(TIME_FORMAT)
        params = self.signed_request(
            "alipay.trade.page.pay",
            biz,
            datetime.now(BEIJING),
            notify_url=self._notify_url,
            return_url=self._return_url,
        )
        return PaymentRequest(self.name, pay_url=f"{self._gateway}?{urlencode(params)}")

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        params = forms.form(notification.body)
        forms.require(params, "sign", "app_id", "out_trade_no", "trade_no", "total_amount", "trade_status")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise BadNotification("sign_type must be RSA2")
        if not keys.verify_sha256(self._public, notification_content(params), params["sign"]):
            raise BadNotification("bad signature")
        if "notify_time" in params:
            try:
                sent = datetime.strptime(params["notify_time"], TIME_FORMAT).replace(tzinfo=BEIJING)
            except ValueError as error:
                raise BadNotification("notify_time is not yyyy-MM-dd HH:mm:ss") from error
            age = now.timestamp() - sent.timestamp()
            if not -MAX_CLOCK_SKEW_SECONDS <= age <= self._window:
                raise BadNotification(
                    f"stale notification: notify_time is not within the last {self._window} s"
                )
        if not constant_time_equal(params["app_id"], self._app_id):
            raise BadNotification("app_id is not ours")
        if self._seller_id and params.get("seller_id") != self._seller_id:
            raise BadNotification("seller_id is not ours")
        if params["trade_status"] not in PAID_STATUSES:
            raise BadNotification(f"trade_status is {params['trade_status'][:40]!r}, not paid")
        # buyer_id (2088...) is the payer's stable user id; apps made since 2023 get buyer_open_id instead
        # (buyer_logon_id, the masked login name, identifies nobody)
        payer = payment_account(self.name, params.get("buyer_id") or params.get("buyer_open_id"))
        return VerifiedPayment(
            self.name,
            params["out_trade_no"],
            check_trade_no(params["trade_no"]),
            minor_units(params["total_amount"], "total_amount"),
            CURRENCY,
            payer_account=payer,
        )

    async def _call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        params = self.signed_request(method, biz, datetime.now(BEIJING))
        response = await call(self._http, self.name, "POST", self._gateway, data=params)
        text = response.text
        node, raw = response_node(text, method)
        try:
            signature = json.loads(text).get("sign")
        except ValueError as error:
            raise ProviderError("alipay answered a body that is not JSON") from error
        if not signature or not keys.verify_sha256(self._public, raw.encode(), str(signature)):
            raise ProviderError(f"alipay's {method} answer is not signed by Alipay")
        return node

    async def query(self, order: PaymentOrder) -> ProviderStatus:
        node = await self._call("alipay.trade.query", {"out_trade_no": order.order_no})
        if node.get("code") != "10000":
            if node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return ProviderStatus("not_found")
            raise ProviderError(f"alipay query failed: {str(node.get('sub_msg') or node.get('msg'))[:200]}")
        if node.get("out_trade_no") != order.order_no:
            raise ProviderError("alipay answered about another order")
        status = node.get("trade_status")
        if status in PAID_STATUSES:
            try:
                amount = minor_units(node.get("total_amount"), "total_amount")
            except BadNotification as error:
                raise ProviderError(f"alipay answered a bad amount: {error.message}") from error
            # the query names the payer buyer_user_id (the notification's buyer_id), or buyer_open_id
            payer = payment_account(self.name, node.get("buyer_user_id") or node.get("buyer_open_id"))
            return ProviderStatus("paid", str(node.get("trade_no") or ""), amount, CURRENCY, payer)
        if status == "TRADE_CLOSED":
            return ProviderStatus("closed")
        return ProviderStatus("pending")

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        biz = {
            "out_trade_no": trade.order_no,
            "refund_amount": major_units(amount),
            "out_request_no": refund_no,
        }
        node = await self._call("alipay.trade.refund", biz)
        if node.get("code") != "10000":
            raise RefundRefused(
                f"alipay refused the refund: {str(node.get('sub_msg') or node.get('msg'))[:200]}"
            )
        return RefundResult(refund_no, amount, "succeeded", str(node.get("trade_no") or "") or None)

    def ack(self, result: str) -> Ack:
        return Ack(b"success", "text/plain")
