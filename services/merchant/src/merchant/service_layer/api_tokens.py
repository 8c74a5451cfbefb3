"""A shop's API tokens: made (shown once), listed and revoked by the shop's owners and managers, each request
acting as the person of its session; made from faka-admin by the operator in a person's name; resolved for
the gateway when a script calls with one. A shop the person neither works in nor oversees is no shop to them
(404, nothing changes)."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID, uuid4

from faka_common.errors import NotFound

from merchant.domain.accounts import (
    NotAllowed,
    Person,
    StepUpRequired,
    check_email,
    digest,
    second_factor_fresh,
)
from merchant.domain.api_tokens import (
    ApiToken,
    ApiTokenInvalid,
    BadExpiry,
    IssueApiToken,
    IssueApiTokenAsOperator,
    Scope,
    may_manage_tokens,
    new_api_token,
)
from merchant.domain.audit import cli_entry
from merchant.domain.shops import Shop
from merchant.service_layer.accounts import Credentials, acting_session
from merchant.service_layer.shops import named_shop
from merchant.service_layer.unit_of_work import MerchantUnitOfWork

log = logging.getLogger(__name__)


async def issue(
    cmd: IssueApiToken, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> tuple[ApiToken, str]:
    """A new token of the shop and the token itself (answered once: only its digest is kept)."""
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise BadExpiry("expires_at must be in the future")
    async with uow:
        session, actor = await acting_session(uow, creds, cmd.session_token, now)
        await _manager(uow, actor, cmd.shop_id)
        if not second_factor_fresh(session.second_factor_at, now):
            raise StepUpRequired("API tokens are made")
        token, secret = await _store(uow, cmd.shop_id, cmd.name, cmd.scopes, actor, cmd.expires_at, now)
        await uow.commit()
    log.info("shop %s: API token %s made by account %s", cmd.shop_id, token.id, actor.account.id)
    return token, secret


async def issue_as_operator(
    cmd: IssueApiTokenAsOperator, uow: MerchantUnitOfWork, now: datetime
) -> tuple[ApiToken, str, Shop]:
    """A new token of the shop made from faka-admin, as the API makes one, in the name of `cmd.by` (the
    shop's owner or manager, or a platform admin: no session, the operator vouches), audited with it."""
    expires_at = None if cmd.expires_in is None else now + cmd.expires_in
    if expires_at is not None and expires_at <= now:
        raise BadExpiry("a token expires in the future")
    async with uow:
        shop = await named_shop(uow, cmd.shop)
        account = await uow.accounts.by_email(check_email(cmd.by))
        if account is None:
            raise NotFound(f"no account has the address {cmd.by!r}")
        person = await uow.accounts.person(account)
        if not may_manage_tokens(person, shop.id):
            raise NotAllowed(
                f"{account.email} is neither an owner or manager of shop {shop.slug} nor a platform admin"
            )
        token, secret = await _store(uow, shop.id, cmd.name, cmd.scopes, person, expires_at, now)
        summary = (
            f"API token {token.name!r} made for {account.email}: scopes {', '.join(token.scopes)}; "
            f"expires {token.expires_at.isoformat() if token.expires_at else 'never'}"
        )
        await uow.audit.add(
            cli_entry(now, "api_tokens.create", summary, shop_id=shop.id, target=f"token_id={token.id}")
        )
        await uow.commit()
    log.info("shop %s: API token %s made with faka-admin for account %s", shop.id, token.id, account.id)
    return token, secret, shop


async def list_tokens(
    session_token: str, shop_id: UUID, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> list[ApiToken]:
    async with uow:
        _, actor = await acting_session(uow, creds, session_token, now)
        await _manager(uow, actor, shop_id)
        found = await uow.api_tokens.of_shop(shop_id)
        await uow.commit()
    return found


async def revoke(
    session_token: str,
    shop_id: UUID,
    token_id: UUID,
    uow: MerchantUnitOfWork,
    creds: Credentials,
    now: datetime,
) -> None:
    """Revoke the shop's token (once revoked, again is no change)."""
    async with uow:
        _, actor = await acting_session(uow, creds, session_token, now)
        await _manager(uow, actor, shop_id)
        if await uow.api_tokens.revoke(shop_id, token_id, now) is None:
            raise NotFound(f"shop {shop_id} has no API token {token_id}")
        await uow.commit()
    log.info("shop %s: API token %s revoked by account %s", shop_id, token_id, actor.account.id)


async def resolve(secret: str, uow: MerchantUnitOfWork, now: datetime) -> ApiToken:
    """The live token `secret` is; ApiTokenInvalid (one answer) when it is unknown, revoked or expired, or
    its shop is closed (closing is final: nothing acts for a closed shop)."""
    async with uow:
        token = await uow.api_tokens.use(digest(secret), now)
        shop = None if token is None else await uow.shops.get(token.shop_id)
        await uow.commit()
    if token is None or shop is None or shop.status == "closed":
        raise ApiTokenInvalid()
    return token


async def _store(
    uow: MerchantUnitOfWork,
    shop_id: UUID,
    name: str,
    scopes: tuple[Scope, ...],
    creator: Person,
    expires_at: datetime | None,
    now: datetime,
) -> tuple[ApiToken, str]:
    """A new token of the shop stored (its digest only) and the token itself."""
    secret = new_api_token()
    token = ApiToken(
        id=uuid4(),
        shop_id=shop_id,
        name=name,
        scopes=tuple(sorted(set(scopes))),
        created_by=creator.account.id,
        created_at=now,
        last_used_at=None,
        expires_at=expires_at,
        revoked_at=None,
    )
    await uow.api_tokens.add(token, digest(secret))
    return token, secret


async def _manager(uow: MerchantUnitOfWork, actor: Person, shop_id: UUID) -> None:
    """The acting person may manage the shop's tokens: a shop they neither work in nor oversee (platform
    staff) is 404, as an unknown shop; a role below manager 403."""
    if not actor.platform_roles and actor.role_in(shop_id) is None:
        raise NotFound(f"no shop {shop_id}")
    if await uow.shops.get(shop_id) is None:
        raise NotFound(f"no shop {shop_id}")
    if not may_manage_tokens(actor, shop_id):
        raise NotAllowed("only the shop's owners and managers manage its API tokens")
