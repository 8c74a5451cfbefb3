"""A platform admin signs in to the console end to end over the gateway: the first admin's setup link from
`faka-admin create-platform-admin`, the password set through it, sign-in, TOTP set up with the code an app
would show, sign-in again needing that second factor, sign-out."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest

from .e2e_platform import ADMIN_PASSWORD as PASSWORD
from .e2e_platform import Platform, running_platform, setup_link_token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


def csrf(console: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": console.cookies["faka_csrf"]}


async def test_a_platform_admin_sets_a_password_signs_in_sets_up_totp_and_needs_it_next_time(
    platform: Platform,
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    token = await setup_link_token(platform, email)
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=30) as console:
        redeemed = await console.post(
            "/api/console/links/redeem",
            json={"token": token, "purpose": "account_setup", "new_password": PASSWORD},
        )
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.json()["email"] == email
        again = await console.post(
            "/api/console/links/redeem",
            json={"token": token, "purpose": "account_setup", "new_password": PASSWORD},
        )
        assert again.status_code == 404, again.text  # used: no link any more
        assert again.json()["error"] == "link_invalid"

        signed_in = await console.post("/api/console/sign-in", json={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["status"] == "signed_in"
        session_token = console.cookies["faka_session"]
        assert session_token not in signed_in.text
        me = await console.get("/api/console/me")
        assert me.status_code == 200, me.text
        assert me.json()["platform_roles"] == ["admin"]
        assert me.json()["totp_enrolment_required"] is True

        refused = await console.post("/api/console/totp")
        assert refused.status_code == 403, refused.text
        enrolment = await console.post("/api/console/totp", headers=csrf(console))
        assert enrolment.status_code == 201, enrolment.text
        app = pyotp.TOTP(enrolment.json()["secret"])
        confirmed_at = time.time()
        confirm_code = app.at(confirmed_at)
        confirmed = await console.post(
            "/api/console/totp/confirm", json={"code": confirm_code}, headers=csrf(console)
        )
        assert confirmed.status_code == 200, confirmed.text
        assert len(confirmed.json()["recovery_codes"]) == 10
        me = await console.get("/api/console/me")
        assert me.json()["totp_enrolment_required"] is False
        assert me.json()["second_factor_at"] is not None

        out = await console.post("/api/console/sign-out", headers=csrf(console))
        assert out.status_code == 204, out.text
        assert "faka_session" not in console.cookies
        assert (await console.get("/api/console/me")).status_code == 401
        console.cookies.set("faka_session", session_token)
        assert (
            await console.get("/api/console/me")
        ).status_code == 401  # revoked at merchant, not just forgotten
        console.cookies.clear()

        challenged = await console.post("/api/console/sign-in", json={"email": email, "password": PASSWORD})
        assert challenged.status_code == 200, challenged.text
        assert challenged.json()["status"] == "second_factor_required"
        assert "faka_session" not in console.cookies
        challenge = challenged.json()["challenge"]
        reused = await console.post(
            "/api/console/sign-in/second-factor", json={"challenge": challenge, "code": confirm_code}
        )
        assert reused.status_code == 401, reused.text
        completed = await console.post(
            "/api/console/sign-in/second-factor",
            json={"challenge": challenge, "code": app.at(confirmed_at + app.interval)},
        )
        assert completed.status_code == 200, completed.text
        me = await console.get("/api/console/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email
        assert me.json()["totp_enabled"] is True

        out = await console.post("/api/console/sign-out", headers=csrf(console))
        assert out.status_code == 204, out.text
        assert (await console.get("/api/console/me")).status_code == 401
