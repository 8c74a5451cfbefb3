"""The settings base every service extends; outside development it refuses weak and development secrets."""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from itertools import pairwise
from typing import Annotated, ClassVar, Literal, Self
from urllib.parse import unquote

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing, KeyRingError, parse_keys
from faka_common.messaging.security import KafkaSettings
from faka_common.sandbox_payment import DEV_SANDBOX_SECRET
from faka_common.service_auth import (
    CALLER_NAME,
    DIGEST,
    SERVICES,
    ServiceCredential,
    development_callers,
    development_token,
    token_digest,
)

MIN_SECRET_LENGTH = 32
# Shannon estimate over a secret's characters: `secrets.token_hex(16)` (32 hex digits) measures about 115
# bits and never below 90 in 200,000 draws; 32 characters from a handful of symbols measure 64 or less.
MIN_SECRET_BITS = 80
PLACEHOLDERS = ("change-me", "changeme", "change_me")
NEW_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
NEW_KEY = "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"

#: Milliseconds a consumer may wait so that records share a fetch (`gather`) or a transaction (`linger`):
#: none, or up to five seconds. Each setting of this type says whose records can wait that long.
ConsumerWaitMs = Annotated[int, Field(ge=0, le=5000)]


class ServiceSettings(KafkaSettings):
    """Read from the environment (12-factor); each service adds its own fields."""

    # hide_input_in_errors: a refused setting's error would otherwise print part of the input, secrets too
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, hide_input_in_errors=True)

    #: Secret fields that hold a keyring (`id:base64key,...`): checked on their decoded key material.
    keyring_fields: ClassVar[frozenset[str]] = frozenset()

    service_name: str
    environment: Literal["development", "test", "production"] = Field(
        default="production",
        description="production unless said otherwise: the development secret defaults are accepted only "
        "with ENVIRONMENT=development; test checks secrets like production but allows the sandbox provider",
    )
    database_url: str = "postgresql://postgres@127.0.0.1:15432/postgres"
    redis_url: str = "redis://127.0.0.1:16379/0"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    service_token: SecretStr = Field(
        default_factory=lambda data: SecretStr(development_token(data.get("service_name", ""))),
        description="This service's own credential on internal calls (X-Internal-Token, sent with "
        "X-Internal-Caller: SERVICE_NAME); each service has its own. Development: derived from the name",
    )
    internal_callers: dict[str, str] | None = Field(
        default=None,
        description="The services whose internal calls this one accepts, each with the SHA-256 hex digest "
        'of its SERVICE_TOKEN, as JSON: {"gateway": "<printf %s $TOKEN | sha256sum>"}; a route admits '
        "only the callers it names. Unset: every service's development token in development, nobody "
        "elsewhere",
    )
    run_migrations: bool = Field(
        default=True,
        description="Migrate the service's database at start-up. Off where a migration Job does it "
        "(Kubernetes, components/migrations): the service then waits until its schema is there",
    )
    dependency_wait_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a starting service waits for Postgres or Kafka to come back before it exits",
    )
    migration_wait_seconds: float = Field(
        default=600.0, gt=0, description="How long a service with RUN_MIGRATIONS off waits for its schema"
    )
    kafka_create_topics: bool = Field(
        default=True,
        description="Create missing topics at start-up with their partition counts (off where an operator, "
        "e.g. Strimzi, manages the topics)",
    )
    consumer_stall_seconds: float = Field(
        default=120.0, gt=0, description="Readiness fails when a consumer has records waiting this long"
    )
    consumer_lag_sample_seconds: float = Field(default=5.0, gt=0)
    consumer_batch_size: int = Field(
        default=50,
        ge=1,
        description="Records a consumer handles in one transaction (1 = one per transaction); only for "
        "consumers whose handlers' whole effect is in the database",
    )
    consumer_concurrency: int = Field(
        default=8,
        ge=1,
        description="Keys a consumer with outside effects (emails) handles side by side, each record in "
        "its own transaction, each key's records in order",
    )
    outbox_keep_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long a published outbox row is kept (at least a restore's replay window, "
        "`make restore`'s --replay-minutes); unpublished rows always are",
    )
    inbox_keep_days: float = Field(
        default=14.0,
        gt=0,
        description="How long a consumer's claim of a handled message is kept: longer than its topic keeps "
        "the message (7 days), or a record read again after that would be handled twice",
    )
    retention_sweep_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the relay's leader removes what the two above no longer keep",
    )
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str | None = None
    api_docs: bool = Field(
        default=False,
        description="Serve /docs, /redoc and /openapi.json in production too (always served elsewhere)",
    )

    def development_secrets(self) -> dict[str, str]:
        """Secret fields and their development defaults; services extend this."""
        return {"service_token": development_token(self.service_name)}

    def credential(self) -> ServiceCredential:
        """What this service presents when it calls another's internal routes (a secret mounted from a file
        often ends in a newline, which no header can carry)."""
        return ServiceCredential(self.service_name, self.service_token.get_secret_value().strip())

    def caller_digests(self) -> dict[str, str]:
        """The callers this service knows, each with the digest of its token."""
        if self.internal_callers is not None:
            return {name: digest.lower() for name, digest in self.internal_callers.items()}
        return development_callers() if self.environment == "development" else {}

    def optional_secrets(self) -> tuple[str, ...]:
        """Secret fields without a default that the operator generates; checked like the others when set."""
        return ()

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Self:
        if self.environment == "development":
            return self
        development = development_readings(
            [
                *self.development_secrets().values(),
                *map(development_token, SERVICES),
                DEV_KEYRING,
                DEV_FINGERPRINT_SECRET,
                DEV_SANDBOX_SECRET,
            ]
        )
        problems = []
        holders: dict[str, str] = {}
        for field in [*self.development_secrets(), *self.optional_secrets()]:
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            weakness = keyring_weakness if field in self.keyring_fields else secret_weakness
            problem = weakness(value, development)
            if problem:
                problems.append(f"{field.upper()} {problem}")
            elif (first := holders.setdefault(value.strip(), field)) != field:
                # one leaked secret must not open a second door (an admin key that is the internal token)
                problems.append(f"{field.upper()} is the same secret as {first.upper()}; each needs its own")
        if problems:
            raise ValueError(
                f"refusing to start with ENVIRONMENT={self.environment}: {'; '.join(problems)}. "
                f"A new secret: {NEW_SECRET}; a new keyring key: {NEW_KEY}"
            )
        return self

    @model_validator(mode="after")
    def _callers_are_sound(self) -> Self:
        problems = []
        for name, digest in (self.internal_callers or {}).items():
            if not CALLER_NAME.match(name):
                problems.append(f"{name!r} is not a service name (lower-case letters, digits, - and _)")
            elif not DIGEST.match(digest.lower()):
                problems.append(f"{name}'s verifier is not a SHA-256 hex digest (64 hex digits)")
        if not problems and self.environment != "development":
            own = token_digest(self.credential().token)
            development = {digest: name for name, digest in development_callers().items()}
            seen: dict[str, str] = {}
            for name, digest in self.caller_digests().items():
                if digest in development:
                    problems.append(f"{name}'s digest is that of {development[digest]}'s development token")
                elif digest == own:
                    problems.append(f"{name}'s digest is that of this service's own SERVICE_TOKEN")
                elif (first := seen.setdefault(digest, name)) != name:
                    problems.append(f"{name} and {first} have the same token")
        if problems:
            raise ValueError(f"INTERNAL_CALLERS: {'; '.join(problems)}; each service needs its own token")
        return self


