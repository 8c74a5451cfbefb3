"""Card keys at rest: AES-256-GCM with a key id per ciphertext (rotation), and keyed hashes for dedupe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
DEV_KEYRING = "dev:" + base64.b64encode(b"faka-development-only-key-32byte").decode()
DEV_FINGERPRINT_SECRET = "dev-fingerprint-secret-change-me"


class KeyRingError(ValueError):
    """The keyring specification is malformed or names an unknown key."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """The key material of a keyring specification `id1:base64key,id2:base64key`, by key id, in order."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise KeyRingError("keyring entries look like id:base64key")
        try:
            keys[key_id] = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise KeyRingError(f"key {key_id!r} is not valid base64") from error
    if not keys:
        raise KeyRingError("the keyring is empty")
    return keys


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes  # nonce || ciphertext+tag


class KeyRing:
    """Encrypts with the active key, decrypts with whichever key id a ciphertext names."""

    def __init__(self, keys: dict[str, bytes], active: str, fingerprint_secret: bytes) -> None:
        if active not in keys:
            raise KeyRingError(f"active key id {active!r} is not in the keyring")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise KeyRingError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        self._keys = dict(keys)
        self._fingerprint_secret = fingerprint_secret
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._hash_key = hashlib.sha256(b"faka-dedupe:" + fingerprint_secret).digest()
        self.active = active

    def __reduce__(self) -> tuple[type[KeyRing], tuple[dict[str, bytes], str, bytes]]:
        """Picklable, so bulk sealing can run in worker processes (the key material goes to them over
        the pool's pipe; it never leaves the host)."""
        return (KeyRing, (self._keys, self.active, self._fingerprint_secret))

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active!r}, key_ids={sorted(self._keys)!r})"

    @classmethod
    def parse(cls, spec: str, fingerprint_secret: str, active: str | None = None) -> KeyRing:
        """`id1:base64key,id2:base64key`; the last one is active unless `active` names another."""
        keys = parse_keys(spec)
        return cls(keys, active or list(keys)[-1], fingerprint_secret.encode())

    def seal(self, plaintext: str, context: bytes) -> Sealed:
        return Sealed(self.active, self.seal_bytes(plaintext.encode(), context))

    def seal_bytes(self, plaintext: bytes, context: bytes, nonce: bytes | None = None) -> bytes:
        """The blob (nonce || ciphertext+tag) of `plaintext` under the active key id. Bulk sealing may
        pass a fresh random `nonce` (NONCE_BYTES, cut from one os.urandom call); never reuse one."""
        if nonce is None:
            nonce = os.urandom(NONCE_BYTES)
        elif len(nonce) != NONCE_BYTES:
            raise KeyRingError(f"a nonce is {NONCE_BYTES} bytes")
        return nonce + self._aead[self.active].encrypt(nonce, plaintext, context)

    def open(self, sealed: Sealed, context: bytes) -> str:
        aead = self._aead.get(sealed.key_id)
        if aead is None:
            raise KeyRingError(f"no key {sealed.key_id!r} in the keyring")
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        return aead.decrypt(nonce, body, context).decode()

    def fingerprint(self, plaintext: str, scope: bytes) -> bytes:
        """A keyed hash for duplicate detection within `scope` (a product id); independent of key rotation."""
        return self.fingerprint_bytes(plaintext.encode(), scope)

    def fingerprint_bytes(self, plaintext: bytes, scope: bytes) -> bytes:
        """`fingerprint` of UTF-8 encoded plaintext (one-shot HMAC-SHA256: the same digest, faster)."""
        return hmac.digest(self._hash_key, scope + b"\x00" + plaintext, "sha256")
