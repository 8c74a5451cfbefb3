import base64
import os
import secrets

import pytest
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING
from faka_common.sandbox_payment import DEV_SANDBOX_SECRET
from faka_common.service_auth import development_token
from faka_common.settings import ConsumerWaitMs, KeyRingSettings, ServiceSettings
from pydantic import TypeAdapter, ValidationError

DEV_TOKEN = development_token("x")
DEV_KEY = base64.b64decode(DEV_KEYRING.partition(":")[2])


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def production(**secrets_: str) -> ServiceSettings:
    return ServiceSettings(service_name="x", environment="production", **secrets_)  # type: ignore[arg-type]


def keyring_service(keys: str, environment: str = "production") -> KeyRingSettings:
    return KeyRingSettings(
        service_name="x",
        environment=environment,  # type: ignore[arg-type]
        service_token=secrets.token_urlsafe(32),  # type: ignore[arg-type]
        key_fingerprint_secret=secrets.token_urlsafe(32),  # type: ignore[arg-type]
        key_encryption_keys=keys,  # type: ignore[arg-type]
    )


def test_unset_environment_means_production_and_refuses_the_development_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="SERVICE_TOKEN"):
        ServiceSettings(service_name="x")


def test_development_accepts_the_default_secrets_only_when_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    assert ServiceSettings(service_name="x").environment == "development"


@pytest.mark.parametrize("environment", ["production", "test"])
def test_production_and_test_refuse_a_default_secret(environment: str) -> None:
    with pytest.raises(ValidationError, match="SERVICE_TOKEN is a development value"):
        ServiceSettings(service_name="x", environment=environment)  # type: ignore[arg-type]


@pytest.mark.parametrize("environment", ["production", "test"])
def test_production_and_test_start_with_strong_secrets(environment: str) -> None:
    token = secrets.token_urlsafe(32)
    settings = ServiceSettings(service_name="x", environment=environment, service_token=token)  # type: ignore[arg-type]
    assert settings.service_token.get_secret_value() == token


@pytest.mark.parametrize(
    "generated",
    [secrets.token_hex(16), secrets.token_urlsafe(24), new_key(), "correct-horse-battery-staple-2026"],
    ids=["token_hex(16)", "token_urlsafe(24)", "base64 of 32 bytes", "long passphrase"],
)
def test_secrets_made_the_usual_ways_are_accepted(generated: str) -> None:
    assert production(service_token=generated).service_token.get_secret_value() == generated


@pytest.mark.parametrize(
    "dressed",
    [
        DEV_TOKEN + " ",
        "\t" + DEV_TOKEN + "\n",
        DEV_TOKEN.upper(),
        f'"{DEV_TOKEN}"',
        f"'{DEV_TOKEN}'",
        base64.b64encode(DEV_TOKEN.encode()).decode(),
        base64.urlsafe_b64encode(DEV_TOKEN.encode()).decode().rstrip("="),
        DEV_TOKEN.encode().hex(),
        DEV_TOKEN.encode().hex().upper(),
        DEV_TOKEN.replace("-", "%2D"),
        base64.b64encode(DEV_TOKEN.encode().hex().encode()).decode(),
        f"prod-{DEV_TOKEN}-2026-rotated",
        DEV_FINGERPRINT_SECRET,
        DEV_SANDBOX_SECRET + "-but-longer-now",
        DEV_KEY.decode(),
        DEV_KEYRING,
        development_token("gateway"),
    ],
    ids=[
        "trailing space",
        "tab and newline",
        "upper case",
        "double quotes",
        "single quotes",
        "base64",
        "url-safe base64 unpadded",
        "hex",
        "upper-case hex",
        "url-encoded",
        "base64 of hex",
        "padded to length",
        "another setting's default",
        "another service's default",
        "development key as text",
        "development keyring",
        "another service's development token",
    ],
)
def test_production_refuses_a_development_value_however_it_is_dressed(dressed: str) -> None:
    with pytest.raises(ValidationError, match="SERVICE_TOKEN is a development value"):
        production(service_token=dressed)


