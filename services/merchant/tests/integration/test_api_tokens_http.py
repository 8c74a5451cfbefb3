"""A shop's API tokens: made by its owners and managers with a fresh second factor, answered once and stored
as their SHA-256 only, resolved for the gateway (shop, scopes) until revoked or expired, one 401 for every
token that does not work; shop A's people using shop B's ids get the 404 of an unknown shop and change
nothing (every token route: tests/unit/test_routes.py's SHOP_IN_PATH)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts.accounts import ShopRole
from merchant.bootstrap import Service

from .conftest import Clock, acting, enrol_totp, open_account, query, session_of, totp_code

TOKENS = "/internal/shops/{}/api-tokens"
RESOLVE = "/internal/api-tokens/resolve"


async def seller(
    api: httpx.AsyncClient, service: Service, clock: Clock, email: str, shop: UUID, role: ShopRole
) -> tuple[str, str]:
    """A session of a new member of `shop` with TOTP on (its second factor proved as TOTP was turned on, 30 s
    ago) and the TOTP secret."""
    await open_account(service, email, shops={shop: role})
    token = await session_of(api, email)
    secret, _ = await enrol_totp(api, token, clock)
    return token, secret


async def make(api: httpx.AsyncClient, shop: UUID, session: str, **body: Any) -> httpx.Response:
    body = {"name": "stock sync", "scopes": ["keys:import", "catalog:read"], **body}
    return await api.post(TOKENS.format(shop), json=body, headers=acting(session))


async def made(api: httpx.AsyncClient, shop: UUID, session: str, **body: Any) -> dict[str, Any]:
    response = await make(api, shop, session, **body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def resolve(api: httpx.AsyncClient, token: str | None) -> httpx.Response:
    return await api.post(RESOLVE, headers={"X-Api-Token": token} if token is not None else {})


async def rows(service: Service) -> list[Any]:
    return await query(service, "SELECT * FROM api_tokens ORDER BY created_at, id")


async def test_a_token_is_answered_once_stored_as_its_digest_and_resolves_to_its_shop_and_scopes(
    api: httpx.AsyncClient,
    service: Service,
    clock: Clock,
    shops: tuple[UUID, UUID],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    shop, _ = shops
    owner, _ = await seller(api, service, clock, "owner@example.com", shop, "owner")
    answer = await made(api, shop, owner, scopes=["orders:read", "keys:import", "orders:read"])
    token = answer["token"]
    assert token.startswith("faka_") and len(token) >= 45
    assert (answer["shop_id"], answer["name"], answer["scopes"]) == (
        str(shop),
        "stock sync",
        ["keys:import", "orders:read"],
    )
    assert answer["revoked_at"] is None and answer["last_used_at"] is None and answer["expires_at"] is None

    listed = await api.get(TOKENS.format(shop), headers=acting(owner))
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert "token" not in item and token not in listed.text
    assert item["token_id"] == answer["token_id"] and item["scopes"] == ["keys:import", "orders:read"]

    (row,) = await rows(service)
    assert bytes(row.token_digest) == hashlib.sha256(token.encode()).digest()
    assert token not in repr(tuple(row)) and token[5:] not in repr(tuple(row))

    resolved = await resolve(api, token)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json() == {
        "token_id": answer["token_id"],
        "shop_id": str(shop),
        "scopes": ["keys:import", "orders:read"],
    }
    (used,) = await rows(service)
    assert used.last_used_at == clock.now
    assert "API token" in caplog.text and token[5:] not in caplog.text


@pytest.mark.parametrize(("role", "allowed"), [("owner", True), ("manager", True), ("operator", False)])
async def test_owners_and_managers_make_tokens_within_five_minutes_of_their_second_factor(
    api: httpx.AsyncClient,
    service: Service,
    clock: Clock,
    shops: tuple[UUID, UUID],
    role: ShopRole,
    allowed: bool,
) -> None:
    shop, _ = shops
    session, secret = await seller(api, service, clock, "seller@example.com", shop, role)
    if not allowed:
        refused = await make(api, shop, session)
        assert (refused.status_code, refused.json()["error"]) == (403, "not_allowed")
        listed = await api.get(TOKENS.format(shop), headers=acting(session))
        assert (listed.status_code, listed.json()["error"]) == (403, "not_allowed")
        assert await rows(service) == []
        return
    clock.advance(minutes=4, seconds=29)  # 4:59 after the second factor
    await made(api, shop, session)
    clock.advance(seconds=2)
    stale = await make(api, shop, session)
    assert (stale.status_code, stale.json()["error"]) == (403, "second_factor_required")
    assert len(await rows(service)) == 1
    stepped = await api.post(
        "/internal/sessions/current/step-up", json={"code": totp_code(secret, clock)}, headers=acting(session)
    )
    assert stepped.status_code == 200, stepped.text
    await made(api, shop, session, name="second")
    assert len(await rows(service)) == 2


async def test_a_manager_without_a_second_factor_makes_no_token(
    api: httpx.AsyncClient, service: Service, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    await open_account(service, "manager@example.com", shops={shop: "manager"})
    session = await session_of(api, "manager@example.com")
    refused = await make(api, shop, session)
    assert (refused.status_code, refused.json()["error"]) == (403, "second_factor_required")
    assert await rows(service) == []


async def test_revoked_expired_and_unknown_tokens_get_one_401(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    owner, _ = await seller(api, service, clock, "owner@example.com", shop, "owner")
    expiring = await made(api, shop, owner, expires_at=(clock.now + timedelta(hours=1)).isoformat())
    revoked = await made(api, shop, owner, name="old script")
    kept = await made(api, shop, owner, name="kept")
    assert (await resolve(api, expiring["token"])).status_code == 200
    assert (await resolve(api, revoked["token"])).status_code == 200

    gone = await api.delete(f"{TOKENS.format(shop)}/{revoked['token_id']}", headers=acting(owner))
    assert gone.status_code == 204
    again = await api.delete(f"{TOKENS.format(shop)}/{revoked['token_id']}", headers=acting(owner))
    assert again.status_code == 204
    listed = (await api.get(TOKENS.format(shop), headers=acting(owner))).json()["items"]
    revocations = {t["name"]: t["revoked_at"] for t in listed}
    assert revocations["kept"] is None and revocations["old script"] == clock.now.isoformat().replace(
        "+00:00", "Z"
    )
    clock.advance(hours=1)
    refusals = [
        await resolve(api, token)
        for token in (expiring["token"], revoked["token"], "faka_" + "x" * 43, "faka_" + "x" * 500, "", None)
    ]
    assert {(r.status_code, r.json()["error"], r.json()["message"]) for r in refusals} == {
        (401, "api_token_invalid", "no such API token, or it was revoked or has expired")
    }
    assert (await resolve(api, kept["token"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["keys:reencrypt"]},
        {"name": " ", "scopes": ["orders:read"]},
        {"name": "x" * 101, "scopes": ["orders:read"]},
        {"name": "x", "scopes": ["orders:read"], "expires_at": "2026-12-01T11:00:00+00:00"},
        {"name": "x", "scopes": ["orders:read"], "expires_at": "2027-01-01T00:00:00"},
        {"name": "x", "scopes": ["orders:read"], "expires_at": "9999-12-31T23:59:59-14:00"},  # 10000 in UTC
        {"name": "x", "scopes": ["orders:read"], "token": "faka_mine"},
    ],
)
async def test_bad_token_requests_are_422_and_store_nothing(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID], body: dict[str, Any]
) -> None:
    shop, _ = shops
    owner, _ = await seller(api, service, clock, "owner@example.com", shop, "owner")
    response = await api.post(TOKENS.format(shop), json=body, headers=acting(owner))
    assert response.status_code == 422, response.text
    assert await rows(service) == []


async def test_another_shops_people_get_404_on_every_token_route_and_nothing_changes(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop_a, shop_b = shops
    owner_a, _ = await seller(api, service, clock, "a@example.com", shop_a, "owner")
    owner_b, _ = await seller(api, service, clock, "b@example.com", shop_b, "owner")
    token_a = await made(api, shop_a, owner_a)
    token_b = await made(api, shop_b, owner_b, scopes=["orders:write"])
    before = await rows(service)

    attempts = [
        await make(api, shop_a, owner_b),
        await api.get(TOKENS.format(shop_a), headers=acting(owner_b)),
        await api.delete(f"{TOKENS.format(shop_a)}/{token_a['token_id']}", headers=acting(owner_b)),
        await api.delete(f"{TOKENS.format(shop_b)}/{token_a['token_id']}", headers=acting(owner_b)),
        await api.delete(f"{TOKENS.format(shop_b)}/{uuid4()}", headers=acting(owner_b)),
        await make(api, uuid4(), owner_b),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert {r.json()["error"] for r in attempts} == {"not_found"}
    assert await rows(service) == before

    listed_b = (await api.get(TOKENS.format(shop_b), headers=acting(owner_b))).json()["items"]
    assert [t["token_id"] for t in listed_b] == [token_b["token_id"]]
    resolved_a = (await resolve(api, token_a["token"])).json()
    resolved_b = (await resolve(api, token_b["token"])).json()
    assert (resolved_a["shop_id"], resolved_a["scopes"]) == (str(shop_a), ["catalog:read", "keys:import"])
    assert (resolved_b["shop_id"], resolved_b["scopes"]) == (str(shop_b), ["orders:write"])


async def test_resolves_at_once_write_last_used_once_and_at_most_once_a_minute(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    owner, _ = await seller(api, service, clock, "owner@example.com", shop, "owner")
    token = (await made(api, shop, owner))["token"]
    async with service.runtime.engine.begin() as connection:
        for statement in (
            "CREATE TABLE token_writes (last_used_at timestamptz)",
            "CREATE FUNCTION count_token_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO token_writes VALUES (NEW.last_used_at); RETURN NEW; END $$",
            "CREATE TRIGGER token_written AFTER UPDATE ON api_tokens FOR EACH ROW "
            "EXECUTE FUNCTION count_token_write()",
        ):
            await connection.exec_driver_sql(statement)

    answers = await asyncio.gather(*(resolve(api, token) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    first = clock.now
    assert [w.last_used_at for w in await query(service, "SELECT * FROM token_writes")] == [first]
    clock.advance(seconds=59)
    assert (await resolve(api, token)).status_code == 200
    assert len(await query(service, "SELECT * FROM token_writes")) == 1
    clock.advance(seconds=1)
    assert (await resolve(api, token)).status_code == 200
    writes = await query(service, "SELECT last_used_at FROM token_writes")
    assert [w.last_used_at for w in writes] == [first, clock.now]


async def test_a_closed_shops_tokens_stop_working_and_a_suspended_shops_still_work(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, other = shops
    owner, _ = await seller(api, service, clock, "owner@example.com", shop, "owner")
    token = (await made(api, shop, owner))["token"]
    other_owner, _ = await seller(api, service, clock, "other@example.com", other, "owner")
    other_token = (await made(api, other, other_owner))["token"]
    for status in ("active", "suspended"):
        changed = await api.post(f"/internal/shops/{shop}/status", json={"status": status})
        assert changed.status_code == 200, changed.text
        assert (await resolve(api, token)).status_code == 200, status  # a suspended shop still delivers
    closed = await api.post(f"/internal/shops/{shop}/status", json={"status": "closed"})
    assert closed.status_code == 200, closed.text
    refused = await resolve(api, token)
    assert refused.status_code == 401 and refused.json()["error"] == "api_token_invalid"
    assert (await resolve(api, other_token)).status_code == 200


async def test_a_platform_admin_makes_any_shops_token_and_platform_support_makes_none(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    """As the gateway's role table says: platform admins act in every shop, platform support only reads."""
    shop, _ = shops
    for email, role in (("admin@platform.example", "admin"), ("support@platform.example", "support")):
        await open_account(service, email, platform_roles=(role,))
    admin = await session_of(api, "admin@platform.example")
    await enrol_totp(api, admin, clock)
    support = await session_of(api, "support@platform.example")
    await enrol_totp(api, support, clock)
    token = await made(api, shop, admin)
    assert (await resolve(api, token["token"])).json()["shop_id"] == str(shop)
    refused = await make(api, shop, support)
    assert (refused.status_code, refused.json()["error"]) == (403, "not_allowed")
    assert len(await rows(service)) == 1
