"""The platform's own provider credentials (its settings) are checked by the model a shop's payment channel is
checked by: a missing or malformed one refuses start-up, naming the setting, never echoing a secret."""

from __future__ import annotations

from typing import Any

import pytest
from faka_common.contracts.payment_channels import EpayCredentials, WechatPayCredentials
from order.config import Settings
from pydantic import ValidationError

EPAY = {"epay_url": "https://pay.example", "epay_pid": "1001", "epay_key": "platform-epay-key-7c1"}


def settings(**values: Any) -> Settings:
    return Settings(environment="development", **values)


def test_the_platforms_epay_settings_read_as_the_shops_epay_credentials() -> None:
    credentials = settings(payment_providers=["epay"], **EPAY).credentials("epay")
    assert credentials == EpayCredentials(url="https://pay.example", pid="1001", key="platform-epay-key-7c1")


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"epay_key": ""}, "EPAY_KEY"),
        ({"epay_url": "pay.example"}, "EPAY_URL"),
        ({"epay_pid": " "}, "EPAY_PID"),
    ],
)
def test_a_missing_or_malformed_platform_credential_refuses_start_naming_it(
    changed: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(payment_providers=["epay"], **{**EPAY, **changed})
    assert f"payment provider epay is enabled but {named}" in str(refused.value)
    assert "platform-epay-key-7c1" not in str(refused.value)


def test_a_shops_wechatpay_pin_needs_both_serial_and_key_as_the_platforms_does() -> None:
    with pytest.raises(ValidationError, match="platform_serial and platform_public_key"):
        WechatPayCredentials(
            appid="wx", mchid="1", merchant_serial="S", private_key="k", apiv3_key="v", platform_serial="P"
        )
    with pytest.raises(ValidationError, match="WECHATPAY_PLATFORM_SERIAL and WECHATPAY_PLATFORM_PUBLIC_KEY"):
        settings(wechatpay_platform_serial="P")
    wechatpay = {
        "wechatpay_appid": "wx", "wechatpay_mchid": "1", "wechatpay_merchant_serial": "S",
        "wechatpay_private_key": "k", "wechatpay_apiv3_key": "v", "wechatpay_platform_serial": "P",
    }  # fmt: skip
    with pytest.raises(ValidationError, match="wechatpay is enabled but set both platform_serial"):
        settings(payment_providers=["wechatpay"], **wechatpay)