class KeyRingSettings(ServiceSettings):
    """Settings of a service that seals or opens card keys."""

    keyring_fields: ClassVar[frozenset[str]] = frozenset({"key_encryption_keys"})

    key_encryption_keys: SecretStr = Field(
        default=SecretStr(DEV_KEYRING),
        description="`id:base64key,...`: AES-256 keys (32 random bytes each) by key id; the last one seals",
    )
    key_encryption_active: str | None = Field(default=None, description="The key id that seals instead")
    key_fingerprint_secret: SecretStr = SecretStr(DEV_FINGERPRINT_SECRET)

    def development_secrets(self) -> dict[str, str]:
        return {
            **super().development_secrets(),
            "key_encryption_keys": DEV_KEYRING,
            "key_fingerprint_secret": DEV_FINGERPRINT_SECRET,
        }

    @model_validator(mode="after")
    def _keyring_opens(self) -> Self:
        try:
            self.keyring()
        except KeyRingError as error:
            raise ValueError(f"KEY_ENCRYPTION_KEYS / KEY_ENCRYPTION_ACTIVE: {error}") from error
        return self

    def keyring(self) -> KeyRing:
        return KeyRing.parse(
            self.key_encryption_keys.get_secret_value(),
            self.key_fingerprint_secret.get_secret_value(),
            active=self.key_encryption_active,
        )


