"""Merchant internal HTTP API: people signing in, their sessions, TOTP, passwords and one-time links
(docs/internal-api.md, merchant section). The gateway calls these on behalf of a person; secrets travel in
bodies and the X-Session-Token header, never in a URL. The notification service has links issued."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlencode
from uuid import UUID

from faka_common.contracts.accounts import LinkPurpose, PlatformRole, ShopRole
from faka_common.fields import Line
from faka_common.http import combined, internal_router
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from merchant.bootstrap import Service
from merchant.domain import commands
from merchant.domain.accounts import LINK_PAGES, MAX_EMAIL, MAX_PASSWORD, PASSWORD_LINKS, Person, Session
from merchant.entrypoints.deps import Now, ServiceDep, SessionToken, refused
from merchant.service_layer import accounts
from merchant.service_layer.accounts import SignedIn

Email = Annotated[
    Line, StringConstraints(min_length=1, max_length=MAX_EMAIL), Field(examples=["seller@example.com"])
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=16), Field(examples=["123456"])]
RecoveryCode = Annotated[
    str, StringConstraints(min_length=1, max_length=40), Field(examples=["ab3d-ef4h-jk5m"])
]
UserAgent = Annotated[Line, StringConstraints(max_length=512)]
ClientIp = Annotated[
    IPv4Address | IPv6Address | None,
    Field(description="The person's address as the gateway saw it: sign-in attempts are counted per address"),
]


class SignInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    client_ip: ClientIp = None
    user_agent: UserAgent = ""


class SecondFactorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge: Token = Field(description="What sign-in answered with second_factor_required")
    code: Code | None = Field(default=None, description="The authenticator app's code")
    recovery_code: RecoveryCode | None = Field(default=None, description="Or one of the recovery codes")
    client_ip: ClientIp = None
    user_agent: UserAgent = ""

    @model_validator(mode="after")
    def _one_factor(self) -> Self:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give either code or recovery_code")
        return self


class MembershipView(BaseModel):
    shop_id: UUID
    role: ShopRole


class SessionView(BaseModel):
    session_id: UUID
    account_id: UUID
    email: str
    email_verified: bool
    platform_roles: list[PlatformRole]
    memberships: list[MembershipView]
    totp_enabled: bool
    totp_enrolment_required: bool = Field(
        description="Platform staff and shop owners must set up TOTP: until they do, this session is good "
        "for nothing but that (POST /internal/sessions/current/totp, then .../totp/confirm)"
    )
    second_factor_at: datetime | None = Field(
        description="When the session last proved the second factor (sign-in or step-up); key reveal and "
        "export, payment credentials and API tokens want it within the last 5 minutes"
    )
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime

    @classmethod
    def of(cls, session: Session, person: Person) -> Self:
        account = person.account
        return cls(
            session_id=session.id,
            account_id=account.id,
            email=account.email,
            email_verified=account.email_verified_at is not None,
            platform_roles=list(person.platform_roles),
            memberships=[MembershipView(shop_id=m.shop_id, role=m.role) for m in person.memberships],
            totp_enabled=account.totp_enabled,
            totp_enrolment_required=person.must_enrol_totp,
            second_factor_at=session.second_factor_at,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            idle_expires_at=session.idle_expires_at,
            absolute_expires_at=session.absolute_expires_at,
        )


class SignInAnswer(BaseModel):
    status: Literal["signed_in", "second_factor_required"]
    session_token: str | None = Field(
        default=None, description="signed_in: the session's token (shown once; only its digest is kept)"
    )
    session: SessionView | None = None
    challenge: str | None = Field(
        default=None, description="second_factor_required: pass it to /internal/sign-in/second-factor"
    )
    challenge_expires_at: datetime | None = None
    message: str

    @classmethod
    def signed_in(cls, signed_in: SignedIn) -> Self:
        session = SessionView.of(signed_in.session, signed_in.person)
        message = (
            "signed in; set up TOTP now: until then this session is good for nothing else"
            if session.totp_enrolment_required
            else "signed in"
        )
        return cls(status="signed_in", session_token=signed_in.token, session=session, message=message)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password
    client_ip: ClientIp = None


class CodeCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    client_ip: ClientIp = None


class TotpEnrolmentView(BaseModel):
    secret: str = Field(description="Base32, shown this once (kept sealed); for typing into an app by hand")
    provisioning_uri: str = Field(description="otpauth:// address, for a QR code")


class RecoveryCodesView(BaseModel):
    recovery_codes: list[str] = Field(description="Shown this once; each works once instead of a TOTP code")


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: LinkPurpose


class LinkView(BaseModel):
    account_id: UUID
    email: str = Field(description="Where to send the link")
    purpose: LinkPurpose
    token: str
    url: str = Field(description="The console page holding the token, for the e-mail")
    expires_at: datetime


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token
    purpose: LinkPurpose = Field(
        description="What the page the link opened is for; another link's token: 410"
    )
    new_password: Password | None = Field(default=None, description="password_reset and account_setup only")

    @model_validator(mode="after")
    def _password_where_it_belongs(self) -> Self:
        if (self.purpose in PASSWORD_LINKS) != (self.new_password is not None):
            wanted = "needs new_password" if self.purpose in PASSWORD_LINKS else "takes no new_password"
            raise ValueError(f"a {self.purpose} link {wanted}")
        return self


class RedeemedView(BaseModel):
    account_id: UUID
    email: str
    purpose: LinkPurpose


def _ip(address: IPv4Address | IPv6Address | None) -> str | None:
    return None if address is None else str(address)


def link_url(service: Service, purpose: LinkPurpose, token: str) -> str:
    base = service.settings.public_base_url.rstrip("/")
    return f"{base}{LINK_PAGES[purpose]}?{urlencode({'token': token})}"


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "No live session (session_invalid)"}}
LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Too many attempts: retry_after seconds"}}


ENROLMENT = refused("totp_enrolment_required: this session may only set up TOTP")

people = APIRouter(tags=["accounts"])


@people.post(
    "/sign-in",
    summary="Sign in with e-mail and password: a session, or a challenge for the second factor",
    responses={401: {"description": "sign_in_failed: wrong e-mail or password (one answer)"}, **LIMITED},
)
async def sign_in(body: SignInRequest, service: ServiceDep, now: Now) -> SignInAnswer:
    command = commands.SignIn(body.email, body.password, _ip(body.client_ip), body.user_agent)
    outcome = await accounts.sign_in(command, service.uow(), service.credentials, now)
    if isinstance(outcome, SignedIn):
        return SignInAnswer.signed_in(outcome)
    return SignInAnswer(
        status="second_factor_required",
        challenge=outcome.challenge,
        challenge_expires_at=outcome.expires_at,
        message="enter the code of your authenticator app, or a recovery code",
    )


@people.post(
    "/sign-in/second-factor",
    summary="Complete a sign-in with a TOTP code or a recovery code",
    responses={
        401: {"description": "challenge_invalid, or second_factor_failed (wrong or used code)"},
        **LIMITED,
    },
)
async def complete_sign_in(body: SecondFactorRequest, service: ServiceDep, now: Now) -> SignInAnswer:
    command = commands.CompleteSignIn(
        body.challenge, body.code, body.recovery_code, _ip(body.client_ip), body.user_agent
    )
    return SignInAnswer.signed_in(
        await accounts.complete_sign_in(command, service.uow(), service.credentials, now)
    )


@people.get(
    "/sessions/current",
    summary="The session X-Session-Token opens and its person; its idle expiry slides",
    responses=UNAUTHORIZED,
)
async def resolve_session(token: SessionToken, service: ServiceDep, now: Now) -> SessionView:
    return SessionView.of(*await accounts.resolve_session(token, service.uow(), service.credentials, now))


@people.delete("/sessions/current", status_code=204, summary="Sign out: revoke the session")
async def sign_out(token: SessionToken, service: ServiceDep, now: Now) -> Response:
    await accounts.sign_out(token, service.uow(), now)
    return Response(status_code=204)


@people.post(
    "/sessions/current/step-up",
    summary="A fresh TOTP code: the session's second factor is now",
    responses={**UNAUTHORIZED, **ENROLMENT, **LIMITED, 409: {"description": "TOTP is not on"}},
)
async def step_up(body: CodeCheck, token: SessionToken, service: ServiceDep, now: Now) -> SessionView:
    command = commands.CheckCode(token, body.code, _ip(body.client_ip))
    return SessionView.of(*await accounts.step_up(command, service.uow(), service.credentials, now))


@people.post(
    "/sessions/current/password",
    status_code=204,
    summary="Change the password (the current one is needed); every session of the account is revoked",
    responses={**UNAUTHORIZED, **ENROLMENT, **LIMITED, 422: {"description": "weak_password"}},
)
async def change_password(
    body: PasswordChange, token: SessionToken, service: ServiceDep, now: Now
) -> Response:
    command = commands.ChangePassword(token, body.current_password, body.new_password, _ip(body.client_ip))
    await accounts.change_password(command, service.uow(), service.credentials, now)
    return Response(status_code=204)


@people.post(
    "/sessions/current/totp",
    status_code=201,
    summary="Begin setting up TOTP: a new secret, shown once",
    responses={**UNAUTHORIZED, 409: {"description": "TOTP is on already"}},
)
async def begin_totp(token: SessionToken, service: ServiceDep, now: Now) -> TotpEnrolmentView:
    enrolment = await accounts.begin_totp(token, service.uow(), service.credentials, now)
    return TotpEnrolmentView(secret=enrolment.secret, provisioning_uri=enrolment.uri)


@people.post(
    "/sessions/current/totp/confirm",
    summary="The app's first code turns TOTP on: recovery codes, shown once; other sessions are revoked",
    responses={
        **UNAUTHORIZED,
        **LIMITED,
        **refused("wrong_code"),
        409: {"description": "Not begun"},
    },
)
async def confirm_totp(
    body: CodeCheck, token: SessionToken, service: ServiceDep, now: Now
) -> RecoveryCodesView:
    command = commands.CheckCode(token, body.code, _ip(body.client_ip))
    codes = await accounts.confirm_totp(command, service.uow(), service.credentials, now)
    return RecoveryCodesView(recovery_codes=codes)


@people.post(
    "/sessions/current/recovery-codes",
    status_code=201,
    summary="New recovery codes, shown once (the earlier ones stop working); a second factor within 5 min",
    responses={
        **UNAUTHORIZED,
        **ENROLMENT,
        **refused("second_factor_required: step up first"),
        409: {"description": "TOTP is not on"},
    },
)
async def regenerate_recovery_codes(token: SessionToken, service: ServiceDep, now: Now) -> RecoveryCodesView:
    codes = await accounts.regenerate_recovery_codes(token, service.uow(), service.credentials, now)
    return RecoveryCodesView(recovery_codes=codes)


@people.post(
    "/sessions/current/email-verification",
    status_code=202,
    summary="E-mail the session's person a link that verifies the address",
    responses={**UNAUTHORIZED, **ENROLMENT, 409: {"description": "Verified already"}},
)
async def request_email_verification(token: SessionToken, service: ServiceDep, now: Now) -> Accepted:
    await accounts.request_email_verification(token, service.uow(), service.credentials, now)
    return Accepted()


@people.post(
    "/password-resets",
    status_code=202,
    summary="E-mail a reset link if the address has an account; the same answer whatever the address",
)
async def request_password_reset(body: ResetRequest, service: ServiceDep, now: Now) -> Accepted:
    await accounts.request_password_reset(body.email, service.uow(), service.credentials, now)
    return Accepted()


@people.post(
    "/links/redeem",
    summary="Use a one-time link: reset or set the password, or verify the address",
    responses={410: {"description": "link_invalid: unknown, used, expired or for another purpose"}},
)
async def redeem_link(body: RedeemRequest, service: ServiceDep, now: Now) -> RedeemedView:
    command = commands.RedeemLink(body.token, body.purpose, body.new_password)
    account = await accounts.redeem_link(command, service.uow(), service.credentials, now)
    return RedeemedView(account_id=account.id, email=account.email, purpose=body.purpose)


links = APIRouter(tags=["accounts"])


@links.post(
    "/accounts/{account_id}/links",
    status_code=201,
    summary="A one-time link for the account, issued now, for the e-mail that sends it",
    responses={404: {"description": "No such account"}},
)
async def issue_link(account_id: UUID, body: LinkRequest, service: ServiceDep, now: Now) -> LinkView:
    issued = await accounts.issue_link(account_id, body.purpose, service.uow(), service.credentials, now)
    return LinkView(
        account_id=account_id,
        email=issued.email,
        purpose=issued.link.purpose,
        token=issued.token,
        url=link_url(service, issued.link.purpose, issued.token),
        expires_at=issued.link.expires_at,
    )


def router(service: Service) -> APIRouter:
    """People's routes for the gateway; the link route for the notification service."""
    for_gateway = internal_router(service.settings, callers={"gateway"})
    for_gateway.include_router(people)
    for_notification = internal_router(service.settings, callers={"notification"})
    for_notification.include_router(links)
    return combined(for_gateway, for_notification)
