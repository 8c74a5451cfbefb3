import pytest
from faka_common.settings import ServiceSettings
from pydantic import ValidationError


def test_unset_environment_means_production_and_refuses_the_development_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        ServiceSettings(service_name="x")


def test_development_accepts_the_default_secrets_only_when_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    assert ServiceSettings(service_name="x").environment == "development"


def test_production_refuses_a_default_secret() -> None:
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        ServiceSettings(service_name="x", environment="production")


def test_production_starts_with_real_secrets() -> None:
    settings = ServiceSettings(service_name="x", environment="production", internal_token="a-real-one")
    assert settings.internal_token.get_secret_value() == "a-real-one"


def test_secrets_are_masked_in_repr() -> None:
    settings = ServiceSettings(service_name="x", internal_token="do-not-print")
    assert "do-not-print" not in repr(settings)
