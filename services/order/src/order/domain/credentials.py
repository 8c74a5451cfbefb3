"""Order numbers and the buyer's secrets: an expiring, revocable access token and an optional query password.

Token: url-safe base64 (unpadded) of `expiry (5 bytes, UTC seconds) || HMAC-SHA256(secret, order_no | secret
version | expiry)`. The expiry travels in the token, so a link keeps the lifetime it was issued with even
when the setting changes; the secret version is stored with the order, so the seller revokes every token of
one order by raising it (the order secret's rotation), without touching any other order or the shop's key.

Query password: scrypt with a salt derived from the shop's secret and the buyer's e-mail, so one lookup by
e-mail and password hashes exactly once whatever the number of orders (the same salt for every order of
that address); hashes stored with a random salt (before the keyed salt) are still checked one by one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ORDER_NO_ALPHABET = string.ascii_uppercase + string.digits
ORDER_NO_SUFFIX = 6

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
_SCHEME = "scrypt"

EXPIRY_BYTES = 5
MAC_BYTES = 32
#: Length of a token as issued (base64 of 37 bytes, unpadded).
TOKEN_LENGTH = 50
#: Tokens issued before they carried an expiry: HMAC-SHA256(secret, order_no), 43 characters.
LEGACY_TOKEN_LENGTH = 43


def new_order_no(now: datetime | None = None) -> str:
    """`F` + UTC yyyymmddHHMMSS + 6 random uppercase alphanumerics, e.g. F20261122081500AB12CD."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    suffix = "".join(secrets.choice(ORDER_NO_ALPHABET) for _ in range(ORDER_NO_SUFFIX))
    return f"F{moment:%Y%m%d%H%M%S}{suffix}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token_mac(secret: str, order_no: str, version: int, expiry: int) -> bytes:
    message = f"faka/order-token/v1|{order_no}|{version}|{expiry}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def legacy_token(secret: str, order_no: str) -> str:
    """The token issued before tokens expired: HMAC-SHA256(secret, order_no), unpadded url-safe base64."""
    digest = hmac.new(secret.encode(), order_no.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class OrderTokens:
    """Issues and checks the buyer's access tokens: `lifetime` from issue, bound to the order's secret
    version (raised by a rotation)."""

    secret: str
    lifetime: timedelta

    def issue(self, order_no: str, version: int, now: datetime) -> str:
        expiry = int((now + self.lifetime).timestamp())
        raw = expiry.to_bytes(EXPIRY_BYTES, "big") + _token_mac(self.secret, order_no, version, expiry)
        return _b64(raw).rstrip("=")

    def expires_at(self, token: str) -> datetime | None:
        """When a well-formed token stops working (its MAC unchecked); None for anything else."""
        raw = self._raw(token)
        return datetime.fromtimestamp(int.from_bytes(raw[:EXPIRY_BYTES], "big"), UTC) if raw else None

    def valid(self, order_no: str, version: int, created_at: datetime, token: str, now: datetime) -> bool:
        """Right MAC for this order and secret version, and not expired. A legacy token (no expiry) works
        for `lifetime` after the order was placed, until the order's secret is first rotated."""
        return self.valid_until(order_no, version, created_at, token, now) is not None

    def valid_until(
        self, order_no: str, version: int, created_at: datetime, token: str, now: datetime
    ) -> datetime | None:
        """When the token stops working, if it works now (`valid`); None if it does not."""
        if len(token) == LEGACY_TOKEN_LENGTH:
            expected = legacy_token(self.secret, order_no)
            until = created_at + self.lifetime
            fresh = version == 0 and now < until
            return until if hmac.compare_digest(expected.encode(), token.encode()) and fresh else None
        raw = self._raw(token)
        if raw is None:
            return None
        expiry = int.from_bytes(raw[:EXPIRY_BYTES], "big")
        expected_mac = _token_mac(self.secret, order_no, version, expiry)
        if hmac.compare_digest(expected_mac, raw[EXPIRY_BYTES:]) and now.timestamp() < expiry:
            return datetime.fromtimestamp(expiry, UTC)
        return None

    @staticmethod
    def _raw(token: str) -> bytes | None:
        if len(token) != TOKEN_LENGTH:
            return None
        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError):
            return None
        return raw if len(raw) == EXPIRY_BYTES + MAC_BYTES else None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_KEY_BYTES)


def _encoded(salt: bytes, digest: bytes) -> str:
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def same_email(stored: str, given: str) -> bool:
    """Whether `given` is the order's address (case and surrounding spaces ignored), compared in constant
    time over digests of both normalised forms, so neither the time taken nor a length says how close a
    guess came."""
    ours, theirs = (hashlib.sha256(email.strip().lower().encode()).digest() for email in (stored, given))
    return hmac.compare_digest(ours, theirs)


def email_salt(secret: str, email: str) -> bytes:
    """The query password's salt for every order of `email` (case and surrounding spaces ignored)."""
    message = f"faka/password-salt/v1|{email.strip().lower()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:SCRYPT_SALT_BYTES]


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash`; a fresh random salt unless one is given (see `email_salt`)."""
    salt = salt if salt is not None else os.urandom(SCRYPT_SALT_BYTES)
    return _encoded(salt, _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))


_DUMMY_HASH: str | None = None


def password_valid(stored: str | None, password: str) -> bool:
    """Constant-time check; with no stored hash it still spends the same work, then says no."""
    global _DUMMY_HASH
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(16))
        password_valid(_DUMMY_HASH, password)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = _scrypt(password, base64.urlsafe_b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def matching_hashes(stored: Iterable[str | None], password: str, salt: bytes) -> set[str]:
    """Which of `stored` are `password`: one scrypt with `salt` answers for every hash made with it
    (compared in constant time); a hash with another salt (made before keyed salts) costs its own scrypt."""
    keyed = hash_password(password, salt)
    keyed_salt = _b64(salt)
    found = set()
    for candidate in {s for s in stored if s is not None}:
        if candidate.split("$")[4:5] == [keyed_salt]:
            if hmac.compare_digest(candidate.encode(), keyed.encode()):
                found.add(candidate)
        elif password_valid(candidate, password):
            found.add(candidate)
    return found
