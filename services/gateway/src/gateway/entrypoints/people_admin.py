"""A shop's people and API tokens, the platform's staff, and the audit trail: merchant's routes, acting as
the signed-in person (the console session's token goes on as X-Session-Token; merchant checks the role
again and answers 404 for a shop that is none of the person's). An API token opens none of these routes.
Bodies are as strict as merchant's, so what passes here passes there."""

from __future__ import annotations

from typing import Annotated, Any, get_args
from uuid import UUID

from faka_common.contracts.accounts import ApiTokenScope, PlatformRole, ShopRole
from faka_common.errors import Unauthorized
from faka_common.fields import NonBlankLine
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from gateway.adapters.owners import json_body
from gateway.adapters.principals import SESSION_HEADER
from gateway.bootstrap import Gateway
from gateway.entrypoints.access import SESSION_COOKIE, admin_api, platform_api, requires
from gateway.entrypoints.console_auth import Email
from gateway.entrypoints.requests import PRIVATE

MAX_TOKEN_NAME = 100
#: A filter as merchant takes it: one printable line.
Filter = Annotated[NonBlankLine, StringConstraints(max_length=256)]


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: ShopRole


class NewRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ShopRole


class NewStaff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: PlatformRole


class NewApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        NonBlankLine, StringConstraints(max_length=MAX_TOKEN_NAME), Field(examples=["stock sync"])
    ]
    scopes: list[ApiTokenScope] = Field(min_length=1, max_length=len(get_args(ApiTokenScope)))
    expires_at: AwareDatetime | None = Field(default=None, description="Never, without; in the future")


class AuditFilters(BaseModel):
    """A search of the audit trail as merchant takes it (one model for the shop's and the platform's)."""

    actor_id: UUID | None = None
    action: Filter | None = Field(default=None, examples=["create_product"])
    target: Filter | None = Field(default=None, examples=["product_id=…"])
    since: AwareDatetime | None = Field(default=None, description="From (inclusive)")
    until: AwareDatetime | None = Field(default=None, description="Before (exclusive)")
    limit: int = Field(default=50, ge=1, le=200)
    before: str | None = Field(default=None, max_length=200, description="The last page's `next`")


class PlatformAuditFilters(AuditFilters):
    shop_id: UUID | None = Field(default=None, description="Only this shop's entries")


def _session(request: Request) -> dict[str, str]:
    """The person's session, for merchant (these routes are a person's: a token has no permission here)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("these routes act as a person signed in to the console")
    return {SESSION_HEADER: token}


def _shop(request: Request) -> str:
    return str(request.state.shop.id)


def people_admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin: people"])
    platform = platform_api(gw)

    async def call(request: Request, method: str, path: str, status: int = 200, **kwargs: Any) -> Response:
        response = await gw.merchant.request(method, path, headers=_session(request), **kwargs)
        if response.status_code == 204:
            return Response(status_code=204)
        return JSONResponse(json_body(response), status_code=status, headers=PRIVATE)

    @api.get(
        "/members", summary="The shop's members and their roles", dependencies=[requires(gw, "people:read")]
    )
    async def list_members(request: Request) -> Response:
        return await call(request, "GET", f"/internal/shops/{_shop(request)}/members")

    @api.post(
        "/members",
        status_code=201,
        summary="Make a person a member (a new person gets a set-up link by e-mail); 409 when already one",
        dependencies=[requires(gw, "people:write")],
    )
    async def add_member(body: NewMember, request: Request) -> Response:
        path = f"/internal/shops/{_shop(request)}/members"
        return await call(request, "POST", path, 201, json=body.model_dump())

    @api.patch(
        "/members/{account_id}",
        summary="Give a member another role (409 last_owner: the shop's only owner)",
        dependencies=[requires(gw, "people:write")],
    )
    async def change_member(account_id: UUID, body: NewRole, request: Request) -> Response:
        path = f"/internal/shops/{_shop(request)}/members/{account_id}"
        return await call(request, "PATCH", path, json=body.model_dump())

    @api.delete(
        "/members/{account_id}",
        status_code=204,
        summary="Take a member out of the shop (409 last_owner)",
        dependencies=[requires(gw, "people:write")],
    )
    async def remove_member(account_id: UUID, request: Request) -> Response:
        return await call(request, "DELETE", f"/internal/shops/{_shop(request)}/members/{account_id}")

    @api.get(
        "/api-tokens",
        summary="The shop's API tokens (names, scopes, last use; never the tokens)",
        dependencies=[requires(gw, "people:read")],
    )
    async def list_api_tokens(request: Request) -> Response:
        return await call(request, "GET", f"/internal/shops/{_shop(request)}/api-tokens")

    @api.post(
        "/api-tokens",
        status_code=201,
        summary="Make an API token for scripts: the token is in this answer only (send it as "
        "Authorization: Bearer); a second factor within the last 5 minutes",
        dependencies=[requires(gw, "tokens:write")],
    )
    async def issue_api_token(body: NewApiToken, request: Request) -> Response:
        path = f"/internal/shops/{_shop(request)}/api-tokens"
        return await call(request, "POST", path, 201, json=body.model_dump(mode="json"))

    @api.delete(
        "/api-tokens/{token_id}",
        status_code=204,
        summary="Revoke an API token (within the principal cache's few seconds everywhere)",
        dependencies=[requires(gw, "tokens:write")],
    )
    async def revoke_api_token(token_id: UUID, request: Request) -> Response:
        return await call(request, "DELETE", f"/internal/shops/{_shop(request)}/api-tokens/{token_id}")

    async def search(filters: AuditFilters, shop_id: UUID | None) -> Response:
        params = filters.model_dump(mode="json", exclude_none=True)
        if shop_id is not None:
            params["shop_id"] = str(shop_id)
        response = await gw.merchant.request("GET", "/internal/audit-entries", params=params)
        return JSONResponse(json_body(response), headers=PRIVATE)

    @api.get(
        "/audit",
        summary="The shop's audit trail, newest first: who changed what, when, from where, with what outcome",
        dependencies=[requires(gw, "audit:read")],
    )
    async def shop_audit(request: Request, filters: Annotated[AuditFilters, Query()]) -> Response:
        return await search(filters, request.state.shop.id)

    @platform.get(
        "/audit",
        summary="The whole platform's audit trail (every shop's and the platform's own), newest first",
        dependencies=[requires(gw, "platform:read")],
    )
    async def platform_audit(filters: Annotated[PlatformAuditFilters, Query()]) -> Response:
        return await search(filters, filters.shop_id)

    @platform.get("/staff", summary="The platform's staff", dependencies=[requires(gw, "platform:read")])
    async def list_staff(request: Request) -> Response:
        return await call(request, "GET", "/internal/platform/staff")

    @platform.post(
        "/staff",
        status_code=201,
        summary="Give a person a platform role (a new person gets a set-up link by e-mail)",
        dependencies=[requires(gw, "platform:write")],
    )
    async def grant_platform_role(body: NewStaff, request: Request) -> Response:
        return await call(request, "POST", "/internal/platform/staff", 201, json=body.model_dump())

    @platform.delete(
        "/staff/{account_id}/roles/{role}",
        status_code=204,
        summary="Take a platform role away (409 last_platform_admin)",
        dependencies=[requires(gw, "platform:write")],
    )
    async def revoke_platform_role(account_id: UUID, role: PlatformRole, request: Request) -> Response:
        return await call(request, "DELETE", f"/internal/platform/staff/{account_id}/roles/{role}")

    router = APIRouter()
    router.include_router(api)
    router.include_router(platform)
    return router
