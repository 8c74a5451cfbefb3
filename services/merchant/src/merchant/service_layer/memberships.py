"""Who works in a shop and on the platform: a shop's members and their roles, the platform's staff. Every
change is made by a person (the session of the request), and only as far as that person's own role goes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from faka_common.contracts.accounts import AccountLinkRequested, PlatformRole
from faka_common.errors import Conflict, NotFound

from merchant.domain.accounts import (
    Account,
    LastOwner,
    LastPlatformAdmin,
    Member,
    Membership,
    NotAllowed,
    Person,
    check_email,
    may_manage_member,
)
from merchant.domain.audit import cli_entry
from merchant.domain.commands import AddMember, ChangeMember, GrantPlatformRole, MakeShopOwner
from merchant.domain.shops import Shop
from merchant.service_layer.accounts import (
    Credentials,
    IssuedLink,
    acting_session,
    get_or_open_account,
    issue_link_in,
)
from merchant.service_layer.shops import named_shop
from merchant.service_layer.unit_of_work import MerchantUnitOfWork

log = logging.getLogger(__name__)


async def list_members(
    token: str, shop_id: UUID, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> list[Member]:
    """The shop's members, for its own members and the platform's staff."""
    async with uow:
        _, actor = await acting_session(uow, creds, token, now)
        _visible(actor, shop_id)
        members = await uow.memberships.of_shop(shop_id)
        if not members and await uow.shops.get(shop_id) is None:
            raise NotFound(f"no shop {shop_id}")
        await uow.commit()
    return members


async def add_member(cmd: AddMember, uow: MerchantUnitOfWork, creds: Credentials, now: datetime) -> Member:
    """Make the person of `email` a member of the shop; a person without an account gets one (without a
    password) and a set-up link by e-mail."""
    address = check_email(cmd.email)
    async with uow:
        actor = await _lock_shop(uow, creds, cmd.session_token, cmd.shop_id, now)
        if not may_manage_member(actor, cmd.shop_id, cmd.role, None):
            raise NotAllowed(f"your role in this shop cannot make members {cmd.role}")
        account, opened = await get_or_open_account(uow, address, now)
        membership = Membership(cmd.shop_id, account.id, cmd.role, now, now)
        if not await uow.memberships.add(membership):
            raise Conflict(f"{account.email} is a member of this shop already; change their role instead")
        if opened:
            uow.publish(_invitation(account, now, cmd.shop_id))
        await uow.commit()
    log.info("shop %s: account %s joined as %s", cmd.shop_id, account.id, cmd.role)
    return Member(membership, account.email)


@dataclass(frozen=True)
class MadeOwner:
    shop: Shop
    account: Account
    link: IssuedLink | None


async def make_shop_owner(
    cmd: MakeShopOwner, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> MadeOwner:
    """From faka-admin (the operator: no session): the person of `cmd.email` (an account opened without a
    password when there is none) an owner of the shop, with a one-time link to set the password, or with
    `cmd.password` set (every session of the account revoked); audited in the same transaction."""
    address = check_email(cmd.email)
    new_hash = None if cmd.password is None else await creds.passwords.hash(cmd.password)
    async with uow:
        shop = await named_shop(uow, cmd.shop, for_update=True)
        account, opened = await get_or_open_account(uow, address, now)
        current = await uow.memberships.get(shop.id, account.id)
        if current is None:
            await uow.memberships.add(Membership(shop.id, account.id, "owner", now, now))
        elif current.role != "owner":
            await uow.memberships.set_role(shop.id, account.id, "owner", now)
        changes = [f"{address} owner of shop {shop.slug}" + (f" (was {current.role})" if current else "")]
        changes += ["account opened"] if opened else []
        link = None
        if new_hash is not None:
            await uow.accounts.set_password(account.id, new_hash, now, verified=False)
            revoked = await uow.sessions.revoke_all(account.id, now)
            changes.append(f"random password set, {revoked} sessions revoked")
        else:
            link = await issue_link_in(uow, creds, account, now)
            changes.append(f"{link.link.purpose} link issued")
        action = "members.create" if current is None else "members.update"
        await uow.audit.add(
            cli_entry(now, action, "; ".join(changes), shop_id=shop.id, target=f"account_id={account.id}")
        )
        await uow.commit()
    log.info("shop %s: account %s made owner with faka-admin", shop.id, account.id)
    return MadeOwner(shop, account, link)


async def change_member(
    cmd: ChangeMember, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> Member:
    """Give a member another role; the shop's last owner stays one."""
    async with uow:
        actor = await _lock_shop(uow, creds, cmd.session_token, cmd.shop_id, now)
        current = await _membership(uow, cmd.shop_id, cmd.account_id)
        if not may_manage_member(actor, cmd.shop_id, cmd.role, current.role):
            raise NotAllowed(f"your role in this shop cannot make a {current.role} {cmd.role}")
        if current.role == "owner" and cmd.role != "owner" and await uow.memberships.owners(cmd.shop_id) == 1:
            raise LastOwner()
        await uow.memberships.set_role(cmd.shop_id, cmd.account_id, cmd.role, now)
        account = await uow.accounts.get(cmd.account_id)
        assert account is not None
        await uow.commit()
    log.info("shop %s: account %s is now %s", cmd.shop_id, cmd.account_id, cmd.role)
    return Member(Membership(cmd.shop_id, cmd.account_id, cmd.role, current.created_at, now), account.email)


