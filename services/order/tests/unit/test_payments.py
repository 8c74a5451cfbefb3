import json
import time
from datetime import UTC, datetime

import pytest
from faka_common.sandbox_payment import signed_notification
from order.domain.payments import BadNotification, PaymentNotice, check_matches, verify_sandbox

SECRET = "sandbox-secret"


def body(**overrides: object) -> bytes:
    params = signed_notification("F20250101000000ABCDEF", "T1", 2500, "CNY", SECRET)
    params.update(overrides)
    return json.dumps(params).encode()


def test_valid_notification_is_parsed() -> None:
    notice = verify_sandbox(body(), SECRET)
    assert notice == PaymentNotice("sandbox", "F20250101000000ABCDEF", "T1", 2500, "CNY")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (json.dumps({"order_no": "x"}).encode(), "missing"),
    ],
)
def test_malformed_bodies_are_400(raw: bytes, fragment: str) -> None:
    with pytest.raises(BadNotification, match=fragment) as caught:
        verify_sandbox(raw, SECRET)
    assert caught.value.status_code == 400


def test_forged_signature_is_rejected() -> None:
    with pytest.raises(BadNotification, match="signature"):
        verify_sandbox(body(amount=1), SECRET)
    with pytest.raises(BadNotification, match="signature"):
        verify_sandbox(body(), "another-secret")


def test_stale_and_future_timestamps_are_rejected() -> None:
    old = signed_notification("F1", "T1", 2500, "CNY", SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(BadNotification, match="stale"):
        verify_sandbox(json.dumps(old).encode(), SECRET)
    future = signed_notification("F1", "T1", 2500, "CNY", SECRET, timestamp=int(time.time()) + 301)
    with pytest.raises(BadNotification, match="stale"):
        verify_sandbox(json.dumps(future).encode(), SECRET)
    edge = signed_notification("F1", "T1", 2500, "CNY", SECRET, timestamp=1_000_000)
    notice = verify_sandbox(json.dumps(edge).encode(), SECRET, datetime.fromtimestamp(1_000_300, UTC))
    assert notice.trade_no == "T1"


def test_non_success_status_is_rejected() -> None:
    failed = signed_notification("F1", "T1", 2500, "CNY", SECRET, status="FAILED")
    with pytest.raises(BadNotification, match="FAILED"):
        verify_sandbox(json.dumps(failed).encode(), SECRET)


def test_amount_and_currency_must_match() -> None:
    notice = PaymentNotice("sandbox", "F1", "T1", 2500, "CNY")
    check_matches(notice, 2500, "CNY")
    with pytest.raises(BadNotification, match="amount"):
        check_matches(notice, 2501, "CNY")
    with pytest.raises(BadNotification, match="currency"):
        check_matches(notice, 2500, "USD")
