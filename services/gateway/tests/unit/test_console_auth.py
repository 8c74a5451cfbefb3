"""The console's sign-in at the gateway: the session in cookies, CSRF on every write made with it, the second
factor, and merchant's answers passed on (a fake merchant over httpx.MockTransport)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app

PASSWORD = "correct horse battery"
CODE = "123456"
ABSOLUTE = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeMerchant:
    """Merchant's people routes for two people: one with TOTP on (a second factor), one without."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sessions: dict[str, str] = {}  # token -> e-mail
        self.challenges: dict[str, str] = {}
        self.throttled = False

    def session(self, email: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "session_id": str(uuid.uuid4()),
            "account_id": str(uuid.uuid4()),
            "email": email,
            "email_verified": True,
            "platform_roles": ["admin"],
            "memberships": [{"shop_id": str(uuid.uuid4()), "role": "owner"}],
            "totp_enabled": email.startswith("totp"),
            "totp_enrolment_required": False,
            "second_factor_at": now.isoformat() if email.startswith("totp") else None,
            "created_at": now.isoformat(),
            "last_seen_at": now.isoformat(),
            "idle_expires_at": (now + timedelta(minutes=30)).isoformat(),
            "absolute_expires_at": ABSOLUTE.isoformat(),
        }

    def signed_in(self, email: str) -> httpx.Response:
        token = secrets.token_urlsafe(32)
        self.sessions[token] = email
        body = {"status": "signed_in", "session_token": token, "session": self.session(email)}
        return httpx.Response(200, json={**body, "message": "signed in"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content) if request.content else {}
        token = request.headers.get("x-session-token", "")
        path, method = request.url.path, request.method
        if self.throttled:
            message = "too many sign-in attempts for this account; try again in 42 seconds"
            return httpx.Response(429, json={"error": "rate_limited", "message": message, "retry_after": 42})
        if path == "/internal/sign-in":
            if body["password"] != PASSWORD:
                return refusal(401, "sign_in_failed", "wrong e-mail or password")
            if body["email"].startswith("totp"):
                challenge = secrets.token_urlsafe(32)
                self.challenges[challenge] = body["email"]
                return httpx.Response(
                    200,
                    json={"status": "second_factor_required", "challenge": challenge,
                          "challenge_expires_at": ABSOLUTE.isoformat(), "message": "enter the code"},
                )  # fmt: skip
            return self.signed_in(body["email"])
        if path == "/internal/sign-in/second-factor":
            if body["challenge"] not in self.challenges or body.get("code") != CODE:
                return refusal(401, "second_factor_failed", "wrong code")
            return self.signed_in(self.challenges.pop(body["challenge"]))
        if path == "/internal/password-resets":
            return httpx.Response(202, json={"status": "accepted"})
        if path == "/internal/links/redeem" and body["token"] == "used":
            return refusal(410, "link_invalid", "this link is unknown, was used already or has expired")
        if path == "/internal/links/redeem":
            return httpx.Response(200, json={"account_id": str(uuid.uuid4()), "email": "new@example.com",
                                             "purpose": body["purpose"]})  # fmt: skip
        if token not in self.sessions:
            return refusal(401, "session_invalid", "no live session")
        if path == "/internal/sessions/current" and method == "GET":
            return httpx.Response(200, json=self.session(self.sessions[token]))
        if path == "/internal/sessions/current" and method == "DELETE":
            self.sessions.pop(token)
            return httpx.Response(204)
        if path == "/internal/sessions/current/password":
            self.sessions.clear()
            return httpx.Response(204)
        if path == "/internal/sessions/current/recovery-codes":
            return httpx.Response(201, json={"recovery_codes": [f"code-{i}" for i in range(10)]})
        if path == "/internal/sessions/current/email-verification":
            return httpx.Response(202, json={"status": "accepted"})
        if path == "/internal/sessions/current/totp":
            return httpx.Response(201, json={"secret": "JBSWY3DPEHPK3PXP", "provisioning_uri": "otpauth://x"})
        return refusal(404, "not_found", f"nothing at {path}")


def refusal(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "message": message})


