"""WeChat Pay API v3: Native (QR) orders, notifications checked against the platform certificate
(`Wechatpay-Signature` over "timestamp\\nnonce\\nbody\\n", `Wechatpay-Serial`, timestamp window) with the
resource decrypted by AES-256-GCM under the APIv3 key; query and refund with signed requests.

Platform certificates rotate: notifications and answers are checked with the certificate the
`Wechatpay-Serial` header names, among every platform certificate we hold. They come from
`GET /v3/certificates` (each `encrypt_certificate` decrypted with the APIv3 key, whose GCM tag proves it
came from WeChat Pay; the answer's own signature checked too) and are cached for `CERTIFICATE_TTL_SECONDS`.
A serial we do not know triggers one refresh (at most one per `refresh_cooldown` seconds, shared by
concurrent callers), then is rejected. A platform key given in settings (the "WeChat Pay public key" mode)
is always trusted too."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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
    RefundStatus,
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

log = logging.getLogger(__name__)

WECHATPAY = "wechatpay"
SUCCESS = "SUCCESS"
AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
CERTIFICATES_PATH = "/v3/certificates"
#: WeChat Pay advises fetching the platform certificates again about every 12 hours.
CERTIFICATE_TTL_SECONDS = 12 * 3600
REFRESH_COOLDOWN_SECONDS = 60.0
MAX_CERTIFICATES = 20


def message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def open_aes_gcm(resource: dict[str, Any], apiv3_key: str) -> bytes:
    """AEAD_AES_256_GCM with the APIv3 key, the resource's nonce and associated_data; ValueError when it
    does not decrypt (wrong key, tampered, malformed)."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise ValueError("algorithm must be AEAD_AES_256_GCM")
    try:
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        return AESGCM(apiv3_key.encode()).decrypt(
            str(resource["nonce"]).encode(), ciphertext, str(resource.get("associated_data") or "").encode()
        )
    except (KeyError, ValueError, InvalidTag) as error:
        raise ValueError("does not decrypt with our APIv3 key") from error


def decrypt_resource(resource: dict[str, Any], apiv3_key: str) -> dict[str, Any]:
    """A notification's resource, decrypted and read as a JSON object."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise BadNotification("resource algorithm must be AEAD_AES_256_GCM")
    try:
        decrypted = json.loads(open_aes_gcm(resource, apiv3_key))
    except ValueError as error:
        raise BadNotification("resource does not decrypt with our APIv3 key") from error
    if not isinstance(decrypted, dict):
        raise BadNotification("resource is not a JSON object")
    return decrypted


def serial_of(certificate: x509.Certificate) -> str:
    """A certificate's serial number the way WeChat Pay writes it: upper-case hex."""
    return format(certificate.serial_number, "X")


def same_serial(a: str, b: str) -> bool:
    return constant_time_equal(a.strip().upper().lstrip("0"), b.strip().upper().lstrip("0"))


@dataclass(frozen=True)
class PlatformCertificate:
    serial: str
    key: rsa.RSAPublicKey
    #: None for a key configured in settings (no certificate to say when it ends).
    not_after: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.not_after is None or now <= self.not_after