def readings(value: str, depth: int = 2) -> set[str]:
    """How a value reads with surrounding spaces and quotes dropped, case folded, and URL-, base64- or
    hex-decoded (up to `depth` layers deep): the ways a development value can be dressed."""
    core = value.strip().strip("\"'`").strip()
    out = {core.casefold()}
    if depth:
        for decoded in decodings(core):
            out |= readings(decoded, depth - 1)
    return out


def decodings(text: str) -> list[str]:
    """`text` decoded by every encoding it is valid in (bytes that are not UTF-8 read as Latin-1)."""
    out = [unquote(text)] if "%" in text else []
    padded = text + "=" * (-len(text) % 4)
    raw: list[bytes] = []
    for altchars in (None, b"-_"):
        with suppress(binascii.Error, ValueError):
            raw.append(base64.b64decode(padded, altchars=altchars, validate=True))
    with suppress(ValueError):
        raw.append(bytes.fromhex(text))
    for data in raw:
        try:
            out.append(data.decode())
        except UnicodeDecodeError:
            out.append(data.decode("latin-1"))
    return [decoded for decoded in out if decoded and decoded != text]


def development_readings(values: Iterable[str]) -> frozenset[str]:
    """Every reading of the development values, and of each key inside a development keyring."""
    out: set[str] = set()
    for value in values:
        out |= readings(value)
        for item in value.split(","):
            key = item.partition(":")[2]
            if key:
                out |= readings(key)
    return frozenset(reading for reading in out if reading)


def is_development(value: str, development: frozenset[str]) -> bool:
    mine = readings(value)
    return bool(mine & development) or any(
        known in reading for reading in mine for known in development if len(known) >= 16
    )


def secret_weakness(value: str, development: frozenset[str]) -> str | None:
    """Why `value` is not fit to be a production secret, or None."""
    if is_development(value, development):
        return "is a development value (compared ignoring spaces, quotes, case and URL/base64/hex encoding)"
    if any(marker in reading for reading in readings(value) for marker in PLACEHOLDERS):
        return "holds a placeholder ('change-me')"
    core = value.strip()
    if len(core) < MIN_SECRET_LENGTH:
        return f"is {len(core)} characters long; at least {MIN_SECRET_LENGTH} are needed"
    if len(set(core)) < 8 or shannon_bits(core) < MIN_SECRET_BITS:
        return "has too little entropy (too few different characters)"
    if repeats_a_pattern(core):
        return "repeats a shorter pattern"
    if mostly_consecutive(core):
        return "is mostly a run of consecutive characters"
    return None


def keyring_weakness(spec: str, development: frozenset[str]) -> str | None:
    """Why the keyring `spec` is not fit for production, judged on each key's decoded material, or None."""
    try:
        keys = parse_keys(spec)
    except KeyRingError as error:
        return f"is not a keyring: {error}"
    for key_id, key in keys.items():
        if is_development(key.decode("latin-1"), development):
            return f"holds the development key (as key {key_id!r})"
        if len(key) != 32:
            return f"key {key_id!r} is {len(key)} bytes; AES-256 needs 32 random bytes"
        if len(set(key)) < 16:
            return f"key {key_id!r} has too little entropy (too few different bytes)"
        if all(0x20 <= byte < 0x7F for byte in key):
            return f"key {key_id!r} is printable text, not 32 random bytes"
    return None


def shannon_bits(text: str) -> float:
    """The Shannon estimate of `text`'s information, in bits, from its own character frequencies."""
    counts = Counter(text).values()
    return -sum(count * math.log2(count / len(text)) for count in counts)


def repeats_a_pattern(text: str) -> bool:
    """Whether `text` is a shorter unit repeated (at least twice over), like `abcdabcdabcd`."""
    return any(
        all(text[i] == text[i + period] for i in range(len(text) - period))
        for period in range(1, len(text) // 2 + 1)
    )


def mostly_consecutive(text: str) -> bool:
    """Whether three quarters of neighbouring characters are equal or one apart, like `abcdef0123`."""
    close = sum(abs(ord(a) - ord(b)) <= 1 for a, b in pairwise(text))
    return close >= 0.75 * (len(text) - 1)
