"""A kit that plays every payment provider: it generates the keys, builds our adapters for them and signs
notifications the way each provider does (used by unit and integration tests)."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from faka_common.sandbox_payment import signed_notification
from order.adapters.payments import alipay, epay, epusdt, keys, stripe, wechatpay
from order.adapters.payments.base import PaymentAdapter, RawNotification
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import MemoryLedger, SandboxProvider

PROVIDERS = ("sandbox", "epay", "alipay", "wechatpay", "stripe", "usdt")
BEIJING = timezone(timedelta(hours=8))


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_b64(key: rsa.RSAPrivateKey) -> str:
    """Bare base64 of the SubjectPublicKeyInfo, the way Alipay hands out its public key."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def self_signed_certificate(
    key: rsa.RSAPrivateKey, *, valid_from: datetime | None = None, valid_days: int = 365
) -> tuple[str, bytes]:
    """A self-signed X.509 certificate for `key`, the way WeChat Pay issues platform certificates: its serial
    (upper-case hex, as `serial_no` and `Wechatpay-Serial` carry it) and its PEM."""
    start = valid_from or datetime.now(UTC) - timedelta(days=1)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Tenpay.com Root CA test")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )
    return format(certificate.serial_number, "X"), certificate.public_bytes(serialization.Encoding.PEM)


