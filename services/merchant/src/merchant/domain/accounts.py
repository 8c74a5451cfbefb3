"""People: accounts, their passwords and second factor, sessions, one-time links, and the roles they act in
(on the platform and in shops). No I/O here: hashing and sealing are the adapters'."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args
from uuid import UUID

import pyotp
from email_validator import EmailNotValidError, validate_email
from faka_common.contracts.accounts import LinkPurpose, PlatformRole, ShopRole
from faka_common.crypto import Sealed
from faka_common.errors import Conflict, DomainError, Forbidden, Unauthorized

SHOP_ROLES: tuple[ShopRole, ...] = get_args(ShopRole)

MAX_EMAIL = 254
MIN_PASSWORD, MAX_PASSWORD = 10, 256
#: A TOTP code is accepted one time step (30 s) early or late: a phone's clock drifts, a person types slowly.
TOTP_WINDOW = 1
TOTP_DIGITS = 6
RECOVERY_CODES = 10
#: 32 symbols (5 bits each) without the look-alikes l, o, 0 and 1; 12 of them: 60 random bits per code.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12
#: Wrong codes a second-factor challenge takes before it is spent (a new sign-in starts a new one).
CHALLENGE_ATTEMPTS = 5

#: Where the console serves each link's page; the token rides in the query of the e-mailed address.
LINK_PAGES: dict[LinkPurpose, str] = {
    "password_reset": "/console/reset",
    "email_verification": "/console/verify-email",
    "account_setup": "/console/setup",
}
#: The links that set a password when they are used.
PASSWORD_LINKS: frozenset[LinkPurpose] = frozenset({"password_reset", "account_setup"})


class SignInFailed(Unauthorized):
    """Wrong e-mail or password: one answer for both, so an answer never tells whether an address has an
    account."""

    code = "sign_in_failed"

    def __init__(self) -> None:
        super().__init__("wrong e-mail or password")


class SecondFactorFailed(Unauthorized):
    code = "second_factor_failed"


class ChallengeInvalid(Unauthorized):
    code = "challenge_invalid"

    def __init__(self) -> None:
        super().__init__("the sign-in has expired or was completed; sign in again")


class SessionInvalid(Unauthorized):
    code = "session_invalid"

    def __init__(self) -> None:
        super().__init__("no such session, or it has expired or was signed out; sign in again")


class EnrolmentRequired(Forbidden):
    """The session of a person who must set up TOTP first is good for nothing else."""

    code = "totp_enrolment_required"

    def __init__(self) -> None:
        super().__init__("set up the authenticator app (TOTP) first: this session is good for nothing else")


class TotpState(Conflict):
    code = "totp_state"


#: A sensitive change (an API token, new recovery codes) wants the second factor proved at most this long ago.
SECOND_FACTOR_FRESH = timedelta(minutes=5)


class StepUpRequired(Forbidden):
    """A sensitive change wants the second factor proved moments ago (step-up), not at sign-in hours ago."""

    code = "second_factor_required"

    def __init__(self, what: str) -> None:
        minutes = int(SECOND_FACTOR_FRESH.total_seconds() // 60)
        super().__init__(
            f"prove the second factor again (step-up) first: {what} within {minutes} minutes of it"
        )


def second_factor_fresh(second_factor_at: datetime | None, now: datetime) -> bool:
    return second_factor_at is not None and now - SECOND_FACTOR_FRESH <= second_factor_at <= now


class WeakPassword(DomainError):
    status_code = 422
    code = "weak_password"


class InvalidEmail(DomainError):
    status_code = 422
    code = "invalid_email"


class EmailTaken(Conflict):
    code = "email_taken"


class LinkInvalid(DomainError):
    status_code = 410
    code = "link_invalid"

    def __init__(self) -> None:
        super().__init__("this link is unknown, was used already or has expired; ask for a new one")


class NotAllowed(Forbidden):
    code = "not_allowed"


class LastOwner(Conflict):
    code = "last_owner"

    def __init__(self) -> None:
        super().__init__("a shop keeps at least one owner: make another member owner first")


class LastPlatformAdmin(Conflict):
    code = "last_platform_admin"

    def __init__(self) -> None:
        super().__init__("the platform keeps at least one admin: make another person admin first")


def check_email(email: str) -> str:
    """`email` as an account stores it (domain lower-cased, internationalised domains in Unicode);
    InvalidEmail when it is no address. Accounts are unique by the lower-cased address."""
    if len(email) > MAX_EMAIL:
        raise InvalidEmail(f"an e-mail address is at most {MAX_EMAIL} characters long")
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidEmail(f"not an e-mail address: {error}") from None


def check_password(password: str, email: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    if len(set(password)) < 4:
        raise WeakPassword("a password needs at least 4 different characters")
    if password.strip().casefold() == email.strip().casefold():
        raise WeakPassword("a password must not be the e-mail address")
    return password


def new_token() -> str:
    """A random opaque token (256 bits, URL-safe): sessions, challenges, links."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """What is stored of a token or a recovery code: its SHA-256."""
    return hashlib.sha256(secret.encode()).digest()


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODES codes like `ab3d-ef4h-jk5m`, shown once."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def recovery_digest(code: str) -> bytes:
    """The digest of a recovery code as a person may type it: any case, with or without hyphens and spaces."""
    return digest("".join(code.split()).replace("-", "").lower())


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step, within TOTP_WINDOW of `now` and later than `after` (the last step accepted), whose code
    is `code`; None when there is none. Accepting a step only after the last one makes a code (or an older
    one) never count twice."""
    code = "".join(code.split())
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS)
    current = totp.timecode(now)
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if (after is None or step > after) and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads (from a QR code)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS).provisioning_uri(name=email, issuer_name=issuer)


