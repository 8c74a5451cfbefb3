"""WeChat Pay API v3: Native (QR) orders, notifications checked against the platform certificate
(`Wechatpay-Signature` over "timestamp\\nnonce\\nbody\\n", `Wechatpay-Serial`, timestamp window) with the
resource decrypted by AES-256-GCM under the APIv3 key; query and refund with signed requests."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
    json_object,
)
from order.domain.payments import (
    MAX_CLOCK_SKEW_SECONDS,
    BadNotification,
    check_fresh,
    check_trade_no,
)

WECHATPAY = "wechatpay"
SUCCESS = "SUCCESS"
AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"


def message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def decrypt_resource(resource: dict[str, Any], apiv3_key: str) -> dict[str, Any]:
    """AEAD_AES_256_GCM with the APIv3 key, the resource's nonce and associated_data."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise BadNotification("resource algorithm must be AEAD_AES_256_GCM")
    try:
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        plain = AESGCM(apiv3_key.encode()).decrypt(
            str(resource["nonce"]).encode(), ciphertext, str(resource.get("associated_data") or "").encode()
        )
        decrypted = json.loads(plain)
    except (KeyError, ValueError, InvalidTag) as error:
        raise BadNotification("resource does not decrypt with our APIv3 key") from error
    if not isinstance(decrypted, dict):
        raise BadNotification("resource is not a JSON object")
    return decrypted


