"""faka-admin: the platform's first admin, on the merchant service's settings (its environment) and database.
There is never a default password: the command prints a one-time link where the person sets one."""

from __future__ import annotations

import asyncio

import typer
from faka_common.db.migrations import upgrade
from faka_common.errors import DomainError
from pydantic import ValidationError

from merchant.bootstrap import bootstrap
from merchant.config import MIGRATIONS
from merchant.entrypoints.accounts import link_url
from merchant.service_layer import accounts

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
    try:
        url, minutes = asyncio.run(_create_platform_admin(email))
    except DomainError as error:
        typer.echo(f"refused: {error.message}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:  # the settings: say which, without a traceback
        typer.echo(f"the merchant settings are refused: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{email} is a platform admin. Set the password within {minutes} minutes, once, at:")
    typer.echo(url)


async def _create_platform_admin(email: str) -> tuple[str, int]:
    service = bootstrap()
    try:
        if service.settings.run_migrations:
            await upgrade(service.settings.database_url, MIGRATIONS)
        issued = await accounts.create_platform_admin(
            email, service.uow(), service.credentials, service.clock()
        )
    finally:
        await service.runtime.engine.dispose()
    return link_url(service, issued.link.purpose, issued.token), service.settings.link_minutes


def main() -> None:
    app()
