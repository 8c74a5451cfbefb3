"""One-time links: a reset asked for by address (one answer for every address; the link travels by the
notification service, never on Kafka), issued to the notification service, used once within 30 minutes;
e-mail verification; and the first platform admin's set-up link from `faka-admin`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import httpx
from faka_common.contracts import AccountLinkRequested
from faka_common.testing import as_caller
from merchant.bootstrap import Service

from .conftest import (
    PASSWORD,
    Clock,
    acting,
    open_account,
    outbox,
    query,
    session_of,
    sign_in,
)

EMAIL = "seller@example.com"
NEW_PASSWORD = "a brand new passphrase"
NOTIFICATION = as_caller("notification")


async def link_requests(service: Service) -> list[AccountLinkRequested]:
    events = [envelope.open() for envelope in await outbox(service)]
    return [event for event in events if isinstance(event, AccountLinkRequested)]


async def issue(
    api: httpx.AsyncClient, account_id: UUID | str, purpose: str = "password_reset"
) -> dict[str, Any]:
    response = await api.post(
        f"/internal/accounts/{account_id}/links", json={"purpose": purpose}, headers=NOTIFICATION
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def redeem(
    api: httpx.AsyncClient, token: str, purpose: str = "password_reset", **body: Any
) -> httpx.Response:
    if purpose != "email_verification":
        body.setdefault("new_password", NEW_PASSWORD)
    return await api.post("/internal/links/redeem", json={"token": token, "purpose": purpose, **body})


async def test_a_reset_request_answers_the_same_for_every_address_and_asks_for_a_link_only_for_an_account(
    api: httpx.AsyncClient, service: Service
) -> None:
    account_id = await open_account(service, EMAIL)
    answers = [
        await api.post("/internal/password-resets", json={"email": address})
        for address in ("SELLER@example.com", "nobody@example.com", "not-even-an-address")
    ]
    assert {(a.status_code, a.text) for a in answers} == {(202, '{"status":"accepted"}')}
    (requested,) = await link_requests(service)
    assert (requested.account_id, requested.purpose, requested.shop_id) == (
        account_id,
        "password_reset",
        None,
    )
    (envelope,) = [e for e in await outbox(service) if e.type == "AccountLinkRequested"]
    assert set(envelope.payload) == {"account_id", "purpose", "requested_at", "shop_id"}
    assert await query(service, "SELECT id FROM account_links") == []


async def test_reset_requests_for_one_address_are_capped_quietly(
    api: httpx.AsyncClient, service: Service
) -> None:
    await open_account(service, EMAIL)
    cap = service.settings.link_requests_per_account_per_hour
    answers = [await api.post("/internal/password-resets", json={"email": EMAIL}) for _ in range(cap + 3)]
    assert {a.status_code for a in answers} == {202}
    assert len(await link_requests(service)) == cap


async def test_a_reset_link_sets_the_password_once_verifies_the_address_and_revokes_every_session(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    account_id = await open_account(service, EMAIL)
    sessions = [await session_of(api, EMAIL) for _ in range(2)]
    link = await issue(api, account_id)
    assert (link["email"], link["purpose"]) == (EMAIL, "password_reset")
    assert datetime.fromisoformat(link["expires_at"]) == clock.now + service.settings.session_policy().link
    url = urlsplit(link["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://127.0.0.1:8000/console/reset"
    assert parse_qs(url.query) == {"token": [link["token"]]}
    stored = await query(service, "SELECT digest FROM account_links")
    assert link["token"].encode() not in stored[0].digest and len(stored[0].digest) == 32

    used = await redeem(api, link["token"])
    assert used.status_code == 200, used.text
    assert used.json() == {"account_id": str(account_id), "email": EMAIL, "purpose": "password_reset"}
    assert [
        (await api.get("/internal/sessions/current", headers=acting(t))).status_code for t in sessions
    ] == [
        401,
        401,
    ]
    assert (await sign_in(api, EMAIL)).status_code == 401
    assert (await sign_in(api, EMAIL, NEW_PASSWORD)).status_code == 200

    again = await redeem(api, link["token"], new_password="yet another passphrase")
    assert again.status_code == 410 and again.json()["error"] == "link_invalid"
    assert (await sign_in(api, EMAIL, "yet another passphrase")).status_code == 401


async def test_a_link_is_over_after_30_minutes(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    account_id = await open_account(service, EMAIL)
    in_time = await issue(api, account_id)
    clock.advance(minutes=29, seconds=59)
    assert (await redeem(api, in_time["token"])).status_code == 200
    late = await issue(api, account_id)
    clock.advance(minutes=30)
    expired = await redeem(api, late["token"], new_password="too late a passphrase")
    assert expired.status_code == 410
    assert (await sign_in(api, EMAIL, NEW_PASSWORD)).status_code == 200


async def test_one_link_used_twice_at_once_works_once(api: httpx.AsyncClient, service: Service) -> None:
    account_id = await open_account(service, EMAIL)
    link = await issue(api, account_id)
    answers = await asyncio.gather(
        *(redeem(api, link["token"], new_password=f"racing passphrase {n}") for n in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 410, 410, 410]
    winner = next(n for n, a in enumerate(answers) if a.status_code == 200)
    assert (await sign_in(api, EMAIL, f"racing passphrase {winner}")).status_code == 200


async def test_a_newer_link_makes_the_older_one_unusable(api: httpx.AsyncClient, service: Service) -> None:
    account_id = await open_account(service, EMAIL)
    older, newer = await issue(api, account_id), await issue(api, account_id)
    assert (await redeem(api, older["token"])).status_code == 410
    assert (await redeem(api, newer["token"])).status_code == 200


async def test_a_link_opens_only_the_page_of_its_purpose_and_a_weak_password_spends_nothing(
    api: httpx.AsyncClient, service: Service
) -> None:
    account_id = await open_account(service, EMAIL)
    link = await issue(api, account_id)
    assert (await redeem(api, link["token"], "account_setup")).status_code == 410
    assert (await redeem(api, link["token"], "email_verification")).status_code == 410
    weak = await redeem(api, link["token"], new_password="short")
    assert weak.status_code == 422 and weak.json()["error"] == "weak_password"
    missing = await api.post(
        "/internal/links/redeem", json={"token": link["token"], "purpose": "password_reset"}
    )
    assert missing.status_code == 422 and "needs new_password" in missing.json()["message"]
    assert (await redeem(api, link["token"])).status_code == 200


async def test_a_verification_link_verifies_the_address_and_touches_no_password(
    api: httpx.AsyncClient, service: Service
) -> None:
    account_id = await open_account(service, EMAIL, verified=False)
    token = await session_of(api, EMAIL)
    asked = await api.post("/internal/sessions/current/email-verification", headers=acting(token))
    assert asked.status_code == 202
    (requested,) = await link_requests(service)
    assert (requested.account_id, requested.purpose) == (account_id, "email_verification")
    link = await issue(api, account_id, "email_verification")
    assert "/console/verify-email?token=" in link["url"]
    with_password = await redeem(api, link["token"], "email_verification", new_password=NEW_PASSWORD)
    assert with_password.status_code == 422
    assert (await redeem(api, link["token"], "email_verification")).status_code == 200
    assert (await api.get("/internal/sessions/current", headers=acting(token))).json()[
        "email_verified"
    ] is True
    assert (await sign_in(api, EMAIL, PASSWORD)).status_code == 200
    again = await api.post("/internal/sessions/current/email-verification", headers=acting(token))
    assert again.status_code == 409


async def test_only_the_notification_service_has_links_issued(
    api: httpx.AsyncClient, service: Service
) -> None:
    account_id = await open_account(service, EMAIL)
    path = f"/internal/accounts/{account_id}/links"
    for caller in ("gateway", "order"):
        refused = await api.post(path, json={"purpose": "password_reset"}, headers=as_caller(caller))
        assert refused.status_code == 403 and "admits notification" in refused.json()["message"]
    unknown = await api.post(
        f"/internal/accounts/{uuid4()}/links", json={"purpose": "password_reset"}, headers=NOTIFICATION
    )
    assert unknown.status_code == 404
    assert (await api.post(path, json={"purpose": "sign_in"}, headers=NOTIFICATION)).status_code == 422
    assert await query(service, "SELECT id FROM account_links") == []


def faka_admin(database_url: str, email: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, on the test's database, as an operator runs it."""
    script = Path(sys.executable).parent / "faka-admin"
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "development"}
    return subprocess.run(
        [str(script), "create-platform-admin", "--email", email],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_faka_admin_prints_a_setup_link_that_sets_the_password_once_and_again_a_fresh_one(
    api: httpx.AsyncClient, service: Service
) -> None:
    url = service.settings.database_url
    first = await asyncio.to_thread(faka_admin, url, "root@example.com")
    assert first.returncode == 0, first.stderr
    assert "root@example.com is a platform admin" in first.stdout
    assert "password" not in first.stdout.lower().replace("set the password", "")
    first_link = first.stdout.strip().splitlines()[-1]
    assert first_link.startswith("http://127.0.0.1:8000/console/setup?token=")
    (account,) = await query(
        service, "SELECT id, password_hash FROM accounts WHERE email = 'root@example.com'"
    )
    assert account.password_hash is None
    roles = await query(service, "SELECT role FROM platform_roles WHERE account_id = :id", id=account.id)
    assert [r.role for r in roles] == ["admin"]

    second = await asyncio.to_thread(faka_admin, url, "root@example.com")
    assert second.returncode == 0, second.stderr
    second_link = second.stdout.strip().splitlines()[-1]
    assert second_link != first_link and "/console/setup?token=" in second_link
    assert len(await query(service, "SELECT id FROM accounts")) == 1

    def token(link: str) -> str:
        return parse_qs(urlsplit(link).query)["token"][0]

    assert (await redeem(api, token(first_link), "account_setup")).status_code == 410
    assert (await redeem(api, token(second_link), "account_setup")).status_code == 200
    assert (
        await redeem(api, token(second_link), "account_setup", new_password="another one")
    ).status_code == 410
    signed_in = (await sign_in(api, "root@example.com", NEW_PASSWORD)).json()
    assert signed_in["session"]["platform_roles"] == ["admin"]
    assert signed_in["session"]["totp_enrolment_required"] is True


async def test_faka_admin_refuses_a_malformed_address(service: Service) -> None:
    refused = await asyncio.to_thread(faka_admin, service.settings.database_url, "not an address")
    assert refused.returncode == 2 and "not an e-mail address" in refused.stderr
    assert await query(service, "SELECT id FROM accounts") == []
