"""Tables and repositories of people: accounts (with recovery codes and platform roles), shop memberships,
sessions and second-factor challenges, one-time links. Secrets are stored as digests only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.contracts.accounts import LinkPurpose, PlatformRole, ShopRole
from faka_common.crypto import Sealed
from faka_common.db.resealing import SealedColumns, SealedTable
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.adapters.orm import metadata
from merchant.domain.accounts import (
    CHALLENGE_ATTEMPTS,
    Account,
    EmailTaken,
    Link,
    Member,
    Membership,
    Person,
    Session,
    totp_context,
)


def _at(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _account_ref(**options: Any) -> Column[UUID]:
    return Column("account_id", PgUUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False, **options)


accounts = Table(
    "accounts",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("email", Text, nullable=False),
    Column("password_hash", Text),
    _at("email_verified_at", nullable=True),
    Column("totp_secret", LargeBinary),
    Column("totp_key_id", Text),
    _at("totp_enabled_at", nullable=True),
    Column("totp_last_step", BigInteger),
    _at("created_at"),
    _at("updated_at"),
)
#: What a key rotation re-seals (faka_common.db.resealing): each account's TOTP secret.
SEALED = SealedTable(
    accounts,
    key=[accounts.c.id],
    values=[SealedColumns(accounts.c.totp_key_id, accounts.c.totp_secret, lambda r: totp_context(r.id))],
)
recovery_codes = Table(
    "recovery_codes",
    metadata,
    _account_ref(primary_key=True),
    Column("digest", LargeBinary, primary_key=True),
    _at("created_at"),
    _at("used_at", nullable=True),
)
platform_roles = Table(
    "platform_roles",
    metadata,
    _account_ref(primary_key=True),
    Column("role", Text, primary_key=True),
    _at("granted_at"),
    CheckConstraint("role IN ('admin', 'support')", name="platform_roles_role"),
)
memberships = Table(
    "memberships",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), ForeignKey("shops.id"), primary_key=True),
    _account_ref(primary_key=True),
    Column("role", Text, nullable=False),
    _at("created_at"),
    _at("updated_at"),
    Index("memberships_account", "account_id"),
)
sessions = Table(
    "sessions",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    _account_ref(),
    Column("token_digest", LargeBinary, nullable=False, unique=True),
    _at("created_at"),
    _at("last_seen_at"),
    _at("idle_expires_at"),
    _at("absolute_expires_at"),
    _at("second_factor_at", nullable=True),
    Column("client_ip", Text),
    Column("user_agent", Text, nullable=False),
    _at("revoked_at", nullable=True),
)
sign_in_challenges = Table(
    "sign_in_challenges",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    _account_ref(),
    Column("digest", LargeBinary, nullable=False, unique=True),
    _at("created_at"),
    _at("expires_at"),
    Column("failed_attempts", Integer, nullable=False),
    _at("used_at", nullable=True),
)
account_links = Table(
    "account_links",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    _account_ref(),
    Column("purpose", Text, nullable=False),
    Column("digest", LargeBinary, nullable=False, unique=True),
    _at("created_at"),
    _at("expires_at"),
    _at("used_at", nullable=True),
)

#: Changes to platform roles take this transaction lock, so the last admin cannot be revoked twice at once.
PLATFORM_ROLES_LOCK = 7_340_101


def _account(row: Any) -> Account:
    fields = {column.name: row._mapping[column.name] for column in accounts.c}
    blob, key_id = fields.pop("totp_secret"), fields.pop("totp_key_id")
    return Account(**fields, totp_secret=Sealed(key_id, blob) if blob is not None else None)


def _membership(row: Any) -> Membership:
    return Membership(**row._mapping)


def _session(row: Any) -> Session:
    return Session(**{k: v for k, v in row._mapping.items() if k != "token_digest"})


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, account: Account) -> None:
        """Store a new account; EmailTaken when an account has its address (in any case)."""
        stored = await self._session.execute(
            insert(accounts)
            .values(
                id=account.id,
                email=account.email,
                password_hash=account.password_hash,
                email_verified_at=account.email_verified_at,
                created_at=account.created_at,
                updated_at=account.updated_at,
            )
            .on_conflict_do_nothing()
            .returning(accounts.c.id)
        )
        if stored.first() is None:
            raise EmailTaken(f"an account with the address {account.email!r} exists")

    async def get(self, account_id: UUID, *, for_update: bool = False) -> Account | None:
        query = select(accounts).where(accounts.c.id == account_id)
        row = (await self._session.execute(query.with_for_update() if for_update else query)).first()
        return _account(row) if row else None

    async def by_email(self, email: str) -> Account | None:
        query = select(accounts).where(func.lower(accounts.c.email) == func.lower(email))
        row = (await self._session.execute(query)).first()
        return _account(row) if row else None

    async def person(self, account: Account) -> Person:
        roles = await self._session.execute(
            select(platform_roles.c.role)
            .where(platform_roles.c.account_id == account.id)
            .order_by(platform_roles.c.role)
        )
        shops = await self._session.execute(
            select(memberships).where(memberships.c.account_id == account.id).order_by(memberships.c.shop_id)
        )
        return Person(account, tuple(roles.scalars()), tuple(_membership(row) for row in shops))

    async def set_password(
        self, account_id: UUID, password_hash: str, now: datetime, *, verified: bool
    ) -> None:
        """A new password hash; `verified`: the person showed they read the account's mail (a link)."""
        values: dict[str, Any] = {"password_hash": password_hash, "updated_at": now}
        if verified:
            values["email_verified_at"] = func.coalesce(accounts.c.email_verified_at, now)
        await self._session.execute(update(accounts).where(accounts.c.id == account_id).values(**values))

    async def mark_verified(self, account_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.email_verified_at.is_(None))
            .values(email_verified_at=now, updated_at=now)
        )

    async def start_totp(self, account_id: UUID, sealed: Sealed, now: datetime) -> bool:
        """Keep a new TOTP secret waiting for its first code; False when TOTP is enabled already."""
        started = await self._session.execute(
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.totp_enabled_at.is_(None))
            .values(
                totp_secret=sealed.blob,
                totp_key_id=sealed.key_id,
                totp_last_step=None,
                updated_at=now,
            )
            .returning(accounts.c.id)
        )
        return started.first() is not None

    async def accept_totp_step(
        self, account: Account, step: int, *, enable_at: datetime | None = None
    ) -> bool:
        """Record `step` as the last TOTP time step accepted, if it is later than the one stored (a code is
        never accepted twice, even by two requests at once: the row's update decides) and the secret is
        still the one the code was checked against; with `enable_at`, TOTP is enabled by it, once."""
        assert account.totp_secret is not None
        condition = [
            accounts.c.id == account.id,
            accounts.c.totp_secret == account.totp_secret.blob,
            or_(accounts.c.totp_last_step.is_(None), accounts.c.totp_last_step < step),
        ]
        values: dict[str, Any] = {"totp_last_step": step}
        if enable_at is not None:
            condition.append(accounts.c.totp_enabled_at.is_(None))
            values |= {"totp_enabled_at": enable_at, "updated_at": enable_at}
        else:
            condition.append(accounts.c.totp_enabled_at.is_not(None))
        accepted = await self._session.execute(
            update(accounts).where(*condition).values(**values).returning(accounts.c.id)
        )
        return accepted.first() is not None

    async def replace_recovery_codes(self, account_id: UUID, digests: Sequence[bytes], now: datetime) -> None:
        await self._session.execute(delete(recovery_codes).where(recovery_codes.c.account_id == account_id))
        await self._session.execute(
            insert(recovery_codes),
            [{"account_id": account_id, "digest": d, "created_at": now} for d in digests],
        )

    async def use_recovery_code(self, account_id: UUID, code_digest: bytes, now: datetime) -> bool:
        """Spend the recovery code; False when the account has no such unused code."""
        used = await self._session.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.account_id == account_id,
                recovery_codes.c.digest == code_digest,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(recovery_codes.c.account_id)
        )
        return used.first() is not None

    async def unused_recovery_codes(self, account_id: UUID) -> int:
        count = select(func.count()).where(
            recovery_codes.c.account_id == account_id, recovery_codes.c.used_at.is_(None)
        )
        return int((await self._session.execute(count)).scalar_one())

    async def lock_platform_roles(self) -> None:
        await self._session.execute(select(func.pg_advisory_xact_lock(PLATFORM_ROLES_LOCK)))

    async def grant(self, account_id: UUID, role: PlatformRole, now: datetime) -> bool:
        """Give the platform role; False when the account holds it already."""
        granted = await self._session.execute(
            insert(platform_roles)
            .values(account_id=account_id, role=role, granted_at=now)
            .on_conflict_do_nothing()
            .returning(platform_roles.c.role)
        )
        return granted.first() is not None

    async def revoke(self, account_id: UUID, role: PlatformRole) -> bool:
        revoked = await self._session.execute(
            delete(platform_roles)
            .where(platform_roles.c.account_id == account_id, platform_roles.c.role == role)
            .returning(platform_roles.c.role)
        )
        return revoked.first() is not None

    async def holders(self, role: PlatformRole) -> int:
        count = select(func.count()).where(platform_roles.c.role == role)
        return int((await self._session.execute(count)).scalar_one())

    async def staff(self) -> list[tuple[Account, tuple[PlatformRole, ...]]]:
        """Every account with a platform role, by address, with its roles."""
        query = (
            select(accounts, platform_roles.c.role)
            .join(platform_roles, platform_roles.c.account_id == accounts.c.id)
            .order_by(func.lower(accounts.c.email), accounts.c.id, platform_roles.c.role)
        )
        out: dict[UUID, tuple[Account, tuple[PlatformRole, ...]]] = {}
        for row in (await self._session.execute(query)).all():
            account, roles = out.get(row.id) or (_account(row), ())
            out[row.id] = (account, (*roles, row.role))
        return list(out.values())


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, shop_id: UUID, account_id: UUID) -> Membership | None:
        query = select(memberships).where(
            memberships.c.shop_id == shop_id, memberships.c.account_id == account_id
        )
        row = (await self._session.execute(query)).first()
        return _membership(row) if row else None

    async def of_shop(self, shop_id: UUID) -> list[Member]:
        query = (
            select(memberships, accounts.c.email)
            .join(accounts, accounts.c.id == memberships.c.account_id)
            .where(memberships.c.shop_id == shop_id)
            .order_by(func.lower(accounts.c.email))
        )
        return [
            Member(Membership(**{k: v for k, v in row._mapping.items() if k != "email"}), row.email)
            for row in (await self._session.execute(query)).all()
        ]

    async def add(self, membership: Membership) -> bool:
        """Store the membership; False when the person is a member of the shop already."""
        added = await self._session.execute(
            insert(memberships)
            .values(
                shop_id=membership.shop_id,
                account_id=membership.account_id,
                role=membership.role,
                created_at=membership.created_at,
                updated_at=membership.updated_at,
            )
            .on_conflict_do_nothing()
            .returning(memberships.c.role)
        )
        return added.first() is not None

    async def set_role(self, shop_id: UUID, account_id: UUID, role: ShopRole, now: datetime) -> None:
        await self._session.execute(
            update(memberships)
            .where(memberships.c.shop_id == shop_id, memberships.c.account_id == account_id)
            .values(role=role, updated_at=now)
        )

    async def remove(self, shop_id: UUID, account_id: UUID) -> None:
        await self._session.execute(
            delete(memberships).where(
                memberships.c.shop_id == shop_id, memberships.c.account_id == account_id
            )
        )

    async def owners(self, shop_id: UUID) -> int:
        count = select(func.count()).where(memberships.c.shop_id == shop_id, memberships.c.role == "owner")
        return int((await self._session.execute(count)).scalar_one())


