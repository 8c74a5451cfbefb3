"""Every provider adapter's verification, with keys the test generates: a valid notification passes; a
tampered field, a wrong key, a stale timestamp, another merchant/app id or a non-success status is refused
by `verify` itself (which touches nothing)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from order.adapters.payments.base import RawNotification
from order.domain.payments import BadNotification, VerifiedPayment, major_units, minor_units

ORDER_NO = "F20260101000000ABCDEF"
AMOUNT = 2599
STALE = time.time() - 3600
#: Alipay re-sends for about 25 hours, so its notify_time may be that old (alipay.NOTIFY_WINDOW_SECONDS).
ALIPAY_STALE = time.time() - 27 * 3600

VALID = [
    ("sandbox", "CNY"),
    ("epay", "CNY"),
    ("alipay", "CNY"),
    ("wechatpay", "CNY"),
    ("stripe", "CNY"),
    ("usdt", "CNY"),
]

# (provider, case, what the notification gets wrong, what the refusal says)
REJECTED: list[tuple[str, str, dict[str, Any], str]] = [
    ("sandbox", "tampered", {"tamper": True}, "signature"),
    ("sandbox", "wrong key", {"secret": "not-the-secret"}, "signature"),
    ("sandbox", "stale", {"timestamp": int(STALE)}, "stale"),
    ("sandbox", "not paid", {"status": "FAILED"}, "status"),
    ("epay", "tampered", {"tamper": True}, "signature"),
    ("epay", "wrong key", {"secret": "not-the-key"}, "signature"),
    ("epay", "other merchant", {"app_id": "9999"}, "pid"),
    ("epay", "not paid", {"status": "TRADE_CLOSED"}, "trade_status"),
    ("alipay", "tampered", {"tamper": True}, "signature"),
    ("alipay", "wrong key", {"wrong_key": True}, "signature"),
    ("alipay", "stale", {"timestamp": ALIPAY_STALE}, "stale"),
    ("alipay", "other app", {"app_id": "2021999999999999"}, "app_id"),
    ("alipay", "not paid", {"status": "WAIT_BUYER_PAY"}, "trade_status"),
    ("wechatpay", "tampered", {"tamper": True}, "signature"),
    ("wechatpay", "wrong key", {"wrong_key": True}, "signature"),
    ("wechatpay", "stale", {"timestamp": int(STALE)}, "stale"),
    ("wechatpay", "other app", {"app_id": "wx9999999999999999"}, "appid"),
    ("wechatpay", "not paid", {"status": "NOTPAY"}, "trade_state"),
    ("stripe", "tampered", {"tamper": True}, "signature"),
    ("stripe", "wrong key", {"secret": "whsec_other"}, "signature"),
    ("stripe", "stale", {"timestamp": STALE}, "stale"),
    ("stripe", "not paid", {"status": "unpaid"}, "payment_status"),
    ("usdt", "tampered", {"tamper": True}, "signature"),
    ("usdt", "wrong key", {"secret": "not-the-token"}, "signature"),
    ("usdt", "not paid", {"status": 1}, "status"),
]


@pytest.mark.parametrize(("provider", "currency"), VALID)
async def test_a_valid_notification_is_verified(kit: Any, provider: str, currency: str) -> None:
    adapter = kit.adapters()[provider]
    notice = await adapter.verify(kit.notice(provider, ORDER_NO, AMOUNT, "T-42"), datetime.now(UTC))
    assert notice == VerifiedPayment(provider, ORDER_NO, "T-42", AMOUNT, currency)


@pytest.mark.parametrize(
    ("provider", "case", "bad", "says"), REJECTED, ids=[f"{p}-{c}" for p, c, _, _ in REJECTED]
)
async def test_a_bad_notification_is_refused(
    kit: Any, provider: str, case: str, bad: dict[str, Any], says: str
) -> None:
    adapter = kit.adapters()[provider]
    with pytest.raises(BadNotification, match=says) as caught:
        await adapter.verify(kit.notice(provider, ORDER_NO, AMOUNT, **bad), datetime.now(UTC))
    assert caught.value.status_code == 400
    assert not caught.value.transient


@pytest.mark.parametrize("provider", ["epay", "alipay", "wechatpay", "stripe", "usdt"])
async def test_garbage_bodies_are_refused_clearly(kit: Any, provider: str) -> None:
    adapter = kit.adapters()[provider]
    for body in (b"", b"\xff\xfe", b"<xml/>", b"[1]"):
        with pytest.raises(BadNotification):
            await adapter.verify(RawNotification(body, "text/plain", {}), datetime.now(UTC))


async def test_an_unknown_wechat_serial_is_transient_while_certificates_cannot_be_fetched(kit: Any) -> None:
    """WeChat Pay unreachable (a transport that refuses every request): the order is queued for the
    reconciler, named by the resource (which decrypts only under our APIv3 key)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        adapter = kit.adapters("https://api.mch.weixin.qq.com", http)["wechatpay"]
        with pytest.raises(BadNotification, match="serial") as caught:
            await adapter.verify(
                kit.notice("wechatpay", ORDER_NO, AMOUNT, serial="ROTATED02"), datetime.now(UTC)
            )
    assert caught.value.transient and caught.value.order_no == ORDER_NO


async def test_stripe_accepts_any_of_several_v1_signatures(kit: Any) -> None:
    adapter = kit.adapters()["stripe"]
    raw = kit.notice("stripe", ORDER_NO, AMOUNT)
    header = raw.headers["stripe-signature"]
    stamp, good = header.split(",")
    rotated = type(raw)(raw.body, raw.content_type, {"stripe-signature": f"{stamp},v1={'0' * 64},{good}"})
    assert (await adapter.verify(rotated, datetime.now(UTC))).amount == AMOUNT


def test_epay_and_alipay_amounts_are_read_as_exact_decimals(kit: Any) -> None:
    assert [minor_units(v, "x") for v in ("25.00", "0.01", "25", "1e1")] == [2500, 1, 2500, 1000]
    for bad in ("0.001", "-1", "NaN", "abc", ""):
        with pytest.raises(BadNotification):
            minor_units(bad, "x")
    assert [major_units(v) for v in (2500, 1, 0, 123456)] == ["25.00", "0.01", "0.00", "1234.56"]