class WechatPayProvider:
    name = WECHATPAY

    def __init__(
        self,
        api_url: str,
        appid: str,
        mchid: str,
        merchant_serial: str,
        merchant_private_key: str,
        platform_serial: str,
        platform_public_key: str,
        apiv3_key: str,
        notify_url: str,
        http: httpx.AsyncClient,
        window_seconds: int = MAX_CLOCK_SKEW_SECONDS,
    ) -> None:
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the WeChat Pay APIv3 key must be 32 bytes")
        self._api = api_url.rstrip("/")
        self._appid = appid
        self._mchid = mchid
        self._serial = merchant_serial
        self._private = keys.private_key(merchant_private_key)
        self._platform_serial = platform_serial
        self._platform = keys.public_key(platform_public_key)
        self._apiv3_key = apiv3_key
        self._notify_url = notify_url
        self._http = http
        self._window = window_seconds

    def authorization(self, method: str, path: str, body: str, timestamp: int, nonce: str) -> str:
        text = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = keys.sign_sha256(self._private, text)
        return (
            f'{AUTH_SCHEME} mchid="{self._mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{self._serial}"'
        )

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":")) if payload is not None else ""
        headers = {
            "Authorization": self.authorization(method, path, body, int(time.time()), secrets.token_hex(16)),
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        response = await call(self._http, self.name, method, self._api + path, content=body, headers=headers)
        self._check_response_signature(response)
        return response

    def _check_response_signature(self, response: httpx.Response) -> None:
        h = response.headers
        serial, signature = h.get("wechatpay-serial"), h.get("wechatpay-signature")
        timestamp, nonce = h.get("wechatpay-timestamp"), h.get("wechatpay-nonce")
        if not (serial and signature and timestamp and nonce):
            raise ProviderError("wechatpay answer carries no platform signature")
        if serial != self._platform_serial or not keys.verify_sha256(
            self._platform, message(timestamp, nonce, response.content), signature
        ):
            raise ProviderError("wechatpay answer is not signed by the platform certificate")

    async def create(self, order: PaymentOrder) -> PaymentRequest:
        payload: dict[str, Any] = {
            "appid": self._appid,
            "mchid": self._mchid,
            "description": order.title[:127],
            "out_trade_no": order.order_no,
            "notify_url": self._notify_url,
            "amount": {"total": order.amount, "currency": order.currency},
        }
        if order.expires_at is not None:
            payload["time_expire"] = order.expires_at.isoformat(timespec="seconds")
        response = await self._request("POST", "/v3/pay/transactions/native", payload)
        body = json_object(response, self.name)
        if response.status_code != 200 or not body.get("code_url"):
            raise ProviderError(f"wechatpay refused the order: {str(body.get('message'))[:200]}")
        return PaymentRequest(self.name, qr_payload=str(body["code_url"]))

    def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        serial = notification.header("wechatpay-serial")
        signature = notification.header("wechatpay-signature")
        timestamp = notification.header("wechatpay-timestamp")
        nonce = notification.header("wechatpay-nonce")
        if not (serial and signature and timestamp and nonce):
            raise BadNotification("missing Wechatpay-Serial/-Signature/-Timestamp/-Nonce headers")
        if not timestamp.isdigit():
            raise BadNotification("Wechatpay-Timestamp must be unix seconds")
        if not constant_time_equal(serial, self._platform_serial):
            # A rotated platform certificate we have not loaded yet: ask the provider instead.
            raise BadNotification("unknown platform certificate serial", transient=True)
        if not keys.verify_sha256(self._platform, message(timestamp, nonce, notification.body), signature):
            raise BadNotification("bad signature")
        check_fresh(int(timestamp), now, self._window)
        envelope = forms.json_object(notification.body)
        resource = envelope.get("resource")
        if not isinstance(resource, dict):
            raise BadNotification("malformed notification: no resource")
        transaction = decrypt_resource(resource, self._apiv3_key)
        return self._payment(transaction)

    def _payment(self, transaction: dict[str, Any]) -> VerifiedPayment:
        forms.require(
            transaction, "appid", "mchid", "out_trade_no", "transaction_id", "trade_state", "amount"
        )
        if not constant_time_equal(str(transaction["appid"]), self._appid):
            raise BadNotification("appid is not ours")
        if not constant_time_equal(str(transaction["mchid"]), self._mchid):
            raise BadNotification("mchid is not ours")
        if transaction["trade_state"] != SUCCESS:
            raise BadNotification(f"trade_state is {str(transaction['trade_state'])[:40]!r}, not {SUCCESS}")
        amount = transaction["amount"]
        if not isinstance(amount, dict) or not isinstance(amount.get("total"), int):
            raise BadNotification("amount.total must be an integer")
        return VerifiedPayment(
            self.name,
            str(transaction["out_trade_no"]),
            check_trade_no(str(transaction["transaction_id"])),
            int(amount["total"]),
            str(amount.get("currency") or "CNY"),
        )

    async def query(self, order: PaymentOrder) -> ProviderStatus:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order.order_no, safe='')}?mchid={self._mchid}"
        response = await self._request("GET", path)
        body = json_object(response, self.name)
        if response.status_code == 404 or body.get("code") == "ORDER_NOT_EXIST":
            return ProviderStatus("not_found")
        if response.status_code != 200:
            raise ProviderError(f"wechatpay query failed: {str(body.get('message'))[:200]}")
        if body.get("out_trade_no") != order.order_no:
            raise ProviderError("wechatpay answered about another order")
        state = body.get("trade_state")
        if state == SUCCESS:
            try:
                paid = self._payment(body)
            except BadNotification as error:
                raise ProviderError(f"wechatpay answer does not fit: {error.message}") from error
            return ProviderStatus("paid", paid.trade_no, paid.amount, paid.currency)
        if state in ("CLOSED", "REVOKED", "PAYERROR"):
            return ProviderStatus("closed")
        return ProviderStatus("pending")

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        payload = {
            "transaction_id": trade.trade_no,
            "out_refund_no": refund_no,
            "amount": {"refund": amount, "total": trade.amount, "currency": trade.currency},
        }
        response = await self._request("POST", "/v3/refund/domestic/refunds", payload)
        body = json_object(response, self.name)
        if response.status_code != 200:
            raise RefundRefused(f"wechatpay refused the refund: {str(body.get('message'))[:200]}")
        status = "succeeded" if body.get("status") == SUCCESS else "pending"
        return RefundResult(refund_no, amount, status, str(body.get("refund_id") or "") or None)

    def ack(self, result: str) -> Ack:
        return Ack(b"", "application/json", 204)