class Console:
    def __init__(self, gateway: Gateway, merchant: FakeMerchant) -> None:
        self.gateway, self.merchant = gateway, merchant

    def client(self, peer: str = "203.0.113.9", **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=edge_app(self.gateway), client=(peer, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", **kwargs)


async def console_of(**settings: Any) -> Console:
    merchant = FakeMerchant()
    owner = InternalClient(
        "http://merchant.test",
        ServiceCredential.development("gateway"),
        transport=httpx.MockTransport(merchant),
    )
    gateway = build_gateway(
        Settings(lookup_limit_storage_url="memory://", **settings),
        shops=KnownShops.default_only(),
        merchant=owner,
    )
    return Console(gateway, merchant)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    built = await console_of()
    yield built
    await built.gateway.aclose()


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    """Each Set-Cookie of the answer by name: its value and attributes (lower-case)."""
    found: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            attributes = {k: v for k, v in morsel.items() if v}
            found[name] = {"value": morsel.value, "raw": header.lower(), **attributes}
    return found


async def signed_in(client: httpx.AsyncClient, email: str = "owner@example.com") -> httpx.Response:
    answer = await client.post("/api/console/sign-in", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["faka_csrf"]}


async def test_sign_in_puts_the_session_in_an_http_only_strict_cookie_and_never_in_the_body(
    console: Console,
) -> None:
    async with console.client() as client:
        answer = await signed_in(client)
    cookies = set_cookies(answer)
    session, token = cookies["faka_session"], cookies["faka_session"]["value"]
    assert token in console.merchant.sessions
    assert token not in answer.text
    assert answer.json()["session"]["email"] == "owner@example.com"
    assert answer.json()["status"] == "signed_in"
    assert session["httponly"] is True
    assert session["samesite"].lower() == "strict"
    assert session["path"] == "/"
    assert parsedate_to_datetime(session["expires"]) == ABSOLUTE
    assert "max-age" not in session
    assert "secure" not in session  # ENVIRONMENT=development over http
    token_for_scripts = cookies["faka_csrf"]
    assert "httponly" not in token_for_scripts
    assert token_for_scripts["samesite"].lower() == "strict"
    assert parsedate_to_datetime(token_for_scripts["expires"]) == ABSOLUTE
    assert len(token_for_scripts["value"]) >= 32
    assert answer.headers["cache-control"] == "no-store"


async def test_cookies_are_secure_over_https_and_outside_development_and_test() -> None:
    own_secrets = {name: secrets.token_urlsafe(24) for name in ("service_token", "sandbox_secret")}
    for settings in (
        {"public_base_url": "https://shop.example.com"},
        {"environment": "test", "public_base_url": "https://shop.example.com", **own_secrets},
        {"environment": "production", "payment_providers": [], **own_secrets},
    ):
        console = await console_of(**settings)
        async with console.client() as client:
            answer = await signed_in(client)
        await console.gateway.aclose()
        cookies = set_cookies(answer)
        assert cookies["faka_session"]["secure"] is True, settings
        assert cookies["faka_csrf"]["secure"] is True, settings


async def test_sign_in_tells_merchant_the_client_address_and_user_agent(console: Console) -> None:
    async with console.client(headers={"User-Agent": b"Firefox\x85/1" + b"x" * 600}) as client:
        await signed_in(client)
    sent = json.loads(console.merchant.requests[-1].content)
    assert sent["client_ip"] == "203.0.113.9"
    assert sent["user_agent"] == "Firefox/1" + "x" * 503  # printable, at most merchant's 512
    assert sent["email"] == "owner@example.com"


async def test_me_sends_the_cookie_as_x_session_token_and_answers_the_person(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        token = client.cookies["faka_session"]
        me = await client.get("/api/console/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"] == "owner@example.com"
    assert body["platform_roles"] == ["admin"]
    assert body["memberships"][0]["role"] == "owner"
    assert {"second_factor_at", "totp_enrolment_required"} <= set(body)
    asked = console.merchant.requests[-1]
    assert asked.headers["x-session-token"] == token
    assert token not in str(asked.url)


async def test_me_without_a_session_is_401(console: Console) -> None:
    async with console.client() as client:
        assert (await client.get("/api/console/me")).status_code == 401
        client.cookies.set("faka_session", "not a token!")
        assert (await client.get("/api/console/me")).status_code == 401
    assert console.merchant.requests == []


async def test_a_session_merchant_no_longer_knows_is_401_and_clears_the_cookies(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        console.merchant.sessions.clear()
        me = await client.get("/api/console/me")
    assert me.status_code == 401
    assert me.json()["error"] == "session_invalid"
    assert set_cookies(me)["faka_session"]["max-age"] == "0"


async def test_a_write_without_the_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        refused = await client.post("/api/console/sign-out")
        wrong = await client.post("/api/console/sign-out", headers={"X-CSRF-Token": "x" * 43})
        enrol = await client.post("/api/console/totp")
    for answer in (refused, wrong, enrol):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "csrf_refused"
        assert "X-CSRF-Token" in answer.json()["message"]
    assert len(console.merchant.sessions) == 1
    assert [r.url.path for r in console.merchant.requests] == ["/internal/sign-in"]


async def test_a_write_with_the_csrf_token_goes_through(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        enrol = await client.post("/api/console/totp", headers=csrf(client))
    assert enrol.status_code == 201, enrol.text
    assert enrol.json()["provisioning_uri"] == "otpauth://x"


async def test_a_cross_site_write_is_refused_even_with_the_csrf_token(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        for header in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            answer = await client.post("/api/console/sign-out", headers={**csrf(client), **header})
            assert answer.status_code == 403, answer.text
            assert "cross-site" in answer.json()["message"]
        login = await client.post(
            "/api/console/sign-in",
            json={"email": "owner@example.com", "password": PASSWORD},
            headers={"Sec-Fetch-Site": "same-site"},
        )
        assert login.status_code == 403
        same = await client.post(
            "/api/console/sign-out",
            headers={**csrf(client), "Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
        )
    assert same.status_code == 204, same.text


async def test_sign_out_ends_the_session_and_clears_both_cookies(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        token = client.cookies["faka_session"]
        out = await client.post("/api/console/sign-out", headers=csrf(client))
        assert out.status_code == 204, out.text
        cleared = set_cookies(out)
        assert cleared["faka_session"]["max-age"] == "0"
        assert cleared["faka_csrf"]["max-age"] == "0"
        assert "faka_session" not in client.cookies
        assert (await client.get("/api/console/me")).status_code == 401
    assert token not in console.merchant.sessions


async def test_second_factor_sign_in_sets_the_cookie_only_after_the_code(console: Console) -> None:
    async with console.client() as client:
        first = await signed_in(client, "totp@example.com")
        assert first.json()["status"] == "second_factor_required"
        assert set_cookies(first) == {}
        challenge = first.json()["challenge"]
        wrong = await client.post(
            "/api/console/sign-in/second-factor", json={"challenge": challenge, "code": "000000"}
        )
        assert wrong.status_code == 401
        assert "faka_session" not in client.cookies
        second = await client.post(
            "/api/console/sign-in/second-factor", json={"challenge": challenge, "code": CODE}
        )
        assert second.status_code == 200, second.text
        assert client.cookies["faka_session"] in console.merchant.sessions
        assert (await client.get("/api/console/me")).json()["totp_enabled"] is True
    sent = json.loads(console.merchant.requests[2].content)
    assert sent == {
        "challenge": challenge,
        "code": CODE,
        "client_ip": "203.0.113.9",
        "user_agent": sent["user_agent"],
    }


async def test_second_factor_wants_exactly_one_of_code_and_recovery_code(console: Console) -> None:
    async with console.client() as client:
        for body in ({"challenge": "c"}, {"challenge": "c", "code": "1", "recovery_code": "r"}):
            answer = await client.post("/api/console/sign-in/second-factor", json=body)
            assert answer.status_code == 422, answer.text
    assert console.merchant.requests == []


async def test_merchant_throttling_passes_through_as_429_with_retry_after(console: Console) -> None:
    console.merchant.throttled = True
    async with console.client() as client:
        answer = await client.post(
            "/api/console/sign-in", json={"email": "owner@example.com", "password": PASSWORD}
        )
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "42"
    assert answer.json()["retry_after"] == 42


USED_LINK = {"token": "used", "purpose": "account_setup", "new_password": "a new long password"}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/console/sign-in", {"email": "a@example.com", "password": "nope"}, 401, "sign_in_failed"),
        # merchant's 410: the gateway's 404 of a secret that opens nothing
        ("/api/console/links/redeem", USED_LINK, 404, "link_invalid"),
    ],
)
async def test_merchants_refusal_passes_on_and_sets_no_cookie(
    console: Console, path: str, body: dict[str, str], status: int, code: str
) -> None:
    async with console.client() as client:
        answer = await client.post(path, json=body)
    assert answer.status_code == status
    assert answer.json()["error"] == code
    assert set_cookies(answer) == {}


async def test_a_password_change_clears_the_cookies(console: Console) -> None:
    async with console.client() as client:
        await signed_in(client)
        changed = await client.post(
            "/api/console/password",
            json={"current_password": PASSWORD, "new_password": "a new long password"},
            headers=csrf(client),
        )
        assert changed.status_code == 204, changed.text
        assert set_cookies(changed)["faka_session"]["max-age"] == "0"
        assert (await client.get("/api/console/me")).status_code == 401


async def test_a_link_is_redeemed_without_a_session_and_its_password_where_it_belongs(
    console: Console,
) -> None:
    async with console.client() as client:
        setup = await client.post(
            "/api/console/links/redeem",
            json={"token": "t" * 43, "purpose": "account_setup", "new_password": "a new long password"},
        )
        assert setup.status_code == 200, setup.text
        assert setup.json()["purpose"] == "account_setup"
        verify = await client.post(
            "/api/console/links/redeem",
            json={"token": "t" * 43, "purpose": "email_verification", "new_password": "a new long password"},
        )
        assert verify.status_code == 422
        missing = await client.post(
            "/api/console/links/redeem", json={"token": "t", "purpose": "password_reset"}
        )
        assert missing.status_code == 422
    assert len(console.merchant.requests) == 1


async def test_a_peer_that_is_no_ip_address_is_sent_as_no_address(console: Console) -> None:
    async with console.client(peer="testclient") as client:
        await signed_in(client)
    assert json.loads(console.merchant.requests[-1].content)["client_ip"] is None


async def test_dead_links_from_one_address_are_throttled_before_merchant_and_others_still_redeem() -> None:
    console = await console_of(admin_auth_failures_per_ip_per_minute=3)
    dead = {"token": "used", "purpose": "account_setup", "new_password": "a long new password"}
    async with console.client(peer="203.0.113.7") as guesser, console.client(peer="198.51.100.2") as person:
        answers = [(await guesser.post("/api/console/links/redeem", json=dead)).status_code for _ in range(4)]
        asked = [r.url.path for r in console.merchant.requests].count("/internal/links/redeem")
        good = await person.post("/api/console/links/redeem", json={**dead, "token": "fresh"})
    await console.gateway.aclose()
    assert answers == [404, 404, 404, 429]
    assert asked == 3, "the fourth guess must not reach merchant"
    assert good.status_code == 200, good.text


async def test_a_password_reset_is_asked_for_with_the_same_202_and_a_verification_needs_the_session(
    console: Console,
) -> None:
    async with console.client() as client:
        reset = await client.post("/api/console/password-resets", json={"email": "who@example.com"})
        no_session = await client.post("/api/console/email-verification")
        await signed_in(client)
        verified = await client.post(
            "/api/console/email-verification", headers={"X-CSRF-Token": client.cookies["faka_csrf"]}
        )
    assert reset.status_code == 202 and reset.json() == {"status": "accepted"}
    sent = [
        json.loads(r.content) for r in console.merchant.requests if r.url.path == "/internal/password-resets"
    ]
    assert sent == [{"email": "who@example.com"}]
    assert no_session.status_code == 401
    assert verified.status_code == 202, verified.text


async def test_new_recovery_codes_come_back_once_never_cached_and_need_the_csrf_token(
    console: Console,
) -> None:
    async with console.client() as client:
        await signed_in(client)
        forged = await client.post("/api/console/recovery-codes")
        made = await client.post(
            "/api/console/recovery-codes", headers={"X-CSRF-Token": client.cookies["faka_csrf"]}
        )
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_refused"
    assert made.status_code == 201 and len(made.json()["recovery_codes"]) == 10
    assert made.headers["cache-control"] == "no-store"


async def test_sessions_guessed_from_one_address_are_throttled_before_merchant_others_still_read() -> None:
    """The console's own routes count a session merchant does not know against the client's window of failed
    secret checks, as the admin routes do: a full window answers 429 without asking merchant."""
    console = await console_of(admin_auth_failures_per_ip_per_minute=3)
    async with console.client(peer="203.0.113.7") as guesser, console.client(peer="198.51.100.2") as person:
        await signed_in(person)
        answers = []
        for guess in range(4):
            guesser.cookies.set("faka_session", f"guessed-session-{guess}")
            answers.append((await guesser.get("/api/console/me")).status_code)
        guesser.cookies.set("faka_csrf", "c" * 43)
        write = await guesser.post("/api/console/sign-out", headers={"X-CSRF-Token": "c" * 43})
        asked = [r.url.path for r in console.merchant.requests].count("/internal/sessions/current")
        mine = await person.get("/api/console/me")
    await console.gateway.aclose()
    assert answers == [401, 401, 401, 429]
    assert write.status_code == 429, "a write with a guessed session is refused by the same window"
    assert asked == 3, "guesses past the window must not reach merchant"
    assert mine.status_code == 200, mine.text
