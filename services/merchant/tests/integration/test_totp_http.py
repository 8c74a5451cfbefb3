"""The second factor: TOTP set-up, sign-in with a code or a recovery code, step-up; each code accepted once,
even when sent twice at once."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pyotp
from faka_common.contracts import DEFAULT_SHOP_ID
from faka_common.crypto import DEV_KEYRING
from faka_common.testing import asgi_client
from merchant.bootstrap import Service, bootstrap
from merchant.entrypoints.http import build_app
from pydantic import SecretStr

from .conftest import (
    PASSWORD,
    Clock,
    acting,
    enrol_totp,
    open_account,
    query,
    second_factor,
    session_of,
    sign_in,
    signed_in_with_totp,
    totp_code,
)

EMAIL = "owner@example.com"


async def enrolled(api: httpx.AsyncClient, service: Service, clock: Clock) -> tuple[str, list[str]]:
    """An owner of the default shop with TOTP on: the secret and the recovery codes."""
    await open_account(service, EMAIL, shops={DEFAULT_SHOP_ID: "owner"})
    return await enrol_totp(api, await session_of(api, EMAIL), clock)


async def challenge_of(api: httpx.AsyncClient) -> str:
    answer = (await sign_in(api, EMAIL)).json()
    assert answer["status"] == "second_factor_required" and answer["session_token"] is None
    challenge: str = answer["challenge"]
    return challenge


async def test_once_totp_is_on_the_password_alone_opens_no_session_and_the_code_is_checked(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    answer = (await sign_in(api, EMAIL)).json()
    assert answer["status"] == "second_factor_required" and answer["session_token"] is None
    assert (
        datetime.fromisoformat(answer["challenge_expires_at"])
        == clock.now + service.settings.session_policy().challenge
    )
    wrong = str((int(totp_code(secret, clock)) + 1) % 1_000_000).zfill(6)
    refused = await second_factor(api, answer["challenge"], code=wrong)
    assert refused.status_code == 401 and refused.json()["error"] == "second_factor_failed"
    done = await second_factor(api, answer["challenge"], code=totp_code(secret, clock))
    assert done.status_code == 200, done.text
    session = done.json()["session"]
    assert datetime.fromisoformat(session["second_factor_at"]) == clock.now
    assert (session["totp_enabled"], session["totp_enrolment_required"]) == (True, False)
    again = await second_factor(api, answer["challenge"], code=totp_code(secret, clock))
    assert again.status_code == 401 and again.json()["error"] == "challenge_invalid"


async def test_a_code_one_step_early_or_late_is_accepted_two_steps_off_refused(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    totp = pyotp.TOTP(secret)
    for offset, accepted in ((-60, False), (60, False), (-30, True), (30, True)):
        clock.advance(seconds=120)  # every try on a later step than any accepted before
        code = totp.at(clock.now.timestamp() + offset)
        response = await second_factor(api, await challenge_of(api), code=code)
        assert (response.status_code == 200) is accepted, (offset, response.text)


async def test_a_totp_code_is_never_accepted_twice(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    code = totp_code(secret, clock)
    assert (await second_factor(api, await challenge_of(api), code=code)).status_code == 200
    reused = await second_factor(api, await challenge_of(api), code=code)
    assert reused.status_code == 401 and reused.json()["error"] == "second_factor_failed"
    clock.advance(seconds=25)  # the next step's code, while the first is still within the window: refused
    previous = pyotp.TOTP(secret).at(clock.now.timestamp() - 30)
    assert (await second_factor(api, await challenge_of(api), code=previous)).status_code == 401


async def test_the_same_code_sent_on_several_sign_ins_at_once_opens_one_session(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    challenges = [await challenge_of(api) for _ in range(4)]  # with the enrolment's two: the window's ten
    code = totp_code(secret, clock)
    answers = await asyncio.gather(*(second_factor(api, c, code=code) for c in challenges))
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    live = await query(service, "SELECT id FROM sessions WHERE revoked_at IS NULL")
    assert len(live) == 2  # the enrolment's and one of these


async def test_a_recovery_code_signs_in_once(api: httpx.AsyncClient, service: Service, clock: Clock) -> None:
    _, codes = await enrolled(api, service, clock)
    assert len(codes) == len(set(codes)) == 10
    typed = codes[3].upper().replace("-", " ")
    done = await second_factor(api, await challenge_of(api), recovery_code=typed)
    assert done.status_code == 200, done.text
    assert done.json()["session"]["second_factor_at"] is not None
    again = await second_factor(api, await challenge_of(api), recovery_code=codes[3])
    assert again.status_code == 401 and again.json()["error"] == "second_factor_failed"
    assert (await second_factor(api, await challenge_of(api), recovery_code=codes[4])).status_code == 200
    unused = await query(service, "SELECT count(*) AS n FROM recovery_codes WHERE used_at IS NULL")
    assert unused[0].n == 8


async def test_one_recovery_code_sent_twice_at_once_signs_in_once(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    _, codes = await enrolled(api, service, clock)
    challenges = [await challenge_of(api) for _ in range(4)]
    answers = await asyncio.gather(*(second_factor(api, c, recovery_code=codes[0]) for c in challenges))
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


async def test_recovery_codes_are_stored_as_digests_and_shown_only_at_confirmation(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    _, codes = await enrolled(api, service, clock)
    stored = [row.digest for row in await query(service, "SELECT digest FROM recovery_codes")]
    assert len(stored) == 10 and all(len(d) == 32 for d in stored)
    assert not any(code.replace("-", "").encode() in d for code in codes for d in stored)


async def test_a_challenge_expires_and_takes_only_a_few_wrong_codes(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    late = await challenge_of(api)
    clock.advance(seconds=service.settings.session_policy().challenge.total_seconds())
    expired = await second_factor(api, late, code=totp_code(secret, clock))
    assert expired.status_code == 401 and expired.json()["error"] == "challenge_invalid"
    guessed = await challenge_of(api)
    for _ in range(5):
        assert (await second_factor(api, guessed, code="000000")).json()["error"] == "second_factor_failed"
    spent = await second_factor(api, guessed, code=totp_code(secret, clock))
    assert spent.status_code == 401 and spent.json()["error"] == "challenge_invalid"


async def test_wrong_codes_count_towards_the_accounts_sign_in_window(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    await enrolled(api, service, clock)
    statuses: list[int] = []
    while not statuses or statuses[-1] != 429:
        answer = await sign_in(api, EMAIL)
        statuses.append(answer.status_code)
        if answer.status_code == 200:
            statuses.append((await second_factor(api, answer.json()["challenge"], code="000000")).status_code)
    # the enrolment's sign-in and confirmation took two attempts of the window; then password, wrong code, ...
    limit = service.settings.sign_in_attempts_per_account
    assert statuses == [200, 401] * ((limit - 2) // 2) + [429]
    assert (await sign_in(api, EMAIL)).status_code == 429


async def test_turning_totp_on_needs_a_code_from_the_new_secret_and_revokes_the_other_sessions(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    await open_account(service, EMAIL, shops={DEFAULT_SHOP_ID: "owner"})
    token, other = await session_of(api, EMAIL), await session_of(api, EMAIL)
    path = "/internal/sessions/current/totp"
    before = await api.post(f"{path}/confirm", json={"code": "123456"}, headers=acting(token))
    assert before.status_code == 409
    first = (await api.post(path, headers=acting(token))).json()
    second = (await api.post(path, headers=acting(token))).json()
    assert first["secret"] != second["secret"] and second["provisioning_uri"].startswith("otpauth://totp/")
    assert "owner%40example.com" in second["provisioning_uri"] and "issuer=faka" in second["provisioning_uri"]
    stale = totp_code(first["secret"], clock)
    refused = await api.post(f"{path}/confirm", json={"code": stale}, headers=acting(token))
    assert refused.status_code == 403 and refused.json()["error"] == "wrong_code"
    confirmed = await api.post(
        f"{path}/confirm", json={"code": totp_code(second["secret"], clock)}, headers=acting(token)
    )
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == 10
    session = (await api.get("/internal/sessions/current", headers=acting(token))).json()
    assert session["totp_enrolment_required"] is False and session["second_factor_at"] is not None
    assert (await api.get("/internal/sessions/current", headers=acting(other))).status_code == 401
    twice = await api.post(path, headers=acting(token))
    assert twice.status_code == 409 and "on already" in twice.json()["message"]


async def test_the_totp_secret_is_stored_sealed_never_in_plaintext(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    (row,) = await query(service, "SELECT totp_secret, totp_key_id FROM accounts")
    assert row.totp_key_id == service.settings.keyring().active
    assert secret.encode() not in row.totp_secret
    assert secret.encode().lower() not in row.totp_secret.lower()
    dump = await query(service, "SELECT a::text AS text FROM accounts a")
    assert secret not in dump[0].text and secret.lower() not in dump[0].text.lower()


async def test_a_step_up_with_a_fresh_code_sets_the_second_factor_time_once_per_code(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    token = await signed_in_with_totp(api, EMAIL, secret, clock)
    clock.advance(minutes=10)
    path = "/internal/sessions/current/step-up"
    code = totp_code(secret, clock)
    stepped = await api.post(path, json={"code": code}, headers=acting(token))
    assert stepped.status_code == 200, stepped.text
    assert datetime.fromisoformat(stepped.json()["second_factor_at"]) == clock.now
    resolved = (await api.get("/internal/sessions/current", headers=acting(token))).json()
    assert resolved["second_factor_at"] == stepped.json()["second_factor_at"]
    clock.advance(seconds=5)
    reused = await api.post(path, json={"code": code}, headers=acting(token))
    assert reused.status_code == 403 and reused.json()["error"] == "wrong_code"
    assert (await api.get("/internal/sessions/current", headers=acting(token))).json()[
        "second_factor_at"
    ] == (stepped.json()["second_factor_at"])


async def test_a_step_up_needs_totp_on(api: httpx.AsyncClient, service: Service) -> None:
    await open_account(service, "viewer@example.com", shops={DEFAULT_SHOP_ID: "viewer"})
    token = await session_of(api, "viewer@example.com")
    response = await api.post(
        "/internal/sessions/current/step-up", json={"code": "123456"}, headers=acting(token)
    )
    assert response.status_code == 409 and "not on" in response.json()["message"]


async def test_a_second_factor_request_names_exactly_one_kind_of_code(api: httpx.AsyncClient) -> None:
    both = {"challenge": "x" * 43, "code": "123456", "recovery_code": "abcd-efgh-ijkm"}
    neither = {"challenge": "x" * 43}
    for body in (both, neither):
        response = await api.post("/internal/sign-in/second-factor", json=body)
        assert response.status_code == 422 and "either code or recovery_code" in response.json()["message"]


async def test_new_recovery_codes_replace_the_old_ones_and_want_a_fresh_second_factor(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, old = await enrolled(api, service, clock)
    token = await signed_in_with_totp(api, EMAIL, secret, clock)  # the second factor 30 s ago
    made = await api.post("/internal/sessions/current/recovery-codes", headers=acting(token))
    assert made.status_code == 201, made.text
    new = made.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    stale = await second_factor(api, await challenge_of(api), recovery_code=old[0])
    assert stale.status_code == 401, stale.text
    assert (await second_factor(api, await challenge_of(api), recovery_code=new[0])).status_code == 200

    clock.advance(seconds=6 * 60)
    refused = await api.post("/internal/sessions/current/recovery-codes", headers=acting(token))
    assert refused.status_code == 403 and refused.json()["error"] == "second_factor_required", refused.text
    unused = await query(service, "SELECT count(*) AS n FROM recovery_codes WHERE used_at IS NULL")
    assert unused[0].n == 9  # the refusal replaced nothing


async def test_recovery_codes_are_not_made_without_totp(api: httpx.AsyncClient, service: Service) -> None:
    await open_account(service, "plain@example.com")
    token = await session_of(api, "plain@example.com")
    refused = await api.post("/internal/sessions/current/recovery-codes", headers=acting(token))
    assert refused.status_code == 409 and refused.json()["error"] == "totp_state", refused.text


async def test_a_persons_own_security_changes_are_in_the_audit_trail_under_their_name(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)
    token = await signed_in_with_totp(api, EMAIL, secret, clock)
    codes = await api.post("/internal/sessions/current/recovery-codes", headers=acting(token))
    assert codes.status_code == 201, codes.text
    new_password = "another long password"
    change = {"current_password": PASSWORD, "new_password": new_password, "client_ip": "198.51.100.4"}
    changed = await api.post("/internal/sessions/current/password", headers=acting(token), json=change)
    assert changed.status_code == 204, changed.text
    entries = (await api.get("/internal/audit-entries")).json()["items"]
    # the test's clock stands still: the three share one time, so their order is the ids'
    assert sorted((e["action"], e["actor_label"], e["actor_kind"], e["shop_id"]) for e in entries) == [
        ("account.password", EMAIL, "person", None),
        ("account.recovery_codes", EMAIL, "person", None),
        ("account.totp", EMAIL, "person", None),
    ]
    [password_entry] = [e for e in entries if e["action"] == "account.password"]
    assert password_entry["client_ip"] == "198.51.100.4"
    assert not any(PASSWORD in str(e) or new_password in str(e) for e in entries)


@asynccontextmanager
async def keyed(service: Service, keys: str) -> AsyncIterator[httpx.AsyncClient]:
    """Merchant on the same database with another keyring (KEY_ENCRYPTION_KEYS = `keys`)."""
    settings = service.settings.model_copy(update={"key_encryption_keys": SecretStr(keys)})
    other = bootstrap(settings, service.clock)
    try:
        async with asgi_client(build_app(other), "merchant") as client:
            yield client
    finally:
        await other.runtime.engine.dispose()


async def test_a_key_rotation_re_seals_totp_secrets_and_sign_in_still_checks_the_code(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    secret, _ = await enrolled(api, service, clock)  # sealed with the development key ("dev")
    new = f"new:{base64.b64encode(os.urandom(32)).decode()}"
    async with keyed(service, f"{DEV_KEYRING},{new}") as rotating:
        resealed = await rotating.post("/internal/keys/reencrypt")
        again = await rotating.post("/internal/keys/reencrypt")
    assert resealed.status_code == 200, resealed.text
    assert resealed.json() == {"resealed": 1, "unreadable": 0, "active_key_id": "new"}
    assert again.json()["resealed"] == 0
    assert [r.totp_key_id for r in await query(service, "SELECT totp_key_id FROM accounts")] == ["new"]
    async with keyed(service, new) as rotated:  # the old key is gone: the secret opens with the new one
        challenge = (await sign_in(rotated, EMAIL)).json()["challenge"]
        answer = await second_factor(rotated, challenge, code=totp_code(secret, clock))
    assert answer.status_code == 200, answer.text
