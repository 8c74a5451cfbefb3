import base64
import os
import secrets

import pytest
from inventory.config import Settings
from pydantic import SecretStr, ValidationError


def test_production_refuses_the_development_keyring() -> None:
    with pytest.raises(ValidationError, match="KEY_ENCRYPTION_KEYS"):
        Settings(environment="production", service_token=SecretStr(secrets.token_urlsafe(32)))


def test_production_refuses_the_development_fingerprint_secret() -> None:
    keys = "prod:" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ValidationError, match="KEY_FINGERPRINT_SECRET"):
        Settings(
            environment="production",
            service_token=SecretStr(secrets.token_urlsafe(32)),
            key_encryption_keys=SecretStr(keys),
        )


def test_real_secrets_build_a_keyring_with_the_chosen_active_key() -> None:
    keys = ",".join(f"{name}:{base64.b64encode(os.urandom(32)).decode()}" for name in ("k1", "k2"))
    settings = Settings(
        environment="production",
        service_token=SecretStr(secrets.token_urlsafe(32)),
        key_encryption_keys=SecretStr(keys),
        key_encryption_active="k1",
        key_fingerprint_secret=SecretStr(secrets.token_urlsafe(32)),
    )
    assert settings.keyring().active == "k1"
    assert settings.http_port == 8002
