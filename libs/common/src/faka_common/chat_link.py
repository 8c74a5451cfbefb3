"""The token of a "get notices on Telegram" deep link: names one order, expires, and is signed (HMAC-SHA256)
with a secret the gateway (which shows the link) and notification (which links the chat) share.

It travels as Telegram's `start` parameter, which allows at most 64 characters of A-Z, a-z, 0-9, _ and -:
the order id (16 bytes), the expiry (4 bytes, unix seconds) and 16 bytes of MAC, base64url without
padding, make 48."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
from uuid import UUID

from faka_common.errors import DomainError

_PURPOSE = b"faka.telegram-link.v1\x00"
_MAC_BYTES = 16
_LENGTH = 16 + 4 + _MAC_BYTES


class InvalidChatLink(DomainError):
    """Not a token we signed, or one that has expired: the buyer opens the order page for a fresh link."""

    code = "invalid_chat_link"


def _mac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + body, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(secret: str, order_id: UUID, ttl_seconds: int, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + ttl_seconds
    body = order_id.bytes + struct.pack(">I", expires)
    return base64.urlsafe_b64encode(body + _mac(secret, body)).decode().rstrip("=")


def verify(secret: str, token: str, now: float | None = None) -> UUID:
    """The order the token names; InvalidChatLink when it is malformed, forged or expired."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (binascii.Error, UnicodeEncodeError, ValueError) as error:
        raise InvalidChatLink("the link is not valid") from error
    if len(raw) != _LENGTH:
        raise InvalidChatLink("the link is not valid")
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        raise InvalidChatLink("the link is not valid")
    (expires,) = struct.unpack(">I", body[16:])
    if expires < int(now if now is not None else time.time()):
        raise InvalidChatLink("the link has expired; open your order page for a new one")
    return UUID(bytes=body[:16])
