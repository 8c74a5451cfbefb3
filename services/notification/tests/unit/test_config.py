import base64
import os

import pytest
from notification.config import Settings
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://[::1]:8080/hook", "::1 is a loopback address"),
        ("http://metadata.google.internal/", "metadata host"),
        ("gopher://93.184.216.34/", "http(s) URL"),
    ],
)
def test_a_seller_webhook_at_an_internal_address_refuses_to_start(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(seller_webhook_url=url, seller_webhook_secret="whsec-test")
    assert "SELLER_WEBHOOK_URL" in str(refused.value)
    assert reason in str(refused.value)


def test_a_lab_webhook_named_in_the_allow_list_is_accepted() -> None:
    settings = Settings(
        seller_webhook_url="http://10.1.2.3:9000/hook",
        seller_webhook_secret="whsec-test",
        outbound_allow_list="10.1.0.0/16",
    )
    assert settings.seller_webhook_url == "http://10.1.2.3:9000/hook"


#: What production needs besides the setting under test (the keyring seals the shops' channel secrets).
PRODUCTION = {
    "environment": "production",
    "service_token": "Lq3v9X0s-a-real-internal-token-Zt7",
    "key_encryption_keys": "k1:" + base64.b64encode(os.urandom(32)).decode(),
    "key_fingerprint_secret": "Fp4c-Hy8Wq2Ln6Tz0Rx3Vb7Mk1Sd5Gj9Ea",
}


def test_production_takes_only_https_webhooks() -> None:
    with pytest.raises(ValidationError, match="SELLER_WEBHOOK_URL must use https in production"):
        Settings(
            **PRODUCTION,
            seller_webhook_url="http://93.184.216.34/hook",
            seller_webhook_secret="whsec-Vb8t2Qm4Lx7Nc0Rk5Hp9Wd3Fj6Zs1Ga",
        )


def test_production_refuses_a_short_seller_webhook_secret() -> None:
    with pytest.raises(ValidationError, match="SELLER_WEBHOOK_SECRET is 10 characters long"):
        Settings(
            **PRODUCTION,
            seller_webhook_url="https://93.184.216.34/hook",
            seller_webhook_secret="whsec-test",
        )


def test_production_refuses_to_seal_shop_secrets_with_the_development_keyring() -> None:
    without_keyring = {k: v for k, v in PRODUCTION.items() if k != "key_encryption_keys"}
    with pytest.raises(ValidationError, match="KEY_ENCRYPTION_KEYS holds the development key"):
        Settings(**without_keyring)
