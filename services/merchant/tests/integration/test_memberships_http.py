"""A shop's members and the platform's staff, changed by people as far as their roles go: a shop keeps an
owner, the platform an admin; shop A's people using shop B's ids get the 404 of an unknown shop and change
nothing (every member route: the isolation walk of tests/unit/test_routes.py's SHOP_IN_PATH)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts import AccountLinkRequested
from faka_common.contracts.accounts import ShopRole
from merchant.bootstrap import Service

from .conftest import (
    Clock,
    acting,
    enrol_totp,
    open_account,
    outbox,
    query,
    session_of,
    signed_in_with_totp,
)


async def person(api: httpx.AsyncClient, service: Service, clock: Clock, email: str, **roles: Any) -> str:
    """A signed-in session of a new person holding `roles` (owners and staff with TOTP on, as they must)."""
    await open_account(service, email, **roles)
    token = await session_of(api, email)
    must_enrol = (await api.get("/internal/sessions/current", headers=acting(token))).json()
    if must_enrol["totp_enrolment_required"]:
        secret, _ = await enrol_totp(api, token, clock)
        token = await signed_in_with_totp(api, email, secret, clock)
    return token


async def members(api: httpx.AsyncClient, shop_id: UUID, token: str) -> dict[str, str]:
    response = await api.get(f"/internal/shops/{shop_id}/members", headers=acting(token))
    assert response.status_code == 200, response.text
    return {m["email"]: m["role"] for m in response.json()["items"]}


async def add(api: httpx.AsyncClient, shop_id: UUID, token: str, email: str, role: str) -> httpx.Response:
    body = {"email": email, "role": role}
    return await api.post(f"/internal/shops/{shop_id}/members", json=body, headers=acting(token))


async def change(
    api: httpx.AsyncClient, shop_id: UUID, account_id: object, token: str, role: str
) -> httpx.Response:
    path = f"/internal/shops/{shop_id}/members/{account_id}"
    return await api.patch(path, json={"role": role}, headers=acting(token))


async def account_of(api: httpx.AsyncClient, token: str) -> str:
    account_id: str = (await api.get("/internal/sessions/current", headers=acting(token))).json()[
        "account_id"
    ]
    return account_id


async def test_an_owner_adds_changes_and_removes_members_and_a_new_person_is_invited(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    owner = await person(api, service, clock, "owner@example.com", shops={shop: "owner"})
    await open_account(service, "known@example.com")
    added = await add(api, shop, owner, "known@example.com", "viewer")
    assert added.status_code == 201, added.text
    assert (added.json()["email"], added.json()["role"]) == ("known@example.com", "viewer")
    invited = await add(api, shop, owner, "New@Example.com", "operator")
    assert invited.status_code == 201, invited.text
    (invitation,) = [e.open() for e in await outbox(service) if e.type == "AccountLinkRequested"]
    assert isinstance(invitation, AccountLinkRequested)
    assert (invitation.account_id, invitation.purpose, invitation.shop_id) == (
        UUID(invited.json()["account_id"]),
        "account_setup",
        shop,
    )
    twice = await add(api, shop, owner, "known@example.com", "manager")
    assert twice.status_code == 409
    known = added.json()["account_id"]
    changed = await change(api, shop, known, owner, "manager")
    assert changed.status_code == 200 and changed.json()["role"] == "manager"
    assert await members(api, shop, owner) == {
        "known@example.com": "manager",
        "New@example.com": "operator",
        "owner@example.com": "owner",
    }
    removed = await api.delete(f"/internal/shops/{shop}/members/{known}", headers=acting(owner))
    assert removed.status_code == 204
    assert "known@example.com" not in await members(api, shop, owner)


@pytest.mark.parametrize(
    ("actor", "role", "allowed"),
    [
        ("manager", "operator", True),
        ("manager", "viewer", True),
        ("manager", "manager", False),
        ("manager", "owner", False),
        ("operator", "viewer", False),
        ("viewer", "viewer", False),
        ("support", "viewer", False),
    ],
)
async def test_who_may_add_which_member(
    api: httpx.AsyncClient,
    service: Service,
    clock: Clock,
    shops: tuple[UUID, UUID],
    actor: ShopRole,
    role: ShopRole,
    allowed: bool,
) -> None:
    shop, _ = shops
    token = await person(api, service, clock, "actor@example.com", shops={shop: actor})
    response = await add(api, shop, token, "new@example.com", role)
    assert response.status_code == (201 if allowed else 403), response.text
    if not allowed:
        assert response.json()["error"] == "not_allowed"
        assert await query(service, "SELECT id FROM accounts WHERE email = 'new@example.com'") == []


async def test_a_manager_neither_demotes_nor_removes_an_owner_and_a_platform_admin_may(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    owner_id = await open_account(service, "owner@example.com", shops={shop: "owner"})
    await open_account(service, "owner2@example.com", shops={shop: "owner"})
    manager = await person(api, service, clock, "manager@example.com", shops={shop: "manager"})
    path = f"/internal/shops/{shop}/members/{owner_id}"
    assert (await api.patch(path, json={"role": "viewer"}, headers=acting(manager))).status_code == 403
    assert (await api.delete(path, headers=acting(manager))).status_code == 403
    admin = await person(api, service, clock, "admin@example.com", platform_roles=("admin",))
    assert (await api.patch(path, json={"role": "viewer"}, headers=acting(admin))).status_code == 200


async def test_a_shop_always_keeps_an_owner(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    owner = await person(api, service, clock, "owner@example.com", shops={shop: "owner"})
    owner_id = await account_of(api, owner)
    path = f"/internal/shops/{shop}/members/{owner_id}"
    demoted = await api.patch(path, json={"role": "manager"}, headers=acting(owner))
    assert demoted.status_code == 409 and demoted.json()["error"] == "last_owner"
    assert (await api.delete(path, headers=acting(owner))).json()["error"] == "last_owner"
    assert await members(api, shop, owner) == {"owner@example.com": "owner"}


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    first = await person(api, service, clock, "first@example.com", shops={shop: "owner"})
    second = await person(api, service, clock, "second@example.com", shops={shop: "owner"})
    ids = [await account_of(api, first), await account_of(api, second)]
    answers = await asyncio.gather(
        change(api, shop, ids[1], first, "viewer"),
        change(api, shop, ids[0], second, "viewer"),
    )
    assert sorted(a.status_code for a in answers) in ([200, 403], [200, 409])
    owners = await query(service, "SELECT account_id FROM memberships WHERE role = 'owner'")
    assert len(owners) == 1


async def test_shop_a_people_using_shop_b_ids_get_404_and_change_nothing(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop_a, shop_b = shops
    owner_a = await person(api, service, clock, "owner-a@example.com", shops={shop_a: "owner"})
    owner_b = await person(api, service, clock, "owner-b@example.com", shops={shop_b: "owner"})
    member_b = await open_account(service, "member-b@example.com", shops={shop_b: "viewer"})
    before = await query(service, "SELECT * FROM memberships ORDER BY shop_id, account_id")
    attempts = [
        await api.get(f"/internal/shops/{shop_b}/members", headers=acting(owner_a)),
        await add(api, shop_b, owner_a, "x@example.com", "owner"),
        await change(api, shop_b, member_b, owner_a, "owner"),
        await api.delete(f"/internal/shops/{shop_b}/members/{member_b}", headers=acting(owner_a)),
    ]
    unknown_shop = [
        await api.get(f"/internal/shops/{uuid4()}/members", headers=acting(owner_a)),
        await api.delete(f"/internal/shops/{uuid4()}/members/{member_b}", headers=acting(owner_a)),
    ]
    assert [a.status_code for a in attempts + unknown_shop] == [404] * 6
    assert {a.json()["error"] for a in attempts + unknown_shop} == {"not_found"}
    assert await query(service, "SELECT * FROM memberships ORDER BY shop_id, account_id") == before
    assert await query(service, "SELECT id FROM accounts WHERE email = 'x@example.com'") == []
    member_of_a = await api.delete(f"/internal/shops/{shop_a}/members/{member_b}", headers=acting(owner_a))
    assert member_of_a.status_code == 404
    assert "member-b@example.com" in await members(api, shop_b, owner_b)


async def test_platform_staff_see_every_shops_members_and_support_changes_none(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    await open_account(service, "owner@example.com", shops={shop: "owner"})
    support = await person(api, service, clock, "support@example.com", platform_roles=("support",))
    assert await members(api, shop, support) == {"owner@example.com": "owner"}
    added = await add(api, shop, support, "x@example.com", "viewer")
    assert added.status_code == 403


async def test_platform_admins_grant_and_revoke_roles_and_the_last_admin_stays(
    api: httpx.AsyncClient, service: Service, clock: Clock
) -> None:
    admin = await person(api, service, clock, "admin@example.com", platform_roles=("admin",))
    admin_id = await account_of(api, admin)
    granted = await api.post(
        "/internal/platform/staff",
        json={"email": "helper@example.com", "role": "support"},
        headers=acting(admin),
    )
    assert granted.status_code == 201, granted.text
    helper_id = granted.json()["account_id"]
    assert granted.json()["platform_roles"] == ["support"]
    (invitation,) = [e.open() for e in await outbox(service) if e.type == "AccountLinkRequested"]
    assert isinstance(invitation, AccountLinkRequested) and str(invitation.account_id) == helper_id
    staff = (await api.get("/internal/platform/staff", headers=acting(admin))).json()["items"]
    assert [(s["email"], s["platform_roles"]) for s in staff] == [
        ("admin@example.com", ["admin"]),
        ("helper@example.com", ["support"]),
    ]
    last = await api.delete(f"/internal/platform/staff/{admin_id}/roles/admin", headers=acting(admin))
    assert last.status_code == 409 and last.json()["error"] == "last_platform_admin"
    not_held = await api.delete(f"/internal/platform/staff/{helper_id}/roles/admin", headers=acting(admin))
    assert not_held.status_code == 404
    revoked = await api.delete(f"/internal/platform/staff/{helper_id}/roles/support", headers=acting(admin))
    assert revoked.status_code == 204
    assert len((await api.get("/internal/platform/staff", headers=acting(admin))).json()["items"]) == 1


async def test_only_platform_admins_change_platform_roles(
    api: httpx.AsyncClient, service: Service, clock: Clock, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    owner = await person(api, service, clock, "owner@example.com", shops={shop: "owner"})
    support = await person(api, service, clock, "support@example.com", platform_roles=("support",))
    body = {"email": "owner@example.com", "role": "admin"}
    for token in (owner, support):
        refused = await api.post("/internal/platform/staff", json=body, headers=acting(token))
        assert refused.status_code == 403 and refused.json()["error"] == "not_allowed"
    assert (await api.get("/internal/platform/staff", headers=acting(owner))).status_code == 403
    assert await query(service, "SELECT role FROM platform_roles WHERE role = 'admin'") == []


async def test_member_and_staff_routes_need_a_live_session(
    api: httpx.AsyncClient, shops: tuple[UUID, UUID]
) -> None:
    shop, _ = shops
    answers = [
        await api.get(f"/internal/shops/{shop}/members"),
        await api.get(f"/internal/shops/{shop}/members", headers=acting("not-a-session")),
        await api.get("/internal/platform/staff"),
    ]
    assert [a.status_code for a in answers] == [401] * 3
