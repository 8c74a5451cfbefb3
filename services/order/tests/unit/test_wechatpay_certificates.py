"""WeChat Pay platform-certificate rotation, against an httpx MockTransport that plays `GET /v3/certificates`
with certificates the test generates: a notification is checked with the certificate its `Wechatpay-Serial`
names among several; the certificates are fetched (answer signature-checked, each decrypted with the APIv3
key), cached, refreshed once for an unknown serial, and an unknown serial is then rejected."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from order.adapters.payments import wechatpay
from order.adapters.payments.base import PaymentOrder, ProviderError, RawNotification
from order.domain.payments import BadNotification

ORDER_NO = "F20260101000000ABCDEF"
AMOUNT = 2599


@dataclass
class Cert:
    key: rsa.RSAPrivateKey
    serial: str
    pem: bytes


def new_cert(kit: Any, **validity: Any) -> Cert:
    return Cert(*kit.platform_certificate(**validity))


@dataclass
class Platform:
    """What WeChat Pay's /v3/certificates answers: `served` certificates, signed by `signer`."""

    kit: Any
    served: list[Cert]
    signer: Cert | None = None
    apiv3_key: str | None = None
    sign_with: rsa.RSAPrivateKey | None = None
    down: bool = False
    fetches: int = 0
    paths: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        assert request.headers["authorization"].startswith(wechatpay.AUTH_SCHEME + " ")
        if request.url.path != wechatpay.CERTIFICATES_PATH:
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": "no such path"})
        self.fetches += 1
        body = self.kit.wechat_certificates([(c.serial, c.pem) for c in self.served], self.apiv3_key)
        signer = self.signer or self.served[0]
        headers = self.kit.wechat_sign(body, key=self.sign_with or signer.key, serial=signer.serial)
        return httpx.Response(200, content=body, headers=headers)


def adapter(kit: Any, http: httpx.AsyncClient, pinned: bool = False, **options: Any) -> Any:
    return kit.wechat_adapter("https://api.mch.weixin.qq.com", http, pinned=pinned, **options)


def signed_by(kit: Any, cert: Cert, trade_no: str = "T-1", serial: str | None = None) -> RawNotification:
    return kit.notice(
        "wechatpay", ORDER_NO, AMOUNT, trade_no, platform_key=cert.key, platform_serial=serial or cert.serial
    )


async def verify(provider: Any, raw: RawNotification) -> Any:
    return await provider.verify(raw, datetime.now(UTC))


@pytest.fixture
async def http_for() -> Any:
    clients: list[httpx.AsyncClient] = []

    def make(platform: Platform) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.MockTransport(platform.handle))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_a_notification_is_checked_with_the_fetched_certificate_and_the_cache_is_reused(
    kit: Any, http_for: Any
) -> None:
    a = new_cert(kit)
    platform = Platform(kit, [a])
    provider = adapter(kit, http_for(platform))
    assert (await verify(provider, signed_by(kit, a, "T-1"))).trade_no == "T-1"
    assert (await verify(provider, signed_by(kit, a, "T-2"))).trade_no == "T-2"
    assert platform.fetches == 1
    assert provider.platform_serials == [a.serial]


async def test_a_rotated_certificate_is_fetched_once_and_both_are_then_accepted(
    kit: Any, http_for: Any
) -> None:
    old, new = new_cert(kit), new_cert(kit)
    platform = Platform(kit, [old])
    provider = adapter(kit, http_for(platform), refresh_cooldown=0)
    await verify(provider, signed_by(kit, old))
    platform.served = [old, new]
    platform.signer = new
    assert (await verify(provider, signed_by(kit, new, "T-new"))).trade_no == "T-new"
    assert (await verify(provider, signed_by(kit, old, "T-old"))).trade_no == "T-old"
    assert platform.fetches == 2
    assert sorted(provider.platform_serials) == sorted([old.serial, new.serial])


async def test_an_unknown_serial_triggers_one_refresh_then_is_rejected(kit: Any, http_for: Any) -> None:
    a, stranger = new_cert(kit), new_cert(kit)
    platform = Platform(kit, [a])
    provider = adapter(kit, http_for(platform), pinned=True)  # holds the settings' key, has fetched nothing
    await verify(provider, kit.notice("wechatpay", ORDER_NO, AMOUNT))
    assert platform.fetches == 0
    with pytest.raises(BadNotification, match="unknown platform certificate serial") as caught:
        await verify(provider, signed_by(kit, stranger))
    assert not caught.value.transient
    assert platform.fetches == 1
    assert a.serial in provider.platform_serials and stranger.serial not in provider.platform_serials
    # Within the cooldown, more unknown serials (even many at once) fetch nothing more.
    results = await asyncio.gather(
        *(verify(provider, signed_by(kit, stranger, f"T-{i}")) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, BadNotification) and not r.transient for r in results)
    assert platform.fetches == 1
    assert (await verify(provider, signed_by(kit, a, "T-a"))).trade_no == "T-a"
    assert platform.fetches == 1


