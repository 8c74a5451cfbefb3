"""Merchant internal HTTP API: a shop's API tokens (docs/internal-api.md, merchant section). Making, listing
and revoking act as the person of X-Session-Token (the shop's owners and managers; another shop: 404, as an
unknown one); resolving is the gateway's, for a script that calls with a token (in X-Api-Token, never in a
URL or a body)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self
from uuid import UUID

from faka_common.fields import NonBlankLine
from faka_common.http import internal_router
from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from merchant.bootstrap import Service
from merchant.domain.api_tokens import MAX_NAME, SCOPES, ApiToken, ApiTokenInvalid, IssueApiToken, Scope
from merchant.entrypoints.deps import Now, ServiceDep, SessionToken, UtcTime, refused
from merchant.service_layer import api_tokens

API_TOKEN_HEADER = "X-Api-Token"
MAX_TOKEN = 128


class ApiTokenView(BaseModel):
    token_id: UUID
    shop_id: UUID
    name: str
    scopes: list[Scope]
    created_by: UUID
    created_at: datetime
    last_used_at: datetime | None = Field(description="Written at most once a minute")
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> Self:
        return cls(token_id=token.id, **{k: v for k, v in vars(token).items() if k != "id"})


class NewApiTokenView(ApiTokenView):
    token: str = Field(description="The token, shown this once: only its SHA-256 is kept")


class ApiTokens(BaseModel):
    items: list[ApiTokenView]


class NewApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[NonBlankLine, StringConstraints(max_length=MAX_NAME), Field(examples=["stock sync"])]
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES), description=f"Of {', '.join(SCOPES)}")
    expires_at: UtcTime | None = Field(default=None, description="Never, without; in the future")


class ResolvedApiToken(BaseModel):
    token_id: UUID
    shop_id: UUID
    scopes: list[Scope]


IN_SHOP: dict[int | str, dict[str, Any]] = {
    401: {"description": "No live session (session_invalid)"},
    **refused("not_allowed (below manager in the shop), totp_enrolment_required, or second_factor_required"),
    404: {"description": "No such shop (or none of the acting person's), or no such token of the shop"},
}


async def _api_token(
    x_api_token: Annotated[str | None, Header(description="The API token (faka_...)")] = None,
) -> str:
    """The token of the request; none, or one too long to be one, is the 401 of an unknown token (a
    validation answer would echo it)."""
    if not x_api_token or len(x_api_token) > MAX_TOKEN:
        raise ApiTokenInvalid()
    return x_api_token


ApiTokenSecret = Annotated[str, Depends(_api_token)]

api = APIRouter(tags=["api tokens"])


@api.post(
    "/shops/{shop_id}/api-tokens",
    status_code=201,
    summary="Make an API token (answered once; a second factor within the last 5 minutes)",
    responses=IN_SHOP,
)
async def issue_api_token(
    shop_id: UUID, body: NewApiToken, token: SessionToken, service: ServiceDep, now: Now
) -> NewApiTokenView:
    command = IssueApiToken(token, shop_id, body.name, tuple(body.scopes), body.expires_at)
    made, secret = await api_tokens.issue(command, service.uow(), service.credentials, now)
    return NewApiTokenView(**ApiTokenView.of(made).model_dump(), token=secret)


@api.get("/shops/{shop_id}/api-tokens", summary="A shop's API tokens (never the tokens)", responses=IN_SHOP)
async def list_api_tokens(shop_id: UUID, token: SessionToken, service: ServiceDep, now: Now) -> ApiTokens:
    found = await api_tokens.list_tokens(token, shop_id, service.uow(), service.credentials, now)
    return ApiTokens(items=[ApiTokenView.of(t) for t in found])


@api.delete(
    "/shops/{shop_id}/api-tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token",
    responses=IN_SHOP,
)
async def revoke_api_token(
    shop_id: UUID, token_id: UUID, token: SessionToken, service: ServiceDep, now: Now
) -> Response:
    await api_tokens.revoke(token, shop_id, token_id, service.uow(), service.credentials, now)
    return Response(status_code=204)


@api.post(
    "/api-tokens/resolve",
    summary="The shop and scopes of the API token in X-Api-Token",
    responses={
        401: {"description": "api_token_invalid: unknown, revoked or expired (one answer)"},
        **refused("nothing else"),
    },
)
async def resolve_api_token(secret: ApiTokenSecret, service: ServiceDep, now: Now) -> ResolvedApiToken:
    found = await api_tokens.resolve(secret, service.uow(), now)
    return ResolvedApiToken(token_id=found.id, shop_id=found.shop_id, scopes=list(found.scopes))


def router(service: Service) -> APIRouter:
    internal = internal_router(service.settings, callers={"gateway"})
    internal.include_router(api)
    return internal
