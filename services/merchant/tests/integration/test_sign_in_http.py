"""Signing in with a password, sessions and their expiry, signing out, changing the password: over the
internal API on a migrated database, with the sign-in windows in the real Redis."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx
from faka_common.contracts import DEFAULT_SHOP_ID
from faka_common.testing import asgi_client
from merchant.bootstrap import Service
from merchant.entrypoints.http import build_app

from .conftest import (
    PASSWORD,
    Clock,
    acting,
    migrated_service,
    open_account,
    query,
    session_of,
    sign_in,
)

EMAIL = "seller@example.com"


async def resolve(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.get("/internal/sessions/current", headers=acting(token))


async def test_the_right_password_opens_a_session_that_resolves_to_the_person(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    account_id = await open_account(service, "Seller@Example.com", shops={DEFAULT_SHOP_ID: "manager"})
    response = await sign_in(api, "SELLER@example.COM")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["message"]) == ("signed_in", "signed in")
    token = answer["session_token"]
    assert len(token) >= 43
    session = (await resolve(api, token)).json()
    assert session == answer["session"]
    assert session["account_id"] == str(account_id) and session["email"] == "Seller@example.com"
    assert session["memberships"] == [{"shop_id": str(DEFAULT_SHOP_ID), "role": "manager"}]
    assert (session["platform_roles"], session["totp_enabled"], session["totp_enrolment_required"]) == (
        [],
        False,
        False,
    )
    assert session["second_factor_at"] is None and session["email_verified"] is True
    assert (
        datetime.fromisoformat(session["idle_expires_at"])
        == clock.now + service.settings.session_policy().idle
    )
    (stored,) = await query(service, "SELECT token_digest, client_ip, user_agent FROM sessions")
    assert token.encode() not in stored.token_digest and len(stored.token_digest) == 32
    assert (stored.client_ip, stored.user_agent) == ("203.0.113.7", "Mozilla/5.0 (test)")


async def test_a_wrong_password_an_unknown_address_and_an_account_without_password_get_one_answer(
    api: httpx.AsyncClient, service: Service
) -> None:
    await open_account(service, EMAIL)
    await open_account(service, "invited@example.com", password=None)
    answers = [
        await sign_in(api, EMAIL, "not the password"),
        await sign_in(api, "nobody@example.com"),
        await sign_in(api, "invited@example.com"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert {a.text for a in answers} == {'{"error":"sign_in_failed","message":"wrong e-mail or password"}'}
    assert {tuple(sorted(a.headers.items())) for a in answers} == {tuple(sorted(answers[0].headers.items()))}
    assert await query(service, "SELECT id FROM sessions") == []


async def test_an_unknown_address_costs_an_argon2_verify_like_a_known_one(
    api: httpx.AsyncClient, service: Service
) -> None:
    await open_account(service, EMAIL)
    passwords = service.credentials.passwords
    stored = await passwords.hash(PASSWORD)

    async def cheapest(attempt: object) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            await attempt()  # type: ignore[operator]
            times.append(time.perf_counter() - started)
        return min(times)

    verify = await cheapest(lambda: passwords.verify(stored, "not the password"))
    unknown = await cheapest(lambda: sign_in(api, "nobody@example.com", "not the password"))
    assert unknown >= 0.8 * verify, (
        f"an unknown address answered in {unknown:.3f}s, a verify takes {verify:.3f}s"
    )


async def test_attempts_on_one_account_are_throttled_and_the_right_password_waits_too(
    service: Service, api: httpx.AsyncClient
) -> None:
    await open_account(service, EMAIL)
    await open_account(service, "other@example.com")
    limit = service.settings.sign_in_attempts_per_account
    wrong = [
        await sign_in(api, EMAIL, f"guess number {n}", client_ip=f"198.51.100.{n}") for n in range(limit)
    ]
    assert [a.status_code for a in wrong] == [401] * limit
    refused = await sign_in(api, EMAIL, client_ip="198.51.100.200")
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "rate_limited" and "this account" in body["message"]
    assert 1 <= body["retry_after"] <= 15 * 60 and refused.headers["Retry-After"] == str(body["retry_after"])
    assert (await sign_in(api, "other@example.com", client_ip="198.51.100.200")).status_code == 200


async def test_attempts_from_one_client_are_throttled_whatever_the_account(service: Service) -> None:
    async with (
        migrated_service(sign_in_attempts_per_client=4) as limited,
        asgi_client(build_app(limited), "merchant") as api,
    ):
        await open_account(limited, EMAIL)
        for n in range(4):
            assert (await sign_in(api, f"person{n}@example.com", "wrong password")).status_code == 401
        refused = await sign_in(api, EMAIL)
        assert refused.status_code == 429 and "your address" in refused.json()["message"]
        assert (await sign_in(api, EMAIL, client_ip="192.0.2.9")).status_code == 200


async def test_an_unknown_address_is_throttled_exactly_like_a_known_one(
    service: Service, api: httpx.AsyncClient
) -> None:
    await open_account(service, EMAIL)
    limit = service.settings.sign_in_attempts_per_account

    async def answers(email: str) -> list[tuple[int, str]]:
        out = []
        for n in range(limit + 1):
            response = await sign_in(api, email, "wrong password", client_ip=f"192.0.2.{n}")
            out.append((response.status_code, response.json()["error"]))
        return out

    assert await answers(EMAIL) == await answers("nobody@example.com")


async def test_a_burst_of_guesses_sent_at_once_gets_no_more_through_than_the_window_holds(
    service: Service, api: httpx.AsyncClient
) -> None:
    await open_account(service, EMAIL)
    limit = service.settings.sign_in_attempts_per_account
    burst = await asyncio.gather(
        *(sign_in(api, EMAIL, f"guess {n}", client_ip=f"192.0.2.{n}") for n in range(limit + 5))
    )
    statuses = sorted(a.status_code for a in burst)
    assert statuses == [401] * limit + [429] * 5


async def test_a_session_unused_for_its_idle_time_is_over_and_each_use_slides_it(
    service: Service, api: httpx.AsyncClient, clock: Clock
) -> None:
    await open_account(service, EMAIL)
    token = await session_of(api, EMAIL)
    idle = service.settings.session_policy().idle
    for _ in range(4):  # used just within its idle time, again and again: it lives past the first expiry
        clock.advance(seconds=idle.total_seconds() - 1)
        seen = await resolve(api, token)
        assert seen.status_code == 200, seen.text
        assert datetime.fromisoformat(seen.json()["idle_expires_at"]) == clock.now + idle
    clock.advance(seconds=idle.total_seconds())
    expired = await resolve(api, token)
    assert expired.status_code == 401 and expired.json()["error"] == "session_invalid"


async def test_a_session_is_over_at_its_absolute_expiry_however_often_it_is_used(
    service: Service, api: httpx.AsyncClient, clock: Clock
) -> None:
    await open_account(service, EMAIL)
    token = await session_of(api, EMAIL)
    signed_in_at = clock.now
    policy = service.settings.session_policy()
    while clock.now + policy.idle / 2 < signed_in_at + policy.absolute:
        clock.advance(seconds=policy.idle.total_seconds() / 2)
        seen = (await resolve(api, token)).json()
        assert datetime.fromisoformat(seen["idle_expires_at"]) <= signed_in_at + policy.absolute
    clock.now = signed_in_at + policy.absolute
    assert (await resolve(api, token)).status_code == 401


async def test_signing_out_revokes_the_session_only(service: Service, api: httpx.AsyncClient) -> None:
    await open_account(service, EMAIL)
    first, second = await session_of(api, EMAIL), await session_of(api, EMAIL)
    assert (await api.delete("/internal/sessions/current", headers=acting(first))).status_code == 204
    assert (await resolve(api, first)).status_code == 401
    assert (await resolve(api, second)).status_code == 200
    assert (await api.delete("/internal/sessions/current", headers=acting(first))).status_code == 204


async def test_a_session_is_named_by_its_header_only(api: httpx.AsyncClient) -> None:
    missing = await api.get("/internal/sessions/current")
    forged = await api.get("/internal/sessions/current", headers=acting("x" * 43))
    assert [missing.status_code, forged.status_code] == [401, 401]
    assert missing.json() == forged.json()
    assert (await api.get("/internal/sessions/current", headers=acting("x" * 500))).status_code == 422


async def test_changing_the_password_needs_the_current_one_and_revokes_every_session(
    service: Service, api: httpx.AsyncClient
) -> None:
    await open_account(service, EMAIL)
    tokens = [await session_of(api, EMAIL) for _ in range(3)]
    path = "/internal/sessions/current/password"
    new = "a new and longer passphrase"
    wrong = await api.post(
        path, json={"current_password": "wrong", "new_password": new}, headers=acting(tokens[0])
    )
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    weak = await api.post(
        path, json={"current_password": PASSWORD, "new_password": "short"}, headers=acting(tokens[0])
    )
    assert weak.status_code == 422 and weak.json()["error"] == "weak_password"
    assert [(await resolve(api, t)).status_code for t in tokens] == [200] * 3
    changed = await api.post(
        path, json={"current_password": PASSWORD, "new_password": new}, headers=acting(tokens[0])
    )
    assert changed.status_code == 204, changed.text
    assert [(await resolve(api, t)).status_code for t in tokens] == [401] * 3
    assert (await sign_in(api, EMAIL)).status_code == 401
    assert (await sign_in(api, EMAIL, new)).status_code == 200


async def test_two_accounts_with_the_same_password_never_store_the_same_hash(
    service: Service, api: httpx.AsyncClient
) -> None:
    for n in range(3):
        await open_account(service, f"twin{n}@example.com")
    hashes = [row.password_hash for row in await query(service, "SELECT password_hash FROM accounts")]
    assert len(hashes) == len(set(hashes)) == 3
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    assert [(await sign_in(api, f"twin{n}@example.com")).status_code for n in range(3)] == [200] * 3


async def test_platform_staff_and_owners_without_totp_get_a_session_good_only_for_enrolment(
    service: Service, api: httpx.AsyncClient
) -> None:
    await open_account(service, "admin@example.com", platform_roles=("admin",))
    await open_account(service, "owner@example.com", shops={DEFAULT_SHOP_ID: "owner"})
    for email in ("admin@example.com", "owner@example.com"):
        answer = (await sign_in(api, email)).json()
        assert answer["status"] == "signed_in" and "good for nothing else" in answer["message"]
        assert answer["session"]["totp_enrolment_required"] is True
        token = answer["session_token"]
        change = await api.post(
            "/internal/sessions/current/password",
            json={"current_password": PASSWORD, "new_password": "another long passphrase"},
            headers=acting(token),
        )
        assert change.status_code == 403 and change.json()["error"] == "totp_enrolment_required"
        members = await api.get(f"/internal/shops/{DEFAULT_SHOP_ID}/members", headers=acting(token))
        assert members.status_code == 403 and members.json()["error"] == "totp_enrolment_required"
        assert (await resolve(api, token)).json()["totp_enrolment_required"] is True
        assert (await api.post("/internal/sessions/current/totp", headers=acting(token))).status_code == 201