@pytest.mark.parametrize(
    ("weak", "reason"),
    [
        ("x", "SERVICE_TOKEN is 1 characters long; at least 32"),
        ("a-real-one", "SERVICE_TOKEN is 10 characters long"),
        ("a" * 64, "SERVICE_TOKEN has too little entropy"),
        ("Aa1!" * 10, "SERVICE_TOKEN has too little entropy"),
        ("password1234" * 3, "SERVICE_TOKEN repeats a shorter pattern"),
        ("abcdefghijklmnopqrstuvwxyz0123456789", "SERVICE_TOKEN is mostly a run of consecutive characters"),
        ("please-change-me-before-going-live-2026", "SERVICE_TOKEN holds a placeholder"),
    ],
)
def test_production_refuses_a_short_or_low_entropy_secret(weak: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        production(service_token=weak)


def test_every_refused_setting_is_named_in_one_start_up_error() -> None:
    with pytest.raises(ValidationError) as refused:
        KeyRingSettings(service_name="x", environment="production")
    message = str(refused.value)
    for name in ("SERVICE_TOKEN", "KEY_ENCRYPTION_KEYS", "KEY_FINGERPRINT_SECRET"):
        assert name in message
    assert "secrets.token_urlsafe" in message


def test_a_refused_secret_is_not_echoed_in_the_error() -> None:
    secret_tail = "Zq8-unique-tail-of-the-secret"
    with pytest.raises(ValidationError) as refused:
        production(service_token=f"{DEV_TOKEN}-{secret_tail}")
    assert secret_tail[-12:] not in str(refused.value)


@pytest.mark.parametrize(
    "keys",
    [
        f"prod:{base64.b64encode(DEV_KEY).decode()}",
        f"2026-12:{new_key()},old:{base64.b64encode(DEV_KEY).decode()}",
        f"prod:{base64.b64encode(DEV_KEY).decode()} ",
        f"prod:{base64.b64encode(DEV_KEY.upper()).decode()}",
    ],
    ids=["under another id", "as an old key beside a real one", "with a trailing space", "upper-cased text"],
)
def test_production_refuses_the_development_key_material_under_any_id(keys: str) -> None:
    with pytest.raises(ValidationError, match="KEY_ENCRYPTION_KEYS holds the development key"):
        keyring_service(keys)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (bytes(32), "has too little entropy"),
        (b"correct-horse-battery-staple-xyz", "has too little entropy"),
        (b"Tr0ub4dor&3-ZX-qwerty-PLMOKN-9u!", "is printable text, not 32 random bytes"),
        (os.urandom(16), "is 16 bytes; AES-256 needs 32"),
    ],
)
def test_production_refuses_a_weak_keyring_key(key: bytes, reason: str) -> None:
    with pytest.raises(ValidationError, match=f"KEY_ENCRYPTION_KEYS key 'prod' {reason}"):
        keyring_service(f"prod:{base64.b64encode(key).decode()}")


def test_a_real_keyring_starts_and_seals_with_its_last_key() -> None:
    settings = keyring_service(f"old:{new_key()},new:{new_key()}")
    assert settings.keyring().active == "new"


def test_a_malformed_keyring_is_refused_at_start_up_in_every_environment() -> None:
    with pytest.raises(ValidationError, match="KEY_ENCRYPTION_KEYS / KEY_ENCRYPTION_ACTIVE: key 'k' must"):
        keyring_service(f"k:{base64.b64encode(os.urandom(8)).decode()}", environment="development")


def test_secrets_are_masked_in_repr() -> None:
    settings = ServiceSettings(service_name="x", service_token="do-not-print")
    assert "do-not-print" not in repr(settings)


def test_production_refuses_one_secret_used_for_two_settings() -> None:
    shared = secrets.token_urlsafe(32)
    with pytest.raises(ValidationError, match="KEY_FINGERPRINT_SECRET is the same secret as SERVICE_TOKEN"):
        KeyRingSettings(
            service_name="x",
            environment="production",
            service_token=shared,  # type: ignore[arg-type]
            key_fingerprint_secret=shared + " ",  # type: ignore[arg-type]
            key_encryption_keys=f"k1:{new_key()}",  # type: ignore[arg-type]
        )


def test_a_consumers_wait_is_none_or_up_to_five_seconds_in_milliseconds() -> None:
    wait = TypeAdapter(ConsumerWaitMs)
    assert wait.validate_python(0) == 0 and wait.validate_python(5000) == 5000
    for refused in (-1, 5001):
        with pytest.raises(ValidationError):
            wait.validate_python(refused)