class ProviderKit:
    sandbox_secret = "kit-sandbox-secret"
    epay_pid, epay_key = "1001", "kit-epay-merchant-key"
    alipay_app_id = "2021000000000001"
    wechat_appid, wechat_mchid = "wx0000000000000001", "1900000001"
    wechat_serial, wechat_platform_serial = "MERCHANTSERIAL01", "PLATFORMSERIAL01"
    wechat_apiv3_key = "0123456789abcdef0123456789abcdef"
    stripe_secret_key, stripe_webhook_secret = "sk_test_kit", "whsec_kit"
    usdt_token = "kit-epusdt-token"

    def __init__(self) -> None:
        self.alipay_app_key = _rsa()
        self.alipay_platform_key = _rsa()
        self.wechat_merchant_key = _rsa()
        self.wechat_platform_key = _rsa()
        self.attacker_key = _rsa()

    def adapters(
        self, base_url: str = "http://127.0.0.1:9", http: httpx.AsyncClient | None = None
    ) -> dict[str, Any]:
        client = http or httpx.AsyncClient()
        notify = "http://127.0.0.1:8000/api/v1/payments/{}/notify"
        return {
            "sandbox": SandboxProvider(self.sandbox_secret, "http://127.0.0.1:8000", MemoryLedger()),
            "epay": epay.EpayProvider(
                base_url, self.epay_pid, self.epay_key, notify.format("epay"), "http://127.0.0.1:8000", client
            ),
            "alipay": alipay.AlipayProvider(
                f"{base_url}/gateway.do",
                self.alipay_app_id,
                _pem_private(self.alipay_app_key),
                _public_b64(self.alipay_platform_key),
                notify.format("alipay"),
                "http://127.0.0.1:8000",
                client,
            ),
            "wechatpay": self.wechat_adapter(base_url, client),
            "stripe": stripe.StripeProvider(
                base_url,
                self.stripe_secret_key,
                self.stripe_webhook_secret,
                "http://127.0.0.1:8000",
                "http://127.0.0.1:8000",
                client,
            ),
            "usdt": epusdt.EpusdtProvider(
                base_url, self.usdt_token, notify.format("usdt"), "http://127.0.0.1:8000", client
            ),
        }

    def alipay_credentials(self) -> dict[str, str]:
        """Alipay credentials as a shop's channel takes them (the key forms Alipay hands out)."""
        return {
            "app_id": self.alipay_app_id,
            "private_key": _pem_private(self.alipay_app_key),
            "public_key": _public_b64(self.alipay_platform_key),
        }

    def epay_settings(self, url: str = "https://pay.platform.example") -> dict[str, str]:
        """The order service's settings of the platform's own epay account."""
        return {"epay_url": url, "epay_pid": self.epay_pid, "epay_key": self.epay_key}

    def wechat_adapter(
        self, base_url: str, http: httpx.AsyncClient, *, pinned: bool = True, **options: Any
    ) -> wechatpay.WechatPayProvider:
        """Our WeChat Pay adapter; `pinned` gives it the platform key in settings, else it holds no platform
        certificate until it fetches them from /v3/certificates."""
        return wechatpay.WechatPayProvider(
            base_url,
            self.wechat_appid,
            self.wechat_mchid,
            self.wechat_serial,
            _pem_private(self.wechat_merchant_key),
            self.wechat_platform_serial if pinned else "",
            _public_b64(self.wechat_platform_key) if pinned else "",
            self.wechat_apiv3_key,
            "http://127.0.0.1:8000/api/v1/payments/wechatpay/notify",
            http,
            **options,
        )

    @staticmethod
    def platform_certificate(**validity: Any) -> tuple[rsa.RSAPrivateKey, str, bytes]:
        """A new platform key and its self-signed certificate: (key, serial, PEM)."""
        key = _rsa()
        serial, pem = self_signed_certificate(key, **validity)
        return key, serial, pem

    def providers(
        self, base_url: str = "http://127.0.0.1:9", http: httpx.AsyncClient | None = None
    ) -> PaymentProviders:
        adapters: dict[str, PaymentAdapter] = self.adapters(base_url, http)
        return PaymentProviders(adapters)

    # Signed notifications, one per provider; `**bad` changes a field after (or instead of) signing rightly.

    def notice(
        self, provider: str, order_no: str, amount: int, trade_no: str = "T-1", **bad: Any
    ) -> RawNotification:
        return getattr(self, f"_{provider}")(order_no, amount, trade_no, **bad)

    def _sandbox(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> RawNotification:
        params = signed_notification(
            order_no,
            trade_no,
            amount,
            bad.get("currency", "CNY"),
            bad.get("secret", self.sandbox_secret),
            status=bad.get("status", "SUCCESS"),
            timestamp=bad.get("timestamp"),
            payer=bad.get("extra", {}).get("payer"),
        )
        if bad.get("tamper"):
            params["amount"] = amount + 1
        return RawNotification(json.dumps(params).encode(), "application/json")

    def _epay(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> RawNotification:
        params = {
            "pid": bad.get("app_id", self.epay_pid),
            "trade_no": trade_no,
            "out_trade_no": order_no,
            "type": "alipay",
            "name": "Game key",
            "money": f"{amount // 100}.{amount % 100:02d}",
            "trade_status": bad.get("status", "TRADE_SUCCESS"),
            **bad.get("extra", {}),
        }
        params["sign"] = epay.sign(params, bad.get("secret", self.epay_key))
        params["sign_type"] = "MD5"
        if bad.get("tamper"):
            params["money"] = "0.01"
        return RawNotification(
            httpx.QueryParams(params).__str__().encode(), "application/x-www-form-urlencoded"
        )

    def _alipay(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> RawNotification:
        sent = datetime.fromtimestamp(bad.get("timestamp", time.time()), BEIJING)
        params = {
            "notify_time": sent.strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "app_id": bad.get("app_id", self.alipay_app_id),
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade_no,
            "out_trade_no": order_no,
            "total_amount": f"{amount // 100}.{amount % 100:02d}",
            "trade_status": bad.get("status", "TRADE_SUCCESS"),
            "subject": "Game key",
            **bad.get("extra", {}),
        }
        key = self.attacker_key if bad.get("wrong_key") else self.alipay_platform_key
        params["sign"] = keys.sign_sha256(key, alipay.notification_content(params))
        params["sign_type"] = "RSA2"
        if bad.get("tamper"):
            params["total_amount"] = "0.01"
        return RawNotification(
            httpx.QueryParams(params).__str__().encode(), "application/x-www-form-urlencoded"
        )

    def wechat_transaction(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> dict[str, Any]:
        return {
            "appid": bad.get("app_id", self.wechat_appid),
            "mchid": self.wechat_mchid,
            "out_trade_no": order_no,
            "transaction_id": trade_no,
            "trade_type": "NATIVE",
            "trade_state": bad.get("status", "SUCCESS"),
            "success_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
            "amount": {"total": amount, "payer_total": amount, "currency": bad.get("currency", "CNY")},
            **bad.get("extra", {}),
        }

    def wechat_sign(
        self,
        body: bytes,
        timestamp: int | None = None,
        key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
    ) -> dict[str, str]:
        stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), uuid.uuid4().hex
        signature = keys.sign_sha256(key or self.wechat_platform_key, wechatpay.message(stamp, nonce, body))
        return {
            "wechatpay-serial": serial or self.wechat_platform_serial,
            "wechatpay-signature": signature,
            "wechatpay-timestamp": stamp,
            "wechatpay-nonce": nonce,
            "content-type": "application/json",
        }

    def wechat_encrypt(self, plain: bytes, associated: str, key: str | None = None) -> dict[str, str]:
        """An AEAD_AES_256_GCM resource under the APIv3 key, the way WeChat Pay encrypts one."""
        nonce = os.urandom(6).hex()
        ciphertext = AESGCM((key or self.wechat_apiv3_key).encode()).encrypt(
            nonce.encode(), plain, associated.encode()
        )
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated,
            "nonce": nonce,
        }

    def wechat_certificates(
        self, certificates: list[tuple[str, bytes]], apiv3_key: str | None = None
    ) -> bytes:
        """A `GET /v3/certificates` answer body: each certificate encrypted under the APIv3 key."""
        now = datetime.now(BEIJING)
        data = [
            {
                "serial_no": serial,
                "effective_time": (now - timedelta(days=1)).isoformat(timespec="seconds"),
                "expire_time": (now + timedelta(days=365)).isoformat(timespec="seconds"),
                "encrypt_certificate": self.wechat_encrypt(pem, "certificate", apiv3_key),
            }
            for serial, pem in certificates
        ]
        return json.dumps({"data": data}).encode()

    def _wechatpay(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> RawNotification:
        plain = json.dumps(self.wechat_transaction(order_no, amount, trade_no, **bad)).encode()
        resource = self.wechat_encrypt(plain, "transaction")
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
                "event_type": "TRANSACTION.SUCCESS",
                "resource_type": "encrypt-resource",
                "resource": {**resource, "original_type": "transaction"},
            }
        ).encode()
        key = self.attacker_key if bad.get("wrong_key") else bad.get("platform_key")
        headers = self.wechat_sign(body, bad.get("timestamp"), key, bad.get("platform_serial"))
        if bad.get("tamper"):
            body = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
        if bad.get("serial"):
            headers["wechatpay-serial"] = bad["serial"]
        return RawNotification(body, "application/json", headers)

    def _stripe(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> RawNotification:
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": f"cs_test_{uuid.uuid4().hex}",
                    "object": "checkout.session",
                    "client_reference_id": order_no,
                    "metadata": {"order_no": order_no},
                    "amount_total": amount,
                    "currency": bad.get("currency", "cny"),
                    "payment_status": bad.get("status", "paid"),
                    "payment_intent": trade_no,
                    **bad.get("extra", {}),
                }
            },
        }
        if bad.get("intent"):
            event["type"] = "payment_intent.succeeded"
            event["data"] = {
                "object": self.stripe_intent(order_no, amount, trade_no, bad.get("currency", "cny"))
            }
        body = json.dumps(event).encode()
        stamp = int(bad.get("timestamp", time.time()))
        header = stripe.signature_header(body, bad.get("secret", self.stripe_webhook_secret), stamp)
        if bad.get("tamper"):
            body = body.replace(b'"amount_total": ', b'"amount_total": 1')
        return RawNotification(body, "application/json", {"stripe-signature": header})

    @staticmethod
    def stripe_intent(order_no: str, amount: int, intent_id: str, currency: str = "cny") -> dict[str, Any]:
        """The PaymentIntent our Checkout Session makes: the order number in its metadata."""
        return {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "status": "succeeded",
            "metadata": {"order_no": order_no},
        }

    def _usdt(self, order_no: str, amount: int, trade_no: str, **bad: Any) -> RawNotification:
        params: dict[str, Any] = {
            "trade_id": trade_no,
            "order_id": order_no,
            "amount": Decimal(amount).scaleb(-2),
            "actual_amount": Decimal("3.5"),
            "token": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
            "block_transaction_id": uuid.uuid4().hex,
            "status": bad.get("status", 2),
        }
        params["signature"] = epusdt.sign(params, bad.get("secret", self.usdt_token))
        if bad.get("tamper"):
            params["amount"] = Decimal("0.01")
        body = json.dumps({k: float(v) if isinstance(v, Decimal) else v for k, v in params.items()}).encode()
        return RawNotification(body, "application/json")


@pytest.fixture(scope="session")
def kit() -> ProviderKit:
    return ProviderKit()
