"""Merchant databases on the real PostgreSQL server at DATABASE_URL, migrated, with the service's internal
API over ASGI on them: a fresh one per test (`service`, `api`), or one per module (`shared_service`,
`shared_api`) for tests that change nothing, which is cheaper to run. Each service has its own namespace in
the real Redis at REDIS_URL (sign-in windows start empty), argon2 at its cheapest allowed cost, and a clock
the test moves (`clock`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pyotp
import pytest
from faka_common.contracts import Envelope
from faka_common.contracts.accounts import PlatformRole, ShopRole
from faka_common.testing import asgi_client, migrated_database, required_env
from merchant.bootstrap import Service, bootstrap, utc_now
from merchant.config import MIGRATIONS, Settings
from merchant.domain.accounts import Membership, check_email
from merchant.entrypoints.http import build_app
from merchant.service_layer.accounts import get_or_open_account
from sqlalchemy import text


class Clock:
    """The service's time, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@asynccontextmanager
async def migrated_service(clock: Clock | None = None, **settings: Any) -> AsyncIterator[Service]:
    """The service on a fresh migrated database (`settings` over the defaults)."""
    defaults = {
        "redis_url": required_env("REDIS_URL", "redis://127.0.0.1:16379/0"),
        "kafka_namespace": f"t{uuid4().hex[:10]}.",
        "argon2_time_cost": 2,
        "argon2_memory_kib": 19 * 1024,
        "argon2_parallelism": 1,
    }
    async with migrated_database("t_merchant", MIGRATIONS) as url:
        built = bootstrap(Settings(database_url=url, **{**defaults, **settings}), clock or utc_now)
        try:
            yield built
        finally:
            await built.runtime.engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(clock: Clock) -> AsyncIterator[Service]:
    async with migrated_service(clock) as built:
        yield built


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(build_app(service), "merchant") as client:
        yield client


@pytest.fixture(scope="module")
async def shared_service() -> AsyncIterator[Service]:
    async with migrated_service() as built:
        yield built


@pytest.fixture(scope="module")
async def shared_api(shared_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(build_app(shared_service), "merchant") as client:
        yield client


async def outbox(service: Service, shop_id: UUID | str | None = None) -> list[Envelope]:
    """The messages the service staged (for one shop: under its key), in order."""
    query = "SELECT value FROM outbox" + (" WHERE key = :key" if shop_id is not None else "") + " ORDER BY id"
    async with service.runtime.engine.connect() as connection:
        rows = await connection.execute(text(query), {"key": str(shop_id)} if shop_id is not None else {})
        return [Envelope.from_bytes(row[0]) for row in rows]


async def open_shop(api: httpx.AsyncClient, slug: str) -> UUID:
    response = await api.post("/internal/shops", json={"slug": slug, "name": slug.title()})
    assert response.status_code == 201, response.text
    return UUID(response.json()["shop_id"])


@pytest.fixture
async def shops(api: httpx.AsyncClient) -> tuple[UUID, UUID]:
    """Two shops, A and B, opened through the API."""
    return await open_shop(api, "shop-a"), await open_shop(api, "shop-b")


# People: accounts made straight through the repositories, then used through the API as the gateway does.

PASSWORD = "correct horse battery staple"
BROWSER = {"client_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (test)"}


async def open_account(
    service: Service,
    email: str,
    password: str | None = PASSWORD,
    *,
    verified: bool = True,
    platform_roles: tuple[PlatformRole, ...] = (),
    shops: dict[UUID, ShopRole] | None = None,
) -> UUID:
    """An account (with `password`; None: none yet) holding the given roles."""
    now = service.clock()
    uow = service.uow()
    async with uow:
        account, _ = await get_or_open_account(uow, check_email(email), now)
        if password is not None:
            hashed = await service.credentials.passwords.hash(password)
            await uow.accounts.set_password(account.id, hashed, now, verified=verified)
        for role in platform_roles:
            await uow.accounts.grant(account.id, role, now)
        for shop_id, role in (shops or {}).items():
            await uow.memberships.add(Membership(shop_id, account.id, role, now, now))
        await uow.commit()
    return account.id


async def sign_in(
    api: httpx.AsyncClient, email: str, password: str = PASSWORD, **fields: Any
) -> httpx.Response:
    return await api.post(
        "/internal/sign-in", json={"email": email, "password": password, **BROWSER, **fields}
    )


async def session_of(api: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """The token of a session signed in with the password alone (an account without TOTP)."""
    response = await sign_in(api, email, password)
    assert response.status_code == 200 and response.json()["status"] == "signed_in", response.text
    token: str = response.json()["session_token"]
    return token


def acting(token: str) -> dict[str, str]:
    return {"X-Session-Token": token}


def totp_code(secret: str, clock: Clock) -> str:
    return pyotp.TOTP(secret).at(clock())


async def enrol_totp(api: httpx.AsyncClient, token: str, clock: Clock) -> tuple[str, list[str]]:
    """Turn TOTP on through the session: the secret and the recovery codes. The clock then moves on a time
    step, so the next code differs from the one just used."""
    begun = await api.post("/internal/sessions/current/totp", headers=acting(token))
    assert begun.status_code == 201, begun.text
    secret: str = begun.json()["secret"]
    confirmed = await api.post(
        "/internal/sessions/current/totp/confirm",
        json={"code": totp_code(secret, clock)},
        headers=acting(token),
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(seconds=30)
    return secret, confirmed.json()["recovery_codes"]


async def second_factor(
    api: httpx.AsyncClient, challenge: str, *, code: str | None = None, recovery_code: str | None = None
) -> httpx.Response:
    body = {"challenge": challenge, **BROWSER}
    body |= {"code": code} if code is not None else {"recovery_code": recovery_code}
    return await api.post("/internal/sign-in/second-factor", json=body)


async def signed_in_with_totp(api: httpx.AsyncClient, email: str, secret: str, clock: Clock) -> str:
    """A full sign-in (password, then the current code); the clock moves on a step after it."""
    challenge = (await sign_in(api, email)).json()["challenge"]
    response = await second_factor(api, challenge, code=totp_code(secret, clock))
    assert response.status_code == 200, response.text
    clock.advance(seconds=30)
    token: str = response.json()["session_token"]
    return token


async def query(service: Service, sql: str, **params: Any) -> list[Any]:
    async with service.runtime.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())
