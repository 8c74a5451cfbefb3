"""What a person's secrets become at rest: passwords argon2id-hashed, TOTP secrets sealed with the keyring."""

from __future__ import annotations

import asyncio
import secrets
from functools import cached_property
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from faka_common.crypto import KeyRing, Sealed

from merchant.domain.accounts import totp_context


class Passwords:
    """argon2id (argon2-cffi; its C code lets go of the GIL, so hashing runs in a worker thread and the event
    loop keeps serving)."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)

    @cached_property
    def _decoy(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    def warm(self) -> None:
        """Make the decoy hash now (at start-up), so the first unknown address costs no extra hash."""
        _ = self._decoy

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` is the one `stored` hashes. Without a stored hash (an unknown address, an
        account never given a password) a decoy hash is verified all the same, so the answer takes as long."""
        return await asyncio.to_thread(self._verify, stored, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._decoy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was hashed with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(stored)


class TotpSecrets:
    """Seals a TOTP secret for its account (the account id is the AEAD context) and opens it again."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    def seal(self, account_id: UUID, secret: str) -> Sealed:
        return self._keyring.seal(secret, totp_context(account_id))

    def open(self, account_id: UUID, sealed: Sealed) -> str:
        return self._keyring.open(sealed, totp_context(account_id))
