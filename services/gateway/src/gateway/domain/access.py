"""Who may do what through the admin and platform APIs: the role table.

Every admin or platform route names one permission. A person holds permissions through a role in the shop
(owner, manager, operator, support, viewer) or a platform role (admin: everything in every shop and the
platform's own routes; support: reading). An API token holds the permissions its scopes grant, in its own
shop only. Revealing or exporting keys, voiding or replacing one (keys:manage) and handing a supplier its
credentials also want a person's second factor from the last five minutes, and so does making an API token
(a token itself was made under one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, get_args
from uuid import UUID

from faka_common.contracts.accounts import ApiTokenScope, PlatformRole, ShopRole
from faka_common.errors import DomainError, NotFound

Permission = Literal[
    "catalog:read",
    "catalog:write",
    "pricing:read",
    "pricing:write",
    "keys:import",
    "keys:export",
    "keys:manage",
    "orders:read",
    "orders:write",
    "orders:refund",
    "delivery:read",
    "delivery:write",
    "tickets:read",
    "tickets:write",
    "suppliers:write",
    "suppliers:credentials",
    "payments:read",
    "payments:credentials",
    "notifications:read",
    "notifications:write",
    "people:read",
    "people:write",
    "tokens:write",
    "audit:read",
    "risk:read",
    "risk:write",
    "platform:read",
    "platform:write",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

#: API token scopes (merchant's) and the permissions each grants.
SCOPE_GRANTS: dict[str, frozenset[Permission]] = {
    "catalog:read": frozenset({"catalog:read"}),
    "catalog:write": frozenset({"catalog:write"}),
    # a script that loads the pool may also void and replace its unsold keys (as before keys:manage)
    "keys:import": frozenset({"keys:import", "keys:manage"}),
    "keys:export": frozenset({"keys:export"}),
    "orders:read": frozenset({"orders:read"}),
    "orders:write": frozenset({"orders:write", "orders:refund"}),
    "delivery:read": frozenset({"delivery:read", "tickets:read"}),
    "delivery:write": frozenset(
        {"delivery:write", "suppliers:write", "suppliers:credentials", "tickets:write"}
    ),
    "pricing:read": frozenset({"pricing:read"}),
    "pricing:write": frozenset({"pricing:write"}),
}
assert set(SCOPE_GRANTS) == set(get_args(ApiTokenScope)), "every scope grants something"


def outside_scopes(permission: Permission, scopes: frozenset[str]) -> str:
    """Why an API token may not use `permission` in its own shop: the scopes that would grant it."""
    held = ", ".join(sorted(scopes)) or "none"
    granting = sorted(scope for scope, grants in SCOPE_GRANTS.items() if permission in grants)
    if not granting:
        return f"{permission} is for people only: no API token scope grants it (this token's scopes: {held})"
    return f"{permission} needs the API token scope {' or '.join(granting)} (this token's scopes: {held})"


READ: frozenset[Permission] = frozenset(
    {"catalog:read", "pricing:read", "orders:read", "delivery:read", "tickets:read", "risk:read"}
)
#: Everything a shop's own people can be given (not the platform's routes).
SHOP_PERMISSIONS: frozenset[Permission] = frozenset(p for p in PERMISSIONS if not p.startswith("platform:"))

ROLE_PERMISSIONS: dict[ShopRole, frozenset[Permission]] = {
    "owner": SHOP_PERMISSIONS,
    "manager": SHOP_PERMISSIONS,
    "operator": READ | {"keys:import", "keys:manage", "orders:write", "delivery:write", "tickets:write"},
    # answering buyers is what support is for; it changes nothing else
    "support": READ | {"tickets:write"},
    "viewer": READ,
}
#: In every shop, besides the platform's routes.
PLATFORM_ROLE_PERMISSIONS: dict[PlatformRole, frozenset[Permission]] = {
    "admin": frozenset(PERMISSIONS),
    "support": READ | {"people:read", "audit:read", "platform:read", "tickets:write"},
}
#: A person acting with these must have proved the second factor within STEP_UP_WINDOW.
STEP_UP: frozenset[Permission] = frozenset(
    {"keys:export", "keys:manage", "suppliers:credentials", "payments:credentials", "tokens:write"}
)
STEP_UP_WINDOW = timedelta(minutes=5)


class NotAllowed(DomainError):
    status_code = 403
    code = "not_allowed"


class SecondFactorRequired(DomainError):
    status_code = 403
    code = "second_factor_required"


class TotpEnrolmentRequired(DomainError):
    status_code = 403
    code = "totp_enrolment_required"


class NoSuchShopForYou(NotFound):
    """A shop the principal has no part in is one that does not exist, as far as it can tell."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a signed-in person (`kind` person) or a shop's API token."""

    kind: Literal["person", "api_token"]
    id: UUID
    #: For the audit trail: the person's e-mail, or "api token <id>".
    label: str
    platform_roles: frozenset[PlatformRole] = frozenset()
    memberships: dict[UUID, ShopRole] = field(default_factory=dict)
    #: An API token's shop and scopes.
    token_shop: UUID | None = None
    scopes: frozenset[str] = frozenset()
    second_factor_at: datetime | None = None
    totp_enrolment_required: bool = False
    #: The session this principal came from (a person's), so signing out can forget it.
    session_id: UUID | None = None

    def home_shop(self) -> UUID | None:
        """The shop a request without X-Shop-Id acts for when the principal has one of its own (a token's)."""
        return self.token_shop

    def permissions_in(self, shop_id: UUID | None) -> frozenset[Permission]:
        """What the principal may do in `shop_id` (None: on the platform's own routes)."""
        if self.kind == "api_token":
            if shop_id is None or shop_id != self.token_shop:
                return frozenset()
            return frozenset(p for scope in self.scopes for p in SCOPE_GRANTS.get(scope, frozenset()))
        granted: set[Permission] = set()
        for role in self.platform_roles:
            granted |= PLATFORM_ROLE_PERMISSIONS[role]
        if shop_id is not None and shop_id in self.memberships:
            granted |= ROLE_PERMISSIONS[self.memberships[shop_id]]
        if shop_id is not None:
            granted -= {"platform:read", "platform:write"}
        return frozenset(granted)

    def sees(self, shop_id: UUID) -> bool:
        """Whether the shop exists for the principal at all (else it is a 404, as an unknown shop)."""
        if self.kind == "api_token":
            return shop_id == self.token_shop
        return bool(self.platform_roles) or shop_id in self.memberships

    def check(self, permission: Permission, shop_id: UUID | None, now: datetime) -> None:
        """Raise why the principal may not use `permission` in `shop_id` (None: a platform route)."""
        if self.totp_enrolment_required:
            raise TotpEnrolmentRequired(
                "set up TOTP first (POST /api/console/totp, then /api/console/totp/confirm)"
            )
        if shop_id is not None and not self.sees(shop_id):
            raise NoSuchShopForYou(f"no shop {shop_id}")
        if permission not in self.permissions_in(shop_id):
            if self.kind == "api_token" and shop_id is not None:
                raise NotAllowed(outside_scopes(permission, self.scopes))
            whose = "the platform's" if shop_id is None else "this shop's"
            raise NotAllowed(f"{permission} is not among {whose} permissions of {self.label}")
        if permission in STEP_UP and self.kind == "person" and not self.stepped_up(now):
            raise SecondFactorRequired(
                f"{permission} wants the second factor within the last "
                f"{int(STEP_UP_WINDOW.total_seconds() // 60)} minutes: POST /api/console/step-up"
            )

    def stepped_up(self, now: datetime) -> bool:
        """Whether the person proved the second factor within STEP_UP_WINDOW."""
        return self.second_factor_at is not None and now - self.second_factor_at <= STEP_UP_WINDOW
