"""Who a console session or an API token is: merchant answers (`/internal/sessions/current` with
X-Session-Token, `/internal/api-tokens/resolve` with X-Api-Token), and a short Redis cache keeps the answer
so that a burst of a script's calls costs merchant one resolution. The cache is keyed by a digest of the
secret (never the secret), holds no secret, and is dropped when the gateway signs the session out; a
session revoked elsewhere (a password changed) stops working within `principal_cache_seconds`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from uuid import UUID, uuid4

from faka_common.errors import DomainError, Unauthorized
from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.adapters.owners import Owner, json_body
from gateway.domain.access import Principal

log = logging.getLogger(__name__)

SESSION_HEADER = "X-Session-Token"
API_TOKEN_HEADER = "X-Api-Token"

SecretKind = Literal["session", "api_token"]
#: What a test's platform admin sends (Authorization: Bearer ...) to a gateway built with `KnownPrincipals`.
PLATFORM_ADMIN_SECRET = "platform-admin"


class Principals(Protocol):
    async def resolve(self, kind: SecretKind, secret: str) -> Principal:
        """The principal the secret opens; Unauthorized when it opens none."""

    async def cached(self, kind: SecretKind, secret: str) -> Principal | None:
        """The principal kept for the secret, without asking merchant; None when none is kept."""

    async def forget(self, kind: SecretKind, secret: str) -> None: ...

    async def aclose(self) -> None: ...


def principal_of_session(view: Mapping[str, Any]) -> Principal:
    second = view.get("second_factor_at")
    return Principal(
        kind="person",
        id=UUID(str(view["account_id"])),
        label=str(view["email"]),
        platform_roles=frozenset(view.get("platform_roles", [])),
        memberships={UUID(str(m["shop_id"])): m["role"] for m in view.get("memberships", [])},
        second_factor_at=None if second is None else datetime.fromisoformat(str(second)),
        totp_enrolment_required=bool(view.get("totp_enrolment_required", False)),
        session_id=UUID(str(view["session_id"])),
    )


def principal_of_token(view: Mapping[str, Any]) -> Principal:
    token_id = UUID(str(view["token_id"]))
    return Principal(
        kind="api_token",
        id=token_id,
        label=f"api token {token_id}",
        token_shop=UUID(str(view["shop_id"])),
        scopes=frozenset(view.get("scopes", [])),
    )


#: How a principal is kept in the cache (JSON; no secret in it).
KEPT = TypeAdapter(Principal)


class MerchantPrincipals:
    """Resolution by merchant, cached in Redis for `ttl` seconds (0: not cached). Redis trouble only costs
    the cache: the answer then comes from merchant every time."""

    def __init__(self, merchant: Owner, redis_url: str, namespace: str, ttl: float) -> None:
        self._merchant = merchant
        self._redis: Redis = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = f"{namespace}gateway:principal:"
        self._ttl_ms = int(ttl * 1000)

    def _key(self, kind: SecretKind, secret: str) -> str:
        return self._prefix + kind + ":" + hashlib.sha256(secret.encode()).hexdigest()

    async def resolve(self, kind: SecretKind, secret: str) -> Principal:
        kept = await self.cached(kind, secret)
        if kept is not None:
            return kept
        if kind == "session":
            path, header, read = "/internal/sessions/current", SESSION_HEADER, principal_of_session
            method = "GET"
        else:
            path, header, read = "/internal/api-tokens/resolve", API_TOKEN_HEADER, principal_of_token
            method = "POST"
        try:
            response = await self._merchant.request(method, path, headers={header: secret})
        except DomainError as error:
            if error.status_code == 401:
                raise Unauthorized(error.message) from None
            raise
        principal = read(json_body(response))
        if self._ttl_ms > 0:
            try:
                await self._redis.set(self._key(kind, secret), KEPT.dump_json(principal), px=self._ttl_ms)
            except RedisError as error:
                log.warning("principal cache unavailable (%s): not kept", type(error).__name__)
        return principal

    async def cached(self, kind: SecretKind, secret: str) -> Principal | None:
        if self._ttl_ms <= 0:
            return None
        try:
            raw = await self._redis.get(self._key(kind, secret))
        except RedisError as error:
            log.warning("principal cache unavailable (%s): asking merchant", type(error).__name__)
            return None
        return None if raw is None else KEPT.validate_json(raw)

    async def forget(self, kind: SecretKind, secret: str) -> None:
        try:
            await self._redis.delete(self._key(kind, secret))
        except RedisError as error:
            log.warning("principal cache unavailable (%s): nothing to forget", type(error).__name__)

    async def aclose(self) -> None:
        await self._redis.aclose()


class KnownPrincipals:
    """A test double: the principals these secrets open (either kind), nothing else."""

    def __init__(self, known: Mapping[str, Principal]) -> None:
        self.known = dict(known)
        self.resolved: list[str] = []

    @classmethod
    def platform_admin(cls, secret: str = PLATFORM_ADMIN_SECRET) -> KnownPrincipals:
        """One platform admin, its second factor proved just now, opened by `secret`."""
        admin = Principal(
            kind="person",
            id=uuid4(),
            label="admin@example.com",
            platform_roles=frozenset({"admin"}),
            second_factor_at=datetime.now(UTC),
            session_id=uuid4(),
        )
        return cls({secret: admin})

    async def resolve(self, kind: SecretKind, secret: str) -> Principal:
        self.resolved.append(secret)
        if secret not in self.known:
            raise Unauthorized(f"no {kind.replace('_', ' ')} opens with that secret")
        return self.known[secret]

    async def cached(self, kind: SecretKind, secret: str) -> Principal | None:
        return None

    async def forget(self, kind: SecretKind, secret: str) -> None:
        return None

    async def aclose(self) -> None:
        return None
