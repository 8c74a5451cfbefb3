"""Merchant internal HTTP API: a shop's members and the platform's staff (docs/internal-api.md, merchant
section). Each request acts as the person of its X-Session-Token, as far as that person's role goes; a shop
the person has nothing to do with answers 404, as an unknown shop. The shop is the one the path names."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from faka_common.contracts.accounts import PlatformRole, ShopRole
from faka_common.http import internal_router
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from merchant.bootstrap import Service
from merchant.domain import commands
from merchant.domain.accounts import Account, Member
from merchant.entrypoints.accounts import Email
from merchant.entrypoints.deps import Now, ServiceDep, SessionToken, refused
from merchant.service_layer import memberships


class MemberView(BaseModel):
    shop_id: UUID
    account_id: UUID
    email: str
    role: ShopRole
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Member) -> Self:
        m = member.membership
        return cls(
            shop_id=m.shop_id,
            account_id=m.account_id,
            email=member.email,
            role=m.role,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )


class Members(BaseModel):
    items: list[MemberView]


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: ShopRole


class NewRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ShopRole


class StaffView(BaseModel):
    account_id: UUID
    email: str
    platform_roles: list[PlatformRole]
    totp_enabled: bool

    @classmethod
    def of(cls, account: Account, roles: tuple[PlatformRole, ...]) -> Self:
        return cls(
            account_id=account.id,
            email=account.email,
            platform_roles=list(roles),
            totp_enabled=account.totp_enabled,
        )


class Staff(BaseModel):
    items: list[StaffView]


class NewStaff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: PlatformRole


ACTING: dict[int | str, dict[str, Any]] = {
    401: {"description": "No live session (session_invalid)"},
    **refused("not_allowed: the acting person's role does not reach so far; or totp_enrolment_required"),
}
IN_SHOP: dict[int | str, dict[str, Any]] = {
    **ACTING,
    404: {"description": "No such shop (or none of the acting person's), or no such member"},
}

api = APIRouter(tags=["people"])


@api.get("/shops/{shop_id}/members", summary="A shop's members", responses=IN_SHOP)
async def list_members(shop_id: UUID, token: SessionToken, service: ServiceDep, now: Now) -> Members:
    found = await memberships.list_members(token, shop_id, service.uow(), service.credentials, now)
    return Members(items=[MemberView.of(member) for member in found])


@api.post(
    "/shops/{shop_id}/members",
    status_code=201,
    summary="Make a person a member (a new person gets an account and a set-up link by e-mail)",
    responses={**IN_SHOP, 409: {"description": "A member already"}},
)
async def add_member(
    shop_id: UUID, body: NewMember, token: SessionToken, service: ServiceDep, now: Now
) -> MemberView:
    command = commands.AddMember(token, shop_id, body.email, body.role)
    return MemberView.of(await memberships.add_member(command, service.uow(), service.credentials, now))


@api.patch(
    "/shops/{shop_id}/members/{account_id}",
    summary="Give a member another role",
    responses={**IN_SHOP, 409: {"description": "last_owner: the shop's only owner"}},
)
async def change_member(
    shop_id: UUID, account_id: UUID, body: NewRole, token: SessionToken, service: ServiceDep, now: Now
) -> MemberView:
    command = commands.ChangeMember(token, shop_id, account_id, body.role)
    return MemberView.of(await memberships.change_member(command, service.uow(), service.credentials, now))


@api.delete(
    "/shops/{shop_id}/members/{account_id}",
    status_code=204,
    summary="Take a member out of the shop",
    responses={**IN_SHOP, 409: {"description": "last_owner: the shop's only owner"}},
)
async def remove_member(
    shop_id: UUID, account_id: UUID, token: SessionToken, service: ServiceDep, now: Now
) -> Response:
    await memberships.remove_member(token, shop_id, account_id, service.uow(), service.credentials, now)
    return Response(status_code=204)


@api.get("/platform/staff", summary="The platform's staff (for its staff)", responses=ACTING)
async def list_staff(token: SessionToken, service: ServiceDep, now: Now) -> Staff:
    staff = await memberships.list_staff(token, service.uow(), service.credentials, now)
    return Staff(items=[StaffView.of(account, roles) for account, roles in staff])


@api.post(
    "/platform/staff",
    status_code=201,
    summary="Give a person a platform role (a new person gets an account and a set-up link by e-mail)",
    responses=ACTING,
)
async def grant_platform_role(
    body: NewStaff, token: SessionToken, service: ServiceDep, now: Now
) -> StaffView:
    command = commands.GrantPlatformRole(token, body.email, body.role)
    return StaffView.of(
        *await memberships.grant_platform_role(command, service.uow(), service.credentials, now)
    )


@api.delete(
    "/platform/staff/{account_id}/roles/{role}",
    status_code=204,
    summary="Take a platform role away",
    responses={
        **ACTING,
        404: {"description": "The account does not hold the role"},
        409: {"description": "last_platform_admin"},
    },
)
async def revoke_platform_role(
    account_id: UUID, role: PlatformRole, token: SessionToken, service: ServiceDep, now: Now
) -> Response:
    await memberships.revoke_platform_role(token, account_id, role, service.uow(), service.credentials, now)
    return Response(status_code=204)


def router(service: Service) -> APIRouter:
    internal = internal_router(service.settings, callers={"gateway"})
    internal.include_router(api)
    return internal
