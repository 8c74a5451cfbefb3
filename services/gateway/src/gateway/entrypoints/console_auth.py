"""The console's sign-in: people sign in with e-mail, password and TOTP (merchant checks them) and hold the
session in cookies. `faka_session` (HttpOnly) carries merchant's session token, which the gateway sends on as
X-Session-Token and never puts in a body or a URL; `faka_csrf` (readable by the console's scripts) is a random
value the console echoes in X-CSRF-Token on every write made with the session (double submit, compared in
constant time). Both are SameSite=Strict, Path=/, and end when merchant's session does at the latest
(absolute expiry); Secure, except in ENVIRONMENT=development or test when PUBLIC_BASE_URL is plain http (a
browser would not send a Secure cookie back over http). A write whose Origin or Sec-Fetch-Site says another
site sent it is refused before anything else. Merchant throttles sign-in (per account and per address: 429
with Retry-After passes through); the gateway passes the client's address (trusted proxies) and user agent."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from uuid import UUID

from faka_common.contracts.accounts import LinkPurpose, PlatformRole, ShopRole
from faka_common.errors import DomainError, Unauthorized
from faka_common.fields import Line
from faka_common.http import error_body
from faka_common.rate_limits import Window
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from gateway.adapters.people import LinkInvalid, MerchantPeople
from gateway.bootstrap import Gateway
from gateway.entrypoints.access import (
    CSRF_COOKIE,
    SECRET,
    SESSION_COOKIE,
    CsrfRefused,
    admit,
    check_double_submit,
    failure_windows,
    is_cross_site,
    known_address,
    user_agent,
)
from gateway.entrypoints.requests import PRIVATE
from gateway.entrypoints.responses import ErrorBody, refusals
from gateway.service_layer.rate_limits import lookup_limits

#: What merchant's tokens look like (secrets.token_urlsafe); anything else opens no session.
TOKEN = SECRET

# Bodies as strict as merchant's (merchant.entrypoints.accounts): what passes here passes there.
Email = Annotated[
    Line, StringConstraints(min_length=1, max_length=254), Field(examples=["seller@example.com"])
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
#: Merchant refuses a shorter new password (422 weak_password): the schema says so up front.
NewPassword = Annotated[
    str,
    StringConstraints(min_length=10, max_length=256),
    Field(description="10 to 256 characters, at least 4 different, not the e-mail address"),
]
Token = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=16), Field(examples=["123456"])]
RecoveryCode = Annotated[
    str, StringConstraints(min_length=1, max_length=40), Field(examples=["ab3d-ef4h-jk5m"])
]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class SecondFactor(BaseModel):
    """The challenge sign-in answered and either the authenticator app's code or a recovery code."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["code"]}, {"required": ["recovery_code"]}]},
    )

    challenge: Token = Field(description="What sign-in answered with second_factor_required")
    code: Code | SkipJsonSchema[None] = Field(default=None, description="The authenticator app's code")
    recovery_code: RecoveryCode | SkipJsonSchema[None] = Field(
        default=None, description="Or one of the recovery codes"
    )

    @model_validator(mode="after")
    def _one_factor(self) -> Self:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give either code or recovery_code")
        return self


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: NewPassword


class CodeCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code


class PasswordLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token = Field(description="The token of the e-mailed link")
    purpose: Literal["password_reset", "account_setup"]
    new_password: NewPassword


class VerificationLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token = Field(description="The token of the e-mailed link")
    purpose: Literal["email_verification"]


Link = Annotated[PasswordLink | VerificationLink, Field(discriminator="purpose")]


class Membership(BaseModel):
    shop_id: UUID
    role: ShopRole


