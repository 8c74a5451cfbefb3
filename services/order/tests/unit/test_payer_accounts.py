"""What each provider's verified notification says of the payer, as risk's payment-account lists name it
(`<provider>:<account>`): Alipay's buyer id (or buyer open id), WeChat Pay's openid, Stripe's customer,
易支付's buyer, the sandbox's payer (signed); nothing when the notification names none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

ORDER_NO = "F20260101000000ABCDEF"

NAMED = [
    ("sandbox", {"payer": "stolen-1"}, "sandbox:stolen-1"),
    ("epay", {"buyer": "buyer-42"}, "epay:buyer-42"),
    ("alipay", {"buyer_id": "2088102177846875", "buyer_logon_id": "138****8000"}, "alipay:2088102177846875"),
    ("alipay", {"buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNd"}, "alipay:074a1CcTG1LelxKe4xQC0zgNd"),
    (
        "wechatpay",
        {"payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}},
        "wechatpay:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    ),
    ("stripe", {"customer": "cus_NffrFeUfNV2Hib"}, "stripe:cus_NffrFeUfNV2Hib"),
]


@pytest.mark.parametrize(("provider", "extra", "expected"), NAMED)
async def test_the_payer_a_verified_notification_names_is_its_payment_account(
    kit: Any, provider: str, extra: dict[str, Any], expected: str
) -> None:
    adapter = kit.adapters()[provider]
    notice = await adapter.verify(kit.notice(provider, ORDER_NO, 2599, "T-1", extra=extra), datetime.now(UTC))
    assert notice.payer_account == expected


@pytest.mark.parametrize("provider", ["sandbox", "epay", "alipay", "wechatpay", "stripe", "usdt"])
async def test_a_notification_naming_no_payer_has_none(kit: Any, provider: str) -> None:
    adapter = kit.adapters()[provider]
    notice = await adapter.verify(kit.notice(provider, ORDER_NO, 2599, "T-1"), datetime.now(UTC))
    assert notice.payer_account is None


async def test_a_payer_no_list_could_hold_is_no_payer(kit: Any) -> None:
    adapter = kit.adapters()["epay"]
    notice = await adapter.verify(
        kit.notice("epay", ORDER_NO, 2599, "T-1", extra={"buyer": "两个字"}), datetime.now(UTC)
    )
    assert notice.payer_account is None