def read_certificates(body: dict[str, object], apiv3_key: str, now: datetime) -> list[PlatformCertificate]:
    """The platform certificates of a `GET /v3/certificates` answer: each decrypted with the APIv3 key, its
    serial checked against the certificate itself; expired or not yet valid ones left out. ProviderError when
    the answer is malformed or an entry does not decrypt (someone other than WeChat Pay wrote it)."""
    entries = body.get("data")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_CERTIFICATES:
        raise ProviderError("wechatpay certificates answer has no usable data list")
    found: list[PlatformCertificate] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("encrypt_certificate"), dict):
            raise ProviderError("wechatpay certificates answer has a malformed entry")
        serial = str(entry.get("serial_no") or "")
        try:
            pem = open_aes_gcm(entry["encrypt_certificate"], apiv3_key)
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as error:
            raise ProviderError(f"wechatpay certificate {serial[:64]!r} does not decrypt or parse") from error
        if not serial or not same_serial(serial, serial_of(certificate)):
            raise ProviderError(f"wechatpay certificate {serial[:64]!r} has another serial inside")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ProviderError(f"wechatpay certificate {serial[:64]!r} does not hold an RSA key")
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            log.info("wechatpay platform certificate %s is not valid now; left out", serial[:64])
            continue
        found.append(PlatformCertificate(serial_of(certificate), key, certificate.not_valid_after_utc))
    return found


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
        refresh_cooldown: float = REFRESH_COOLDOWN_SECONDS,
        certificate_ttl: float = CERTIFICATE_TTL_SECONDS,
    ) -> None:
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the WeChat Pay APIv3 key must be 32 bytes")
        if bool(platform_serial) != bool(platform_public_key):
            raise ValueError("a WeChat Pay platform key needs both its serial and its public key")
        self._api = api_url.rstrip("/")
        self._appid = appid
        self._mchid = mchid
        self._serial = merchant_serial
        self._private = keys.private_key(merchant_private_key, "wechatpay_private_key")
        #: A platform key from settings, trusted for good; the fetched certificates come and go.
        self._pinned = (
            PlatformCertificate(
                platform_serial, keys.public_key(platform_public_key, "wechatpay_platform_public_key")
            )
            if platform_serial
            else None
        )
        self._fetched: dict[str, PlatformCertificate] = {}
        self._fetched_at: float | None = None
        self._refresh_tried_at: float | None = None
        #: Why the last refresh failed (None when it succeeded): within the cooldown, an unknown serial is
        #: then "cannot check now" (transient), not "unknown".
        self._refresh_failed: str | None = None
        self._refresh_lock = asyncio.Lock()
        self._refresh_cooldown = refresh_cooldown
        self._certificate_ttl = certificate_ttl
        self.certificate_fetches = 0
        self._apiv3_key = apiv3_key
        self._notify_url = notify_url
        self._http = http
        self._window = window_seconds

    # Platform certificates.

    def _known(self, serial: str, now: datetime) -> PlatformCertificate | None:
        if self._pinned is not None and same_serial(serial, self._pinned.serial):
            return self._pinned
        for certificate in self._fetched.values():
            if same_serial(serial, certificate.serial) and certificate.valid_at(now):
                return certificate
        return None

    @property
    def platform_serials(self) -> list[str]:
        """The serials of the platform certificates held now (pinned first)."""
        return ([self._pinned.serial] if self._pinned else []) + list(self._fetched)

    async def platform_certificate(self, serial: str, now: datetime | None = None) -> PlatformCertificate:
        """The platform certificate named `serial`. A cache past its lifetime, or a serial not in it, makes
        one refresh from `GET /v3/certificates` (concurrent callers share it; an unknown serial refreshes
        at most once per cooldown). BadNotification when the serial is still unknown; ProviderError when
        WeChat Pay could not be asked."""
        at = now or datetime.now(UTC)
        stale = self._fetched_at is None or time.monotonic() - self._fetched_at >= self._certificate_ttl
        known = self._known(serial, at)
        if known is not None and not (stale and self._fetched):
            return known
        async with self._refresh_lock:
            known = self._known(serial, at)
            fresh = (
                self._fetched_at is not None and time.monotonic() - self._fetched_at < self._certificate_ttl
            )
            cooling = (
                self._refresh_tried_at is not None
                and time.monotonic() - self._refresh_tried_at < self._refresh_cooldown
            )
            if known is not None and (fresh or not self._fetched or cooling):
                return known
            if known is None and cooling:
                if self._refresh_failed is not None:
                    raise ProviderError(self._refresh_failed)
                raise BadNotification(f"unknown platform certificate serial {serial[:64]!r}")
            try:
                await self.refresh_certificates(at)
            except ProviderError:
                if known is not None:  # the cached certificate is still valid: keep using it
                    log.warning("wechatpay certificates could not be refreshed; using the cached ones")
                    return known
                raise
        known = self._known(serial, at)
        if known is None:
            raise BadNotification(f"unknown platform certificate serial {serial[:64]!r}")
        return known

    async def refresh_certificates(self, now: datetime | None = None) -> list[str]:
        """Fetch the platform certificates; the answer must be signed by one of them (or one we hold). The
        serials now held; the cache is replaced only by a fully checked answer."""
        at = now or datetime.now(UTC)
        self._refresh_tried_at = time.monotonic()
        self.certificate_fetches += 1
        try:
            serials = await self._fetch_certificates(at)
        except ProviderError as error:
            self._refresh_failed = error.message
            raise
        self._refresh_failed = None
        return serials

    async def _fetch_certificates(self, at: datetime) -> list[str]:
        response = await self._send("GET", CERTIFICATES_PATH)
        body = json_object(response, self.name)
        if response.status_code != 200:
            raise ProviderError(f"wechatpay certificates request failed: {str(body.get('message'))[:200]}")
        fetched = read_certificates(body, self._apiv3_key, at)
        if not fetched:
            raise ProviderError("wechatpay answered no platform certificate that is valid now")
        signer = response.headers.get("wechatpay-serial", "")
        candidates = {c.serial: c for c in fetched}
        self._check_response_signature(
            response,
            next((c for c in fetched if same_serial(signer, c.serial)), None) or self._known(signer, at),
        )
        self._fetched = candidates
        self._fetched_at = time.monotonic()
        log.info("wechatpay platform certificates now %s", sorted(candidates))
        return self.platform_serials

    def authorization(self, method: str, path: str, body: str, timestamp: int, nonce: str) -> str:
        text = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = keys.sign_sha256(self._private, text)
        return (
            f'{AUTH_SCHEME} mchid="{self._mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{self._serial}"'
        )

    async def _send(self, method: str, path: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":")) if payload is not None else ""
        headers = {
            "Authorization": self.authorization(method, path, body, int(time.time()), secrets.token_hex(16)),
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return await call(self._http, self.name, method, self._api + path, content=body, headers=headers)

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        """A signed request whose answer must carry a valid platform signature."""
        response = await self._send(method, path, payload)
        serial = response.headers.get("wechatpay-serial")
        certificate = None
        if serial:
            try:
                certificate = await self.platform_certificate(serial)
            except BadNotification:
                certificate = None
        self._check_response_signature(response, certificate)
        return response

    def _check_response_signature(
        self, response: httpx.Response, certificate: PlatformCertificate | None
    ) -> None:
        h = response.headers
        serial, signature = h.get("wechatpay-serial"), h.get("wechatpay-signature")
        timestamp, nonce = h.get("wechatpay-timestamp"), h.get("wechatpay-nonce")
        if not (serial and signature and timestamp and nonce):
            raise ProviderError("wechatpay answer carries no platform signature")
        if certificate is None or not keys.verify_sha256(
            certificate.key, message(timestamp, nonce, response.content), signature
        ):
            raise ProviderError("wechatpay answer is not signed by a platform certificate")

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

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        serial = notification.header("wechatpay-serial")
        signature = notification.header("wechatpay-signature")
        timestamp = notification.header("wechatpay-timestamp")
        nonce = notification.header("wechatpay-nonce")
        if not (serial and signature and timestamp and nonce):
            raise BadNotification("missing Wechatpay-Serial/-Signature/-Timestamp/-Nonce headers")
        if not timestamp.isdigit():
            raise BadNotification("Wechatpay-Timestamp must be unix seconds")
        try:
            certificate = await self.platform_certificate(serial, now)
        except ProviderError as unreachable:
            # The certificate cannot be fetched now: have the reconciler ask WeChat Pay about the order
            # (the resource decrypts only if WeChat Pay wrote it; the check only asks, never pays).
            raise BadNotification(
                f"platform certificate serial {serial[:64]!r} cannot be checked now ({unreachable.message})",
                transient=True,
                order_no=self._order_no_of(notification.body),
            ) from unreachable
        if not keys.verify_sha256(certificate.key, message(timestamp, nonce, notification.body), signature):
            raise BadNotification("bad signature")
        check_fresh(int(timestamp), now, self._window)
        envelope = forms.json_object(notification.body)
        resource = envelope.get("resource")
        if not isinstance(resource, dict):
            raise BadNotification("malformed notification: no resource")
        transaction = decrypt_resource(resource, self._apiv3_key)
        return self._payment(transaction)

    def _order_no_of(self, body: bytes) -> str | None:
        try:
            resource = forms.json_object(body).get("resource")
            if not isinstance(resource, dict):
                return None
            order_no = decrypt_resource(resource, self._apiv3_key).get("out_trade_no")
        except BadNotification:
            return None
        return str(order_no)[:64] if isinstance(order_no, str) and order_no else None

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
        payer = transaction.get("payer")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        return VerifiedPayment(
            self.name,
            str(transaction["out_trade_no"]),
            check_trade_no(str(transaction["transaction_id"])),
            int(amount["total"]),
            str(amount.get("currency") or "CNY"),
            payer_account=payment_account(self.name, openid),  # the payer's openid under our appid
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
            return ProviderStatus("paid", paid.trade_no, paid.amount, paid.currency, paid.payer_account)
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
        status: RefundStatus = "succeeded" if body.get("status") == SUCCESS else "pending"
        return RefundResult(refund_no, amount, status, str(body.get("refund_id") or "") or None)

    def ack(self, result: str) -> Ack:
        return Ack(b"", "application/json", 204)
