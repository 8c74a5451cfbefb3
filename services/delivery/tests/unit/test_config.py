import pytest
from delivery.config import Settings


def test_the_outbound_allow_list_is_read_from_a_comma_separated_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOW_LIST", "127.0.0.1, 10.1.0.0/16,supplier.lab")
    settings = Settings(environment="development")
    assert settings.outbound_allow_list == ("127.0.0.1", "10.1.0.0/16", "supplier.lab")
    policy = settings.outbound()
    assert "supplier.lab" in policy.allowed_hosts and not policy.require_https


def test_production_takes_only_https_supplier_urls() -> None:
    assert Settings(environment="development").outbound().require_https is False
    assert Settings.model_construct(environment="production").outbound().require_https
