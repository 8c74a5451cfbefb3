"""Notifications signed the way each provider's own code signs them (not with our adapters' helpers), so a
difference between our verification and the provider's algorithm shows up here.

Where the algorithm comes from (each signer below cites it):
- Alipay: alipay-sdk-python 3.7.1411 `alipay/aop/api/util/SignatureUtils.py` (`get_sign_content` joins every
  parameter, empty ones as `k=`; `sign_with_rsa2` loads the key as bare PKCS#1 under an `RSA PRIVATE KEY`
  marker) and python-alipay-sdk 3.4.0 `AliPay.verify` (drops sign and sign_type, keeps empty values).
- epusdt: assimon/epusdt `src/util/sign/sign.go` `MapToParams` (floats as FormatFloat 'f' -1, empty values
  and nulls skipped: "空值不参与签名") and v03413/bepusdt `app/help/help.go` `EpusdtSign` (same rule).
- 易支付: the reference gateway's `creat_callback` signs through `paraFilter` (sign, sign_type and empty
  values dropped) and the merchant SDK's `EpayCore::getSignContent` verifies with the same rule.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from order.adapters.payments import alipay
from order.adapters.payments.base import RawNotification
from order.domain.payments import BadNotification, VerifiedPayment

ORDER_NO = "F20260101000000ABCDEF"
AMOUNT = 2599
BEIJING = timezone(timedelta(hours=8))
FORM = "application/x-www-form-urlencoded"


def alipay_sign_content(params: dict[str, str]) -> str:
    """alipay-sdk-python `get_sign_content`: every parameter sorted by name, empty values kept as `k=`."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def alipay_notification(kit: Any, sent: datetime | None = None, **fields: str) -> RawNotification:
    """A trade_status_sync notification as Alipay sends it: RSA2 over every field but sign and sign_type."""
    params = {
        "notify_time": (sent or datetime.now(BEIJING)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "app_id": kit.alipay_app_id,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026010122001400000000000001",
        "out_trade_no": ORDER_NO,
        "total_amount": "25.99",
        "receipt_amount": "25.99",
        "trade_status": "TRADE_SUCCESS",
        "subject": "Game key",
        **fields,
    }
    signature = kit.alipay_platform_key.sign(
        alipay_sign_content(params).encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    params["sign"] = base64.b64encode(signature).decode()
    params["sign_type"] = "RSA2"
    return RawNotification(urlencode(params).encode(), FORM)


def alipay_adapter(kit: Any, private_key: str | None = None) -> alipay.AlipayProvider:
    """Our Alipay adapter for the kit's keys; `private_key` as the operator pasted it (default PKCS#8 PEM)."""
    if private_key is None:
        private_key = kit.alipay_app_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    public = kit.alipay_platform_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return alipay.AlipayProvider(
        "http://127.0.0.1:9/gateway.do",
        kit.alipay_app_id,
        private_key,
        base64.b64encode(public).decode(),
        "http://127.0.0.1:8000/api/v1/payments/alipay/notify",
        "http://127.0.0.1:8000",
        httpx.AsyncClient(),
    )


@pytest.mark.parametrize("empty", ["body", "passback_params", "buyer_logon_id", "fund_bill_list"])
async def test_an_alipay_notification_with_an_empty_field_is_verified(kit: Any, empty: str) -> None:
    notice = alipay_notification(kit, **{empty: ""})
    payment = await alipay_adapter(kit).verify(notice, datetime.now(UTC))
    assert payment.order_no == ORDER_NO and payment.amount == AMOUNT


async def test_an_alipay_notification_whose_empty_field_was_left_out_of_the_signature_is_refused(
    kit: Any,
) -> None:
    """The other way round: a signature over the content without `body=` does not cover a body field."""
    params = dict(parse_qsl(alipay_notification(kit).body.decode()))
    params["body"] = ""
    with pytest.raises(BadNotification, match="signature"):
        await alipay_adapter(kit).verify(RawNotification(urlencode(params).encode(), FORM), datetime.now(UTC))


def pkcs1_base64(key: rsa.RSAPrivateKey) -> str:
    """What Alipay's key tool gives non-Java developers: the PKCS#1 RSAPrivateKey DER, base64, no marker."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


def private_key_forms(key: rsa.RSAPrivateKey) -> dict[str, str]:
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pkcs1_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    bare = pkcs1_base64(key)
    return {
        "pkcs1 base64": bare,
        "pkcs1 base64 wrapped at 64": "\n".join(bare[i : i + 64] for i in range(0, len(bare), 64)),
        "pkcs1 pem": pkcs1_pem,
        "pkcs8 base64": base64.b64encode(pkcs8).decode(),
    }


@pytest.mark.parametrize("form", ["pkcs1 base64", "pkcs1 base64 wrapped at 64", "pkcs1 pem", "pkcs8 base64"])
def test_an_alipay_app_private_key_is_accepted_in_the_forms_alipay_hands_out(kit: Any, form: str) -> None:
    adapter = alipay_adapter(kit, private_key_forms(kit.alipay_app_key)[form])
    request = adapter.signed_request("alipay.trade.query", {"out_trade_no": ORDER_NO}, datetime.now(UTC))
    content = alipay.request_content(request)
    kit.alipay_app_key.public_key().verify(
        base64.b64decode(request["sign"]), content, padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.parametrize("text", ["", "not a key", base64.b64encode(b"\x30\x03\x02\x01\x00").decode()])
def test_an_unreadable_alipay_private_key_is_refused_at_start_up_naming_the_setting(
    kit: Any, text: str
) -> None:
    with pytest.raises(ValueError, match="alipay_private_key"):
        alipay_adapter(kit, text or " ")


@pytest.mark.parametrize("hours", [0, 1, 6, 24, 25])
async def test_alipay_resends_over_25_hours_are_verified(kit: Any, hours: int) -> None:
    """Alipay re-sends an unanswered notification for about 25 hours (4m, 10m, 10m, 1h, 2h, 6h, 15h)."""
    now = datetime.now(UTC)
    payment = await alipay_adapter(kit).verify(alipay_notification(kit, now - timedelta(hours=hours)), now)
    assert payment.order_no == ORDER_NO


@pytest.mark.parametrize("off", [timedelta(hours=-27), timedelta(minutes=10)])
async def test_an_alipay_notify_time_outside_the_resend_schedule_is_refused(kit: Any, off: timedelta) -> None:
    """Older than the whole resend schedule, or dated in the future beyond clock skew."""
    now = datetime.now(UTC)
    with pytest.raises(BadNotification, match="stale"):
        await alipay_adapter(kit).verify(alipay_notification(kit, now + off), now)


def gateway_text(value: object) -> str:
    """epusdt `MapToParams` after a JSON round trip: numbers are float64 printed with FormatFloat('f', -1)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(value)
    if isinstance(value, int | float | Decimal):
        return format(Decimal(repr(float(value))).normalize(), "f")
    return str(value)


def epusdt_callback(api_token: str, **fields: Any) -> RawNotification:
    """An epusdt OrderNotifyResponse as `OrderCallbackHandle` posts it, signed with `sign.Get`."""
    body: dict[str, Any] = {
        "trade_id": "202601011234567890",
        "order_id": ORDER_NO,
        "amount": 25.99,
        "actual_amount": 3.6,
        "token": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        "block_transaction_id": uuid.uuid4().hex,
        "signature": "",
        "status": 2,
        **fields,
    }
    pairs = sorted(
        f"{k}={gateway_text(v)}"
        for k, v in body.items()
        if k != "signature" and v is not None and gateway_text(v) != ""
    )
    body["signature"] = hashlib.md5(("&".join(pairs) + api_token).encode()).hexdigest()
    return RawNotification(json.dumps(body).encode(), "application/json")


@pytest.mark.parametrize("fields", [{}, {"block_transaction_id": ""}, {"token": ""}, {"actual_amount": 3}])
async def test_an_epusdt_callback_signed_by_the_gateway_is_verified(kit: Any, fields: dict[str, Any]) -> None:
    """The gateway leaves empty values out of the signature (sign.go: 空值不参与签名), as we do."""
    payment = await kit.adapters()["usdt"].verify(
        epusdt_callback(kit.usdt_token, **fields), datetime.now(UTC)
    )
    assert payment == VerifiedPayment("usdt", ORDER_NO, "202601011234567890", AMOUNT, "CNY")


def epay_callback(key: str, **fields: str) -> RawNotification:
    """A 易支付 notification as the gateway's `creat_callback` builds it: paraFilter drops empty values."""
    params = {
        "pid": "1001",
        "trade_no": "2026010112345678901",
        "out_trade_no": ORDER_NO,
        "type": "alipay",
        "name": "Game key",
        "money": "25.99",
        "trade_status": "TRADE_SUCCESS",
        **fields,
    }
    kept = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v != "")
    params["sign"] = hashlib.md5(("&".join(f"{k}={v}" for k, v in kept) + key).encode()).hexdigest()
    params["sign_type"] = "MD5"
    return RawNotification(urlencode(params).encode(), FORM)


@pytest.mark.parametrize("fields", [{}, {"param": ""}, {"name": ""}])
async def test_an_epay_notification_signed_by_the_gateway_is_verified(
    kit: Any, fields: dict[str, str]
) -> None:
    payment = await kit.adapters()["epay"].verify(epay_callback(kit.epay_key, **fields), datetime.now(UTC))
    assert payment == VerifiedPayment("epay", ORDER_NO, "2026010112345678901", AMOUNT, "CNY")


VECTORS = json.loads((Path(__file__).parent / "provider_vectors.json").read_text())


async def test_a_notification_signed_by_alipay_sdk_python_with_empty_fields_is_verified() -> None:
    """A recorded vector: a full trade_status_sync notification (seller_email, body and passback_params
    empty) signed by alipay-sdk-python itself, checked at the moment it was sent."""
    vector = VECTORS["alipay"]
    adapter = alipay.AlipayProvider(
        "https://openapi.alipay.com/gateway.do",
        vector["app_id"],
        pkcs1_base64(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        vector["alipay_public_key"],
        "http://127.0.0.1:8000/api/v1/payments/alipay/notify",
        "http://127.0.0.1:8000",
        httpx.AsyncClient(),
    )
    notice = RawNotification(vector["body"].encode(), FORM)
    payment = await adapter.verify(notice, datetime.fromisoformat(vector["received_at"]))
    assert payment == VerifiedPayment(
        "alipay", ORDER_NO, "2026010122001446880500012345", AMOUNT, "CNY",
        payer_account="alipay:2088102177846880",  # the notification's buyer_id
    )  # fmt: skip
