"""faka-admin: the operator's commands, on the merchant service's settings (its environment) and database: the
platform's first admin, a shop's owner, a shop's API token. There is never a default password: a command
prints a one-time link where the person sets one, or, asked to, a random password. Every change is written
to the audit log with it (actor faka-admin). A refusal exits 2 with its reason on stderr."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NoReturn, TypeVar

import typer
from faka_common.db.migrations import upgrade
from faka_common.errors import DomainError
from faka_common.fields import printable_message
from pydantic import ValidationError

from merchant.bootstrap import Service, bootstrap
from merchant.config import MIGRATIONS
from merchant.domain.api_tokens import SCOPES, ApiToken, IssueApiTokenAsOperator
from merchant.domain.commands import MakeShopOwner
from merchant.domain.shops import Shop
from merchant.entrypoints.accounts import link_url
from merchant.entrypoints.api_tokens import NewApiToken
from merchant.service_layer import accounts, api_tokens, memberships

T = TypeVar("T")

app = typer.Typer(help="Administer the faka platform's people.", no_args_is_help=True)


@app.callback()
def main_options() -> None:
    """Reads the merchant service's settings from the environment (DATABASE_URL, PUBLIC_BASE_URL, ...)."""


@app.command("create-platform-admin")
def create_platform_admin(
    email: str = typer.Option(..., "--email", help="The admin's e-mail address"),
) -> None:
    """Make EMAIL a platform admin (opening the account, without a password, if there is none) and print a
    one-time link to set its password. Run again, it prints a fresh link (the earlier one stops working)."""

    async def work(service: Service) -> tuple[str, int]:
        issued = await accounts.create_platform_admin(
            email, service.uow(), service.credentials, service.clock()
        )
        return link_url(service, issued.link.purpose, issued.token), service.settings.link_minutes

    url, minutes = _run(work)
    typer.echo(f"{email} is a platform admin. Set the password within {minutes} minutes, once, at:")
    typer.echo(url)


@app.command("create-shop-owner")
def create_shop_owner(
    shop: str = typer.Option(..., "--shop", help="The shop's slug or id"),
    email: str = typer.Option(..., "--email", help="The owner's e-mail address"),
    random_password: bool = typer.Option(
        False, "--random-password", help="Set a random password and print it (else print a one-time link)"
    ),
) -> None:
    """Make EMAIL an owner of the shop (opening the account if there is none), then print a one-time link
    to set the password, or with --random-password set one and print `email: ...` and `password: ...`
    (every session of the account is signed out). Owners set up TOTP at their first sign-in."""
    password = secrets.token_urlsafe(18) if random_password else None

    async def work(service: Service) -> tuple[memberships.MadeOwner, str | None, int]:
        command = MakeShopOwner(shop, email, password)
        made = await memberships.make_shop_owner(command, service.uow(), service.credentials, service.clock())
        url = None if made.link is None else link_url(service, made.link.link.purpose, made.link.token)
        return made, url, service.settings.link_minutes

    made, url, minutes = _run(work)
    owner = made.account.email
    if url is None:
        typer.echo(f"{owner} is an owner of shop {made.shop.slug}; they set up TOTP at their first sign-in.")
        typer.echo(f"email: {owner}")
        typer.echo(f"password: {password}")
    else:
        typer.echo(
            f"{owner} is an owner of shop {made.shop.slug}. "
            f"Set the password within {minutes} minutes, once, at:"
        )
        typer.echo(url)


@app.command("create-api-token")
def create_api_token(
    shop: str = typer.Option(..., "--shop", help="The shop's slug or id"),
    by: str = typer.Option(
        ..., "--by", help="The e-mail of the shop's owner or manager, or of a platform admin, it is made for"
    ),
    name: str = typer.Option(..., "--name", help="What the token is for"),
    scope: list[str] = typer.Option([], "--scope", help=f"A scope (repeat for more): {', '.join(SCOPES)}"),
    all_scopes: bool = typer.Option(False, "--all-scopes", help="Every scope"),
    expires_in_days: int | None = typer.Option(
        None, "--expires-in-days", min=1, max=3650, help="Expires this many days from now (else never)"
    ),
) -> None:
    """Make an API token of the shop as the API does, in the name of BY, and print it (shown this once: only
    its digest is kept) alone on the last line."""
    if all_scopes == bool(scope):
        _refuse("give --scope (once per scope) or --all-scopes")
    try:
        wanted = NewApiToken.model_validate({"name": name, "scopes": list(SCOPES) if all_scopes else scope})
    except ValidationError as error:
        _refuse(_invalid(error))
    expires_in = None if expires_in_days is None else timedelta(days=expires_in_days)
    command = IssueApiTokenAsOperator(shop, by, wanted.name, tuple(wanted.scopes), expires_in)

    async def work(service: Service) -> tuple[ApiToken, str, Shop]:
        return await api_tokens.issue_as_operator(command, service.uow(), service.clock())

    token, secret, made_in = _run(work)
    expires = token.expires_at.isoformat() if token.expires_at else "never"
    typer.echo(
        f"API token {token.id} {token.name!r} of shop {made_in.slug} for {by}: "
        f"scopes {', '.join(token.scopes)}; expires {expires}. Shown this once:"
    )
    typer.echo(secret)


def _run(work: Callable[[Service], Awaitable[T]]) -> T:
    """`work` on the merchant service (its database migrated first, unless RUN_MIGRATIONS is off); a refusal
    or settings the service refuses exit 2, saying why."""
    try:
        return asyncio.run(_on_service(work))
    except DomainError as error:
        _refuse(error.message)
    except ValidationError as error:  # the settings: say which, without a traceback
        typer.echo(f"the merchant settings are refused: {error}", err=True)
        raise typer.Exit(2) from None


async def _on_service(work: Callable[[Service], Awaitable[T]]) -> T:
    service = bootstrap()
    try:
        if service.settings.run_migrations:
            await upgrade(service.settings.database_url, MIGRATIONS)
        return await work(service)
    finally:
        await service.runtime.engine.dispose()


def _invalid(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {printable_message(e) or e['msg']}" for e in error.errors()
    )


def _refuse(reason: str) -> NoReturn:
    typer.echo(f"refused: {reason}", err=True)
    raise typer.Exit(2)


def main() -> None:
    app()