async def test_concurrent_notifications_of_a_new_serial_share_one_fetch(kit: Any, http_for: Any) -> None:
    a = new_cert(kit)
    platform = Platform(kit, [a])
    provider = adapter(kit, http_for(platform))
    results = await asyncio.gather(*(verify(provider, signed_by(kit, a, f"T-{i}")) for i in range(8)))
    assert {r.trade_no for r in results} == {f"T-{i}" for i in range(8)}
    assert platform.fetches == 1


async def test_a_known_serial_with_another_key_is_a_bad_signature(kit: Any, http_for: Any) -> None:
    a = new_cert(kit)
    provider = adapter(kit, http_for(Platform(kit, [a])))
    forged = kit.notice(
        "wechatpay", ORDER_NO, AMOUNT, platform_key=kit.attacker_key, platform_serial=a.serial
    )
    with pytest.raises(BadNotification, match="bad signature"):
        await verify(provider, forged)


@pytest.mark.parametrize(
    ("case", "change", "says"),
    [
        ("forged answer signature", {"sign_with": "attacker"}, "not signed"),
        ("another APIv3 key", {"apiv3_key": "ffffffffffffffffffffffffffffffff"}, "does not decrypt"),
        ("serial_no is not the certificate's", {"mislabel": True}, "another serial"),
        ("only expired certificates", {"expired": True}, "no platform certificate that is valid"),
    ],
)
async def test_a_certificates_answer_that_does_not_check_out_is_not_trusted(
    kit: Any, http_for: Any, case: str, change: dict[str, Any], says: str
) -> None:
    a = (
        new_cert(kit, valid_from=datetime.now(UTC) - timedelta(days=400))
        if change.get("expired")
        else new_cert(kit)
    )
    platform = Platform(kit, [a], apiv3_key=change.get("apiv3_key"))
    if change.get("sign_with"):
        platform.sign_with = kit.attacker_key
    if change.get("mislabel"):
        platform.served = [Cert(a.key, "ABCDEF0123", a.pem)]
        platform.signer = platform.served[0]
    provider = adapter(kit, http_for(platform))
    with pytest.raises(ProviderError, match=says):
        await provider.refresh_certificates()
    assert provider.platform_serials == []
    with pytest.raises(BadNotification) as caught:
        await verify(provider, signed_by(kit, a))
    assert caught.value.transient and caught.value.order_no == ORDER_NO  # the reconciler asks instead


async def test_a_failed_refresh_keeps_the_cached_certificates(kit: Any, http_for: Any) -> None:
    a = new_cert(kit)
    platform = Platform(kit, [a])
    provider = adapter(kit, http_for(platform), certificate_ttl=0, refresh_cooldown=0)
    await verify(provider, signed_by(kit, a, "T-1"))
    platform.down = True
    assert (await verify(provider, signed_by(kit, a, "T-2"))).trade_no == "T-2"
    assert platform.paths.count(wechatpay.CERTIFICATES_PATH) == 2  # the expired cache was refreshed (tried)


async def test_a_pinned_platform_key_needs_no_fetch(kit: Any, http_for: Any) -> None:
    platform = Platform(kit, [], down=True)
    provider = adapter(kit, http_for(platform), pinned=True)
    raw = kit.notice("wechatpay", ORDER_NO, AMOUNT, "T-1")
    assert (await verify(provider, raw)).trade_no == "T-1"
    assert platform.paths == []


async def test_query_answers_signed_by_a_rotated_certificate_are_trusted_after_one_refresh(
    kit: Any,
) -> None:
    a, b = new_cert(kit), new_cert(kit)
    platform = Platform(kit, [a, b], signer=a)
    transaction = kit.wechat_transaction(ORDER_NO, AMOUNT, "T-9")

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == wechatpay.CERTIFICATES_PATH:
            return platform.handle(request)
        body = json.dumps(transaction).encode()
        return httpx.Response(200, content=body, headers=kit.wechat_sign(body, key=b.key, serial=b.serial))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        provider = adapter(kit, http)
        status = await provider.query(PaymentOrder(uuid.uuid4(), ORDER_NO, AMOUNT, "CNY", "Game key"))
    assert (status.state, status.trade_no, status.amount) == ("paid", "T-9", AMOUNT)
    assert platform.fetches == 1
