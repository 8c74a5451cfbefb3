import secrets

import pytest
from gateway.config import Settings
from pydantic import ValidationError

STRONG = {
    "environment": "production",
    "service_token": secrets.token_urlsafe(32),
    "sandbox_secret": secrets.token_urlsafe(32),
}


@pytest.mark.parametrize("setting", ["telegram_link_secret", "telegram_webhook_secret"])
def test_production_refuses_a_weak_telegram_secret_when_one_is_set(setting: str) -> None:
    with pytest.raises(ValidationError, match=f"{setting.upper()} is 6 characters long"):
        Settings(**STRONG, **{setting: "secret"})  # type: ignore[arg-type]


def test_production_starts_without_the_optional_telegram_secrets() -> None:
    settings = Settings(**STRONG)  # type: ignore[arg-type]
    assert settings.telegram_webhook_secret is None