def totp_context(account_id: UUID) -> bytes:
    """What a sealed TOTP secret is bound to: it opens for its own account only."""
    return b"merchant-totp:" + account_id.bytes


@dataclass(frozen=True)
class Account:
    id: UUID
    email: str
    password_hash: str | None
    email_verified_at: datetime | None
    totp_secret: Sealed | None
    totp_enabled_at: datetime | None
    totp_last_step: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None


@dataclass(frozen=True)
class Membership:
    shop_id: UUID
    account_id: UUID
    role: ShopRole
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Member:
    """A membership and the address of the person who holds it."""

    membership: Membership
    email: str


@dataclass(frozen=True)
class Person:
    """An account with the roles it holds: what a session is resolved to."""

    account: Account
    platform_roles: tuple[PlatformRole, ...]
    memberships: tuple[Membership, ...]

    @property
    def must_enrol_totp(self) -> bool:
        """Platform staff and shop owners must have TOTP; until they do, they may only set it up."""
        owner = any(m.role == "owner" for m in self.memberships)
        return (bool(self.platform_roles) or owner) and not self.account.totp_enabled

    def role_in(self, shop_id: UUID) -> ShopRole | None:
        return next((m.role for m in self.memberships if m.shop_id == shop_id), None)

    @property
    def is_platform_admin(self) -> bool:
        return "admin" in self.platform_roles


def may_manage_member(actor: Person, shop_id: UUID, role: ShopRole, current: ShopRole | None) -> bool:
    """Whether `actor` may give a member of `shop_id` the role `role` (or take away `current`): platform
    admins and the shop's owners any role (only an owner, or the platform, makes owners); its managers the
    roles below manager."""
    if actor.is_platform_admin:
        return True
    mine = actor.role_in(shop_id)
    if mine == "owner":
        return True
    below_manager = {"operator", "support", "viewer"}
    return mine == "manager" and role in below_manager and (current is None or current in below_manager)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    challenge: timedelta
    link: timedelta


@dataclass(frozen=True)
class Session:
    id: UUID
    account_id: UUID
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    second_factor_at: datetime | None
    client_ip: str | None
    user_agent: str
    revoked_at: datetime | None

    @classmethod
    def open(
        cls,
        *,
        id: UUID,
        account_id: UUID,
        now: datetime,
        policy: SessionPolicy,
        second_factor_at: datetime | None,
        client_ip: str | None,
        user_agent: str,
    ) -> Session:
        return cls(
            id=id,
            account_id=account_id,
            created_at=now,
            last_seen_at=now,
            idle_expires_at=min(now + policy.idle, now + policy.absolute),
            absolute_expires_at=now + policy.absolute,
            second_factor_at=second_factor_at,
            client_ip=client_ip,
            user_agent=user_agent,
            revoked_at=None,
        )


@dataclass(frozen=True)
class Link:
    id: UUID
    account_id: UUID
    purpose: LinkPurpose
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