class SessionRepository:
    """Sessions and the second-factor challenges that lead to them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, opened: Session, token_digest: bytes) -> None:
        values = {k: v for k, v in vars(opened).items()}
        await self._session.execute(insert(sessions).values(**values, token_digest=token_digest))

    def _live(self, token_digest: bytes, now: datetime) -> list[Any]:
        return [
            sessions.c.token_digest == token_digest,
            sessions.c.revoked_at.is_(None),
            sessions.c.idle_expires_at > now,
            sessions.c.absolute_expires_at > now,
        ]

    async def touch(self, token_digest: bytes, now: datetime, idle: timedelta) -> Session | None:
        """The live session the token opens, seen now: its idle expiry slides to `idle` from now (never past
        its absolute expiry). None when the token opens no live session."""
        touched = await self._session.execute(
            update(sessions)
            .where(*self._live(token_digest, now))
            .values(
                last_seen_at=now,
                idle_expires_at=func.least(literal(now + idle), sessions.c.absolute_expires_at),
            )
            .returning(*sessions.c)
        )
        row = touched.first()
        return _session(row) if row else None

    async def live(self, token_digest: bytes, now: datetime, *, for_update: bool = False) -> Session | None:
        query = select(sessions).where(*self._live(token_digest, now))
        row = (await self._session.execute(query.with_for_update() if for_update else query)).first()
        return _session(row) if row else None

    async def set_second_factor(self, session_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(sessions).where(sessions.c.id == session_id).values(second_factor_at=now)
        )

    async def revoke(self, session_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_all(self, account_id: UUID, now: datetime, *, but: UUID | None = None) -> int:
        """Revoke every live session of the account (but the one `but` names); how many were revoked."""
        query = update(sessions).where(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None))
        if but is not None:
            query = query.where(sessions.c.id != but)
        revoked = await self._session.execute(query.values(revoked_at=now).returning(sessions.c.id))
        return len(revoked.all())

    async def add_challenge(
        self,
        challenge_id: UUID,
        account_id: UUID,
        challenge_digest: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self._session.execute(
            insert(sign_in_challenges).values(
                id=challenge_id,
                account_id=account_id,
                digest=challenge_digest,
                created_at=now,
                expires_at=expires_at,
                failed_attempts=0,
            )
        )

    async def open_challenge(self, challenge_digest: bytes, now: datetime) -> tuple[UUID, UUID] | None:
        """(challenge id, account id) of the challenge the token names while it can still be completed,
        locked until the transaction ends (one completion at a time); None otherwise."""
        query = (
            select(sign_in_challenges.c.id, sign_in_challenges.c.account_id)
            .where(
                sign_in_challenges.c.digest == challenge_digest,
                sign_in_challenges.c.used_at.is_(None),
                sign_in_challenges.c.expires_at > now,
                sign_in_challenges.c.failed_attempts < CHALLENGE_ATTEMPTS,
            )
            .with_for_update()
        )
        row = (await self._session.execute(query)).first()
        return (row.id, row.account_id) if row else None

    async def fail_challenge(self, challenge_id: UUID) -> None:
        await self._session.execute(
            update(sign_in_challenges)
            .where(sign_in_challenges.c.id == challenge_id)
            .values(failed_attempts=sign_in_challenges.c.failed_attempts + 1)
        )

    async def complete_challenge(self, challenge_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(sign_in_challenges).where(sign_in_challenges.c.id == challenge_id).values(used_at=now)
        )


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, link: Link, link_digest: bytes) -> None:
        """Store a new link; the account's earlier unused links for the same purpose are spent (only the
        newest e-mail works)."""
        await self._session.execute(
            update(account_links)
            .where(
                account_links.c.account_id == link.account_id,
                account_links.c.purpose == link.purpose,
                account_links.c.used_at.is_(None),
            )
            .values(used_at=link.created_at)
        )
        await self._session.execute(insert(account_links).values(**vars(link), digest=link_digest))

    async def redeem(self, link_digest: bytes, purpose: LinkPurpose, now: datetime) -> Link | None:
        """Spend the link the token names, if it is for `purpose`, unused and unexpired (once: the row's
        update decides between two requests at once); None otherwise."""
        redeemed = await self._session.execute(
            update(account_links)
            .where(
                account_links.c.digest == link_digest,
                account_links.c.purpose == purpose,
                account_links.c.used_at.is_(None),
                account_links.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(*(c for c in account_links.c if c.name != "digest"))
        )
        row = redeemed.first()
        return Link(**row._mapping) if row else None
