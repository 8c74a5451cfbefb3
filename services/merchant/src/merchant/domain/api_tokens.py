"""API tokens: a shop's scripts calling the admin API without a person's session. A token belongs to one shop,
holds scopes (what the gateway lets it do), is shown once when it is made and stored as its SHA-256 only, and
works until it is revoked or expires. Made by the shop's owners and managers with a second factor proved in
the last minutes (a stolen session alone makes none)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args
from uuid import UUID

from faka_common.contracts.accounts import ApiTokenScope as Scope
from faka_common.errors import DomainError, Unauthorized

from merchant.domain.accounts import Person

#: What a token may do through the gateway's admin API (the gateway maps its routes to these):
#: catalog:read/write categories and products; keys:import card keys (and key batches); keys:export unsold
#: keys; orders:read orders and reconciliation; orders:write refunds and an order's link rotation;
#: delivery:read/write the manual queue, suppliers and supplier routes; pricing:read/write price tiers and
#: coupons. The platform's own admin routes (shops, key re-encryption) take no token.
SCOPES: tuple[Scope, ...] = get_args(Scope)

#: A token starts with this, so a leaked one is recognisable (secret scanners, logs, a person reading it).
TOKEN_PREFIX = "faka_"
MAX_NAME = 100
#: last_used_at is written at most this often (a busy script does not write the row on every call).
LAST_USED_EVERY = timedelta(minutes=1)
#: The shop roles that make, list and revoke a shop's tokens.
TOKEN_ROLES = frozenset({"owner", "manager"})


class ApiTokenInvalid(Unauthorized):
    """Unknown, revoked and expired tokens get one answer: it never tells which."""

    code = "api_token_invalid"

    def __init__(self) -> None:
        super().__init__("no such API token, or it was revoked or has expired")


class BadExpiry(DomainError):
    status_code = 422
    code = "invalid_expiry"


def new_api_token() -> str:
    """`faka_` and 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def may_manage_tokens(actor: Person, shop_id: UUID) -> bool:
    """The shop's owners and managers, and platform admins (who may act in every shop)."""
    return actor.is_platform_admin or actor.role_in(shop_id) in TOKEN_ROLES


@dataclass(frozen=True)
class ApiToken:
    """A token's metadata (never the token: only its digest is stored, and not here)."""

    id: UUID
    shop_id: UUID
    name: str
    scopes: tuple[Scope, ...]
    created_by: UUID
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssueApiToken:
    session_token: str
    shop_id: UUID
    name: str
    scopes: tuple[Scope, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class IssueApiTokenAsOperator:
    """A token made from faka-admin: the shop by its id or slug, in the name of the person of `by`."""

    shop: str
    by: str
    name: str
    scopes: tuple[Scope, ...]
    expires_in: timedelta | None
