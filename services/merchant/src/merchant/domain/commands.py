"""What an operator, a person signing in or a shop's people ask of the merchant service."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from faka_common.contracts.accounts import LinkPurpose, PlatformRole, ShopRole
from faka_common.contracts.shops import ShopStatus

from merchant.domain.shops import LANGUAGES


@dataclass(frozen=True)
class OpenShop:
    slug: str
    name: str
    status: ShopStatus = "pending"
    currency: str = "CNY"
    languages: tuple[str, ...] = LANGUAGES
    contact: str = ""
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeShop:
    """Settings to change; None keeps a setting as it is."""

    shop_id: UUID
    name: str | None = None
    contact: str | None = None
    currency: str | None = None
    languages: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ChangeShopStatus:
    shop_id: UUID
    status: ShopStatus


@dataclass(frozen=True)
class SetShopFeeRate:
    shop_id: UUID
    fee_rate_bps: int | None


# People. Secrets (passwords, codes, tokens) are left out of the commands' repr, so no log or traceback
# shows them.


@dataclass(frozen=True)
class SignIn:
    email: str
    password: str = field(repr=False)
    client_ip: str | None = None
    user_agent: str = ""


@dataclass(frozen=True)
class CompleteSignIn:
    """The second step of a sign-in: a TOTP code or one of the recovery codes."""

    challenge: str = field(repr=False)
    code: str | None = field(default=None, repr=False)
    recovery_code: str | None = field(default=None, repr=False)
    client_ip: str | None = None
    user_agent: str = ""


@dataclass(frozen=True)
class ChangePassword:
    session_token: str = field(repr=False)
    current_password: str = field(repr=False)
    new_password: str = field(repr=False)
    client_ip: str | None = None


@dataclass(frozen=True)
class CheckCode:
    """A TOTP code entered on a session: to confirm enrolment, or to step up before a sensitive action."""

    session_token: str = field(repr=False)
    code: str = field(repr=False)
    client_ip: str | None = None


@dataclass(frozen=True)
class RedeemLink:
    token: str = field(repr=False)
    purpose: LinkPurpose
    new_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AddMember:
    session_token: str = field(repr=False)
    shop_id: UUID
    email: str
    role: ShopRole


@dataclass(frozen=True)
class ChangeMember:
    session_token: str = field(repr=False)
    shop_id: UUID
    account_id: UUID
    role: ShopRole


@dataclass(frozen=True)
class GrantPlatformRole:
    session_token: str = field(repr=False)
    email: str
    role: PlatformRole


@dataclass(frozen=True)
class MakeShopOwner:
    """From faka-admin: the person of `email` an owner of the shop (its id or slug); with `password`, that
    password set (else a one-time link answered)."""

    shop: str
    email: str
    password: str | None = field(default=None, repr=False)
