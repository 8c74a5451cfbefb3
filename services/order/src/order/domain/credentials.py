"""Order numbers and the buyer's secrets: an HMAC access token and an optional query password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
from datetime import UTC, datetime

ORDER_NO_ALPHABET = string.ascii_uppercase + string.digits
ORDER_NO_SUFFIX = 6

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
_SCHEME = "scrypt"


def new_order_no(now: datetime | None = None) -> str:
    """`F` + UTC yyyymmddHHMMSS + 6 random uppercase alphanumerics, e.g. F20261122081500AB12CD."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    suffix = "".join(secrets.choice(ORDER_NO_ALPHABET) for _ in range(ORDER_NO_SUFFIX))
    return f"F{moment:%Y%m%d%H%M%S}{suffix}"


def order_token(secret: str, order_no: str) -> str:
    """The buyer's access token: url-safe base64 (unpadded) of HMAC-SHA256(secret, order_no)."""
    digest = hmac.new(secret.encode(), order_no.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_valid(secret: str, order_no: str, token: str) -> bool:
    return hmac.compare_digest(order_token(secret, order_no).encode(), token.encode())


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_KEY_BYTES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` with a fresh random salt."""
    salt = os.urandom(SCRYPT_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


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