async def remove_member(
    token: str, shop_id: UUID, account_id: UUID, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> None:
    """Take a member out of the shop; the shop's last owner stays."""
    async with uow:
        actor = await _lock_shop(uow, creds, token, shop_id, now)
        current = await _membership(uow, shop_id, account_id)
        if not may_manage_member(actor, shop_id, current.role, current.role):
            raise NotAllowed(f"your role in this shop cannot remove a {current.role}")
        if current.role == "owner" and await uow.memberships.owners(shop_id) == 1:
            raise LastOwner()
        await uow.memberships.remove(shop_id, account_id)
        await uow.commit()
    log.info("shop %s: account %s removed", shop_id, account_id)


async def list_staff(
    token: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> list[tuple[Account, tuple[PlatformRole, ...]]]:
    async with uow:
        _, actor = await acting_session(uow, creds, token, now)
        if not actor.platform_roles:
            raise NotAllowed("only the platform's staff see its staff")
        staff = await uow.accounts.staff()
        await uow.commit()
    return staff


async def grant_platform_role(
    cmd: GrantPlatformRole, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> tuple[Account, tuple[PlatformRole, ...]]:
    """Give the person of `email` a platform role (a new account and a set-up link when there is none)."""
    address = check_email(cmd.email)
    async with uow:
        await _platform_admin(uow, creds, cmd.session_token, now)
        await uow.accounts.lock_platform_roles()
        account, opened = await get_or_open_account(uow, address, now)
        await uow.accounts.grant(account.id, cmd.role, now)
        if opened:
            uow.publish(_invitation(account, now))
        person = await uow.accounts.person(account)
        await uow.commit()
    log.info("account %s holds the platform role %s", account.id, cmd.role)
    return account, person.platform_roles


async def revoke_platform_role(
    token: str,
    account_id: UUID,
    role: PlatformRole,
    uow: MerchantUnitOfWork,
    creds: Credentials,
    now: datetime,
) -> None:
    """Take a platform role away; the platform's last admin stays one."""
    async with uow:
        await _platform_admin(uow, creds, token, now)
        await uow.accounts.lock_platform_roles()
        account = await uow.accounts.get(account_id)
        held = account is not None and role in (await uow.accounts.person(account)).platform_roles
        if not held:
            raise NotFound(f"account {account_id} does not hold the platform role {role}")
        if role == "admin" and await uow.accounts.holders("admin") == 1:
            raise LastPlatformAdmin()
        await uow.accounts.revoke(account_id, role)
        await uow.commit()
    log.info("account %s no longer holds the platform role %s", account_id, role)


def _visible(actor: Person, shop_id: UUID) -> None:
    """A shop the person neither works in nor oversees (as platform staff) is no shop to them: 404, as an
    unknown shop."""
    if not actor.platform_roles and actor.role_in(shop_id) is None:
        raise NotFound(f"no shop {shop_id}")


async def _lock_shop(
    uow: MerchantUnitOfWork, creds: Credentials, token: str, shop_id: UUID, now: datetime
) -> Person:
    """The acting person, with the shop locked: changes to one shop's members follow one another, so two
    owners cannot each demote the other and leave the shop without one."""
    _, actor = await acting_session(uow, creds, token, now)
    _visible(actor, shop_id)
    if await uow.shops.get(shop_id, for_update=True) is None:
        raise NotFound(f"no shop {shop_id}")
    return actor


async def _membership(uow: MerchantUnitOfWork, shop_id: UUID, account_id: UUID) -> Membership:
    membership = await uow.memberships.get(shop_id, account_id)
    if membership is None:
        raise NotFound(f"account {account_id} is no member of shop {shop_id}")
    return membership


async def _platform_admin(uow: MerchantUnitOfWork, creds: Credentials, token: str, now: datetime) -> None:
    _, actor = await acting_session(uow, creds, token, now)
    if not actor.is_platform_admin:
        raise NotAllowed("only a platform admin changes the platform's roles")


def _invitation(account: Account, now: datetime, shop_id: UUID | None = None) -> AccountLinkRequested:
    return AccountLinkRequested(
        account_id=account.id, purpose="account_setup", requested_at=now, shop_id=shop_id
    )
