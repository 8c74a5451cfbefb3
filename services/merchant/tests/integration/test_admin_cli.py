"""faka-admin run as the operator runs it (the console script, a subprocess on merchant's settings) against a
real migrated database: create-shop-owner makes a shop's owner who signs in with the printed password (TOTP
to set up first) or sets one through the printed link; create-api-token prints a token that resolves to its
shop and scopes; create-platform-admin too leaves an audit entry. Each change is audited as faka-admin in its
transaction; a refusal exits 2 with the reason on stderr and changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from faka_common.testing import asgi_client
from merchant.admin_cli import app
from merchant.bootstrap import Service
from merchant.domain.api_tokens import SCOPES
from merchant.entrypoints.http import build_app
from typer.testing import CliRunner

from .conftest import acting, migrated_service, open_account, open_shop, query, sign_in

FAKA_ADMIN = Path(sys.executable).parent / "faka-admin"


@dataclass
class Run:
    code: int
    out: list[str]
    err: str


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    """On the real clock: the command line's time is the machine's."""
    async with migrated_service() as built:
        yield built


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(build_app(service), "merchant") as client:
        yield client


async def faka_admin(service: Service, *args: str, subprocess: bool = False) -> Run:
    """faka-admin on the service's database: in this process (typer's runner, in a thread of its own: the
    command runs its own event loop), or as the operator runs it, the console script in a subprocess (slower:
    it imports everything afresh)."""
    settings = service.settings
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "KAFKA_NAMESPACE": settings.kafka_namespace,
        "RUN_MIGRATIONS": "false",
        "ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        "ARGON2_PARALLELISM": str(settings.argon2_parallelism),
    }
    if not subprocess:
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
        return Run(result.exit_code, result.stdout.strip().splitlines(), result.stderr)
    cli = await asyncio.create_subprocess_exec(
        str(FAKA_ADMIN), *args, env={**os.environ, **env}, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(cli.communicate(), timeout=120)
    assert cli.returncode is not None
    return Run(cli.returncode, out.decode().strip().splitlines(), err.decode())


async def audit_rows(service: Service) -> list[Any]:
    return await query(service, "SELECT * FROM audit_entries ORDER BY occurred_at, id")


def assert_cli_entry(row: Any, action: str, shop_id: UUID | None, target: str) -> None:
    assert row.request_id.startswith("cli-") and UUID(row.request_id.removeprefix("cli-")).version == 4
    assert (row.actor_kind, row.actor_id, row.actor_label) == ("system", None, "faka-admin")
    assert (row.shop_id, row.action, row.target, row.outcome) == (shop_id, action, target, 200)


async def test_an_owner_made_with_a_random_password_signs_in_with_it_and_must_set_up_totp(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api, "game-cards")
    run = await faka_admin(
        service,
        "create-shop-owner",
        "--shop",
        "game-cards",
        "--email",
        "Owner@Example.com",
        "--random-password",
        subprocess=True,
    )
    assert run.code == 0, run.err
    email_line, password_line = run.out[-2:]
    assert email_line == "email: Owner@example.com"
    assert password_line.startswith("password: ")
    password = password_line.removeprefix("password: ")
    assert len(password) == 24  # secrets.token_urlsafe(18)

    signed_in = await sign_in(api, "owner@example.com", password)
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()["session"]
    assert session["memberships"] == [{"shop_id": str(shop), "role": "owner"}]
    assert session["totp_enrolment_required"] is True
    members = await api.get(
        f"/internal/shops/{shop}/members", headers=acting(signed_in.json()["session_token"])
    )
    assert members.status_code == 403 and members.json()["error"] == "totp_enrolment_required"

    (row,) = await audit_rows(service)
    assert_cli_entry(row, "members.create", shop, f"account_id={session['account_id']}")
    assert "Owner@example.com owner of shop game-cards" in row.summary and "account opened" in row.summary
    assert password not in row.summary


async def test_a_manager_made_owner_by_shop_id_sets_the_password_through_the_printed_link_once(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api, "game-cards")
    manager = await open_account(service, "manager@example.com", password=None, shops={shop: "manager"})
    run = await faka_admin(
        service, "create-shop-owner", "--shop", str(shop), "--email", "manager@example.com"
    )
    assert run.code == 0, run.err
    link = urlsplit(run.out[-1])
    assert link.path == "/console/setup", run.out
    token = parse_qs(link.query)["token"][0]
    body = {"token": token, "purpose": "account_setup", "new_password": "a long and lovely password"}
    assert (await api.post("/internal/links/redeem", json=body)).status_code == 200
    assert (await api.post("/internal/links/redeem", json=body)).status_code == 410

    signed_in = await sign_in(api, "manager@example.com", "a long and lovely password")
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["session"]["memberships"] == [{"shop_id": str(shop), "role": "owner"}]
    cli_rows = [r for r in await audit_rows(service) if r.actor_kind == "system"]
    (row,) = cli_rows  # the person's own entry for the password set through the link is theirs
    assert_cli_entry(row, "members.update", shop, f"account_id={manager}")
    assert "(was manager)" in row.summary and "account_setup link issued" in row.summary
    assert token not in row.summary


@pytest.mark.parametrize(
    "args",
    [
        ("--shop", "no-such-shop", "--email", "owner@example.com"),
        (
            "--shop",
            "00000000-0000-4000-8000-000000000000",
            "--email",
            "owner@example.com",
            "--random-password",
        ),
        ("--shop", "game-cards", "--email", "not an address"),
    ],
)
async def test_create_shop_owner_refuses_an_unknown_shop_or_a_bad_address_and_changes_nothing(
    api: httpx.AsyncClient, service: Service, args: tuple[str, ...]
) -> None:
    await open_shop(api, "game-cards")
    run = await faka_admin(service, "create-shop-owner", *args)
    assert run.code == 2 and run.err.startswith("refused: "), (run.code, run.err)
    assert "no shop" in run.err or "e-mail address" in run.err
    assert await query(service, "SELECT * FROM accounts") == []
    assert await audit_rows(service) == []


async def test_a_token_made_on_the_command_line_resolves_to_its_shop_and_scopes(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api, "game-cards")
    owner = await open_account(service, "owner@example.com", shops={shop: "owner"})
    run = await faka_admin(
        service, "create-api-token", "--shop", "game-cards", "--by", "owner@example.com",
        "--name", "stock sync", "--scope", "orders:read", "--scope", "keys:import", "--expires-in-days", "7",
        subprocess=True,
    )  # fmt: skip
    assert run.code == 0, run.err
    token = run.out[-1]
    assert token.startswith("faka_") and " " not in token

    resolved = await api.post("/internal/api-tokens/resolve", headers={"X-Api-Token": token})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["shop_id"] == str(shop)
    assert resolved.json()["scopes"] == ["keys:import", "orders:read"]
    (stored,) = await query(service, "SELECT * FROM api_tokens")
    assert (stored.created_by, stored.name, stored.token_digest) == (
        owner,
        "stock sync",
        hashlib.sha256(token.encode()).digest(),
    )
    assert 7 * 86400 - 60 < (stored.expires_at - stored.created_at).total_seconds() <= 7 * 86400

    (row,) = await audit_rows(service)
    assert_cli_entry(row, "api_tokens.create", shop, f"token_id={resolved.json()['token_id']}")
    assert "owner@example.com" in row.summary and "keys:import, orders:read" in row.summary
    assert token not in row.summary and token not in "\n".join(run.out[:-1])


async def test_a_platform_admin_makes_a_token_with_every_scope_by_shop_id(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api, "game-cards")
    await open_account(service, "admin@example.com", platform_roles=("admin",))
    run = await faka_admin(
        service,
        "create-api-token",
        "--shop",
        str(shop),
        "--by",
        "admin@example.com",
        "--name",
        "all",
        "--all-scopes",
    )
    assert run.code == 0, run.err
    resolved = await api.post("/internal/api-tokens/resolve", headers={"X-Api-Token": run.out[-1]})
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["shop_id"], resolved.json()["scopes"]) == (str(shop), sorted(SCOPES))


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--shop", "no-such-shop", "--by", "owner@example.com", "--scope", "orders:read"), "no shop"),
        (("--shop", "game-cards", "--by", "nobody@example.com", "--scope", "orders:read"), "no account"),
        (
            ("--shop", "game-cards", "--by", "operator@example.com", "--scope", "orders:read"),
            "neither an owner",
        ),
        (("--shop", "other-shop", "--by", "owner@example.com", "--scope", "orders:read"), "neither an owner"),
        (("--shop", "game-cards", "--by", "owner@example.com", "--scope", "keys:reencrypt"), "scopes.0"),
        (("--shop", "game-cards", "--by", "owner@example.com"), "--scope"),
        (
            ("--shop", "game-cards", "--by", "owner@example.com", "--scope", "orders:read", "--all-scopes"),
            "--scope",
        ),
    ],
)
async def test_create_api_token_refuses_unknown_shops_people_and_scopes_and_people_without_the_role(
    api: httpx.AsyncClient, service: Service, args: tuple[str, ...], reason: str
) -> None:
    shop = await open_shop(api, "game-cards")
    other = await open_shop(api, "other-shop")
    await open_account(service, "owner@example.com", shops={shop: "owner"})
    await open_account(service, "operator@example.com", shops={shop: "operator", other: "owner"})
    run = await faka_admin(service, "create-api-token", "--name", "script", *args)
    assert run.code == 2 and run.err.startswith("refused: ") and reason in run.err, (run.code, run.err)
    assert run.out == []
    assert await query(service, "SELECT * FROM api_tokens") == []
    assert await audit_rows(service) == []


async def test_a_platform_admin_made_on_the_command_line_is_audited(service: Service) -> None:
    run = await faka_admin(service, "create-platform-admin", "--email", "admin@example.com")
    assert run.code == 0, run.err
    token = parse_qs(urlsplit(run.out[-1]).query)["token"][0]
    (account,) = await query(service, "SELECT id FROM accounts")
    (row,) = await audit_rows(service)
    assert_cli_entry(row, "platform_staff.create", None, f"account_id={account.id}")
    assert row.summary == "admin@example.com platform admin; account opened; account_setup link issued"
    assert token not in row.summary