class ConsoleSession(BaseModel):
    """The signed-in person and their session (merchant's session, without its token)."""

    session_id: UUID
    account_id: UUID
    email: str
    email_verified: bool
    platform_roles: list[PlatformRole]
    memberships: list[Membership]
    totp_enabled: bool
    totp_enrolment_required: bool = Field(
        description="Platform staff and shop owners must set up TOTP: until then the session is good for "
        "nothing but that (POST /api/console/totp, then /api/console/totp/confirm)"
    )
    second_factor_at: datetime | None = Field(description="When the session last proved the second factor")
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime


class SignedIn(BaseModel):
    status: Literal["signed_in"]
    session: ConsoleSession
    message: str


class SecondFactorRequired(BaseModel):
    status: Literal["second_factor_required"]
    challenge: str = Field(description="Pass it to POST /api/console/sign-in/second-factor")
    challenge_expires_at: datetime
    message: str


class TotpEnrolment(BaseModel):
    secret: str = Field(description="Base32, shown this once; for typing into an app by hand")
    provisioning_uri: str = Field(description="otpauth:// address, for a QR code")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Shown this once; each works once instead of a TOTP code")


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class Accepted(BaseModel):
    status: Literal["accepted"]


class Redeemed(BaseModel):
    account_id: UUID
    email: str
    purpose: LinkPurpose


session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The console session (set by sign-in)"
)

REFUSED: dict[int | str, dict[str, Any]] = {
    403: {
        "model": ErrorBody,
        "description": "csrf_refused: a write without the right X-CSRF-Token, or from another site; or "
        "merchant's refusal (totp_enrolment_required, wrong_password, wrong_code)",
    }
}
SIGN_IN = {**refusals(400, 401, 422, 429, 503), **REFUSED}
SESSION = {**refusals(400, 401, 422, 503), **REFUSED}
THROTTLED = refusals(429)
CONFLICT = refusals(409)


def _same_site(gw: Gateway) -> Any:
    """A dependency: refuses a write another site's page made (its Origin or Sec-Fetch-Site says so)."""

    async def check(request: Request) -> None:
        if request.method not in ("GET", "HEAD") and is_cross_site(request, gw):
            raise CsrfRefused("cross-site request refused: the console takes writes from its own pages only")

    return Depends(check)


def _session_token(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not TOKEN.fullmatch(token):
        raise Unauthorized("not signed in (no console session)")
    return token


@dataclass(frozen=True)
class Held:
    """The request's console session token and the client's windows of failed secret checks, which the
    route counts a failure in when merchant no longer knows the session."""

    token: str
    windows: list[Window]


def _sessions(gw: Gateway) -> tuple[Any, Any]:
    """The dependencies for a read (the session) and a write (the session, once the request proves it comes
    from the console: double-submit CSRF). Both go through the client's failure window, as the admin
    routes do: an address guessing sessions is refused (429) before merchant is asked."""

    async def read(request: Request, _: Annotated[str | None, Depends(session_cookie)] = None) -> Held:
        token = _session_token(request)
        return Held(token, await admit(gw, request, "session", token))

    async def write(
        request: Request,
        _: Annotated[str | None, Depends(session_cookie)] = None,
        x_csrf_token: Annotated[
            str | None,
            Header(description="The faka_csrf cookie's value, echoed: every write made with the session"),
        ] = None,
    ) -> Held:
        token = _session_token(request)
        check_double_submit(request, x_csrf_token)
        return Held(token, await admit(gw, request, "session", token))

    return Depends(read), Depends(write)


class Cookies:
    """How the console's cookies are set and cleared under these settings."""

    def __init__(self, gw: Gateway) -> None:
        plain_http = urlsplit(gw.settings.base_url).scheme == "http"
        self.secure = not (gw.settings.environment in ("development", "test") and plain_http)

    def open(self, response: Response, token: str, expires: datetime) -> None:
        for name, value, http_only in (
            (SESSION_COOKIE, token, True),
            (CSRF_COOKIE, secrets.token_urlsafe(32), False),
        ):
            response.set_cookie(
                name,
                value,
                expires=expires,
                path="/",
                secure=self.secure,
                httponly=http_only,
                samesite="strict",
            )

    def clear(self, response: Response) -> None:
        for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
            response.delete_cookie(name, path="/", secure=self.secure, httponly=http_only, samesite="strict")


def _client(gw: Gateway, request: Request) -> dict[str, Any]:
    """Who is signing in, as merchant counts and records it."""
    return {"client_ip": known_address(gw, request), "user_agent": user_agent(request)}


def console_auth_router(gw: Gateway) -> APIRouter:
    api = APIRouter(prefix="/api/console", tags=["console"], dependencies=[_same_site(gw)])
    people = MerchantPeople(gw.merchant)
    cookies = Cookies(gw)
    Read, Write = _sessions(gw)

    def signed_in(answer: dict[str, Any]) -> JSONResponse:
        """The person in the body, the session's token only in its cookie."""
        session = SignedIn.model_validate(answer)
        response = JSONResponse(session.model_dump(mode="json"), headers=PRIVATE)
        cookies.open(response, str(answer["session_token"]), session.session.absolute_expires_at)
        return response

    async def with_session(
        held: Held, call: Awaitable[Any], model: type[BaseModel] | None, status: int = 200
    ) -> Response:
        """Merchant's answer as `model`, never cached; a session merchant no longer knows clears the
        cookies too, and counts as a failed check of the client's."""
        try:
            answer = await call
        except DomainError as error:
            if error.status_code != 401:
                raise
            await lookup_limits(gw).count(held.windows)
            response = JSONResponse(error_body(error.code, error.message), status_code=401, headers=PRIVATE)
            cookies.clear(response)
            return response
        if model is None:
            return Response(status_code=status, headers=PRIVATE)
        return JSONResponse(model.model_validate(answer).model_dump(mode="json"), status, headers=PRIVATE)

    @api.post(
        "/sign-in",
        summary="Sign in: the session in cookies and the person, or a challenge for the second factor",
        response_model=SignedIn | SecondFactorRequired,
        responses=SIGN_IN,
    )
    async def sign_in(body: SignIn, request: Request) -> Any:
        answer = await people.sign_in({**body.model_dump(), **_client(gw, request)})
        if answer.get("status") == "second_factor_required":
            challenge = SecondFactorRequired.model_validate(answer).model_dump(mode="json")
            return JSONResponse(challenge, headers=PRIVATE)
        return signed_in(answer)

    @api.post(
        "/sign-in/second-factor",
        summary="Complete a sign-in with a TOTP code or a recovery code: the session in cookies",
        response_model=SignedIn,
        responses=SIGN_IN,
    )
    async def second_factor(body: SecondFactor, request: Request) -> Any:
        sent = {**body.model_dump(exclude_none=True), **_client(gw, request)}
        return signed_in(await people.complete_sign_in(sent))

    @api.get(
        "/me",
        summary="The signed-in person: account, roles, memberships, second factor; 401 without a session",
        response_model=ConsoleSession,
        responses=SESSION,
    )
    async def me(held: Held = Read) -> Response:
        return await with_session(held, people.session(held.token), ConsoleSession)

    @api.post(
        "/sign-out", status_code=204, summary="Sign out: the session ends, its cookies go", responses=SESSION
    )
    async def sign_out(held: Held = Write) -> Response:
        await gw.principals.forget("session", held.token)
        response = await with_session(held, people.sign_out(held.token), None, 204)
        cookies.clear(response)
        return response

    @api.post(
        "/password",
        status_code=204,
        summary="Change the password (the current one is needed); every session ends: sign in again",
        responses={**SESSION, **THROTTLED},
    )
    async def change_password(body: PasswordChange, request: Request, held: Held = Write) -> Response:
        sent = {**body.model_dump(), "client_ip": known_address(gw, request)}
        await gw.principals.forget("session", held.token)
        response = await with_session(held, people.change_password(held.token, sent), None, 204)
        cookies.clear(response)  # merchant ended every session of the account, this one too
        return response

    @api.post(
        "/totp",
        status_code=201,
        summary="Begin setting up TOTP: a new secret, shown once (409 when TOTP is on)",
        response_model=TotpEnrolment,
        responses={**SESSION, **CONFLICT},
    )
    async def begin_totp(held: Held = Write) -> Response:
        return await with_session(held, people.begin_totp(held.token), TotpEnrolment, 201)

    @api.post(
        "/totp/confirm",
        summary="The app's first code turns TOTP on: recovery codes, shown once; other sessions end",
        response_model=RecoveryCodes,
        responses={**SESSION, **CONFLICT, **THROTTLED},
    )
    async def confirm_totp(body: CodeCheck, request: Request, held: Held = Write) -> Response:
        sent = {**body.model_dump(), "client_ip": known_address(gw, request)}
        answer = await with_session(held, people.confirm_totp(held.token, sent), RecoveryCodes)
        await gw.principals.forget("session", held.token)  # TOTP on, second factor now: not what was kept
        return answer

    @api.post(
        "/recovery-codes",
        status_code=201,
        summary="New recovery codes, shown once (the earlier ones stop working); a second factor within "
        "the last 5 minutes (403 second_factor_required: step up first; 409 when TOTP is off)",
        response_model=RecoveryCodes,
        responses={**SESSION, **CONFLICT},
    )
    async def regenerate_recovery_codes(held: Held = Write) -> Response:
        return await with_session(held, people.regenerate_recovery_codes(held.token), RecoveryCodes, 201)

    @api.post(
        "/step-up",
        summary="A fresh TOTP code: the session's second factor is now (key reveal, payment credentials)",
        response_model=ConsoleSession,
        responses={**SESSION, **CONFLICT, **THROTTLED},
    )
    async def step_up(body: CodeCheck, request: Request, held: Held = Write) -> Response:
        sent = {**body.model_dump(), "client_ip": known_address(gw, request)}
        answer = await with_session(held, people.step_up(held.token, sent), ConsoleSession)
        await gw.principals.forget("session", held.token)  # the second factor is now: not what was kept
        return answer

    @api.post(
        "/links/redeem",
        summary="Use an e-mailed one-time link: set or reset the password, or verify the address "
        "(404 link_invalid when it is unknown, used, expired or for another purpose)",
        response_model=Redeemed,
        responses={
            **refusals(400, 422, 503),
            **REFUSED,
            404: {"model": ErrorBody, "description": "link_invalid: unknown, used, expired, another purpose"},
        },
    )
    async def redeem_link(body: Link, request: Request) -> Any:  # no session yet: nothing for CSRF to protect
        limits = lookup_limits(gw)
        windows = failure_windows(gw, request, "link-redeem")
        refusal = await limits.full(windows)
        if refusal is not None:
            raise refusal
        try:
            return await people.redeem_link(body.model_dump())
        except LinkInvalid:
            await limits.count(windows)
            raise

    @api.post(
        "/password-resets",
        status_code=202,
        summary="E-mail a password-reset link if the address has an account: the same 202 whatever the "
        "address (a few per address and hour)",
        response_model=Accepted,
        responses={**refusals(422, 429, 503), **REFUSED},
    )
    async def request_password_reset(body: ResetRequest, request: Request) -> Any:
        limits = lookup_limits(gw)
        await limits.take(failure_windows(gw, request, "password-reset"))
        return await people.request_password_reset(body.model_dump())

    @api.post(
        "/email-verification",
        status_code=202,
        summary="E-mail the signed-in person a link that verifies the address (409 when verified already)",
        response_model=Accepted,
        responses={**SESSION, **CONFLICT},
    )
    async def request_email_verification(held: Held = Write) -> Response:
        return await with_session(held, people.request_email_verification(held.token), Accepted, 202)

    return api
