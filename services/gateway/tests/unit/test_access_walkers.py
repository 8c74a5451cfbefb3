"""The role walker and the audit walker: every admin and platform route of the gateway, called by every kind
of principal, is allowed or refused as the issue's role table says (anonymous always refused, another shop's
people a 404), and every write leaves exactly one audit entry naming who made it. A route added without a
permission fails the walker until it names one."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from gateway.adapters.principals import KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.domain.access import Principal
from gateway.domain.shops import Shop
from gateway.entrypoints.routers import edge_app

SHOP_A = Shop(uuid.uuid4(), "shop-a", "Shop A", "active")
SHOP_B = Shop(uuid.uuid4(), "shop-b", "Shop B", "active")
DEFAULT = Shop(DEFAULT_SHOP_ID, "default", "Default shop", "active")

READS = {"catalog:read", "pricing:read", "orders:read", "delivery:read", "tickets:read"}
#: The issue's role table, written out here on its own (not read from the code): which shop roles may use
#: each permission. Platform admins may use every one; platform support the reads, people and audit reads.
SHOP_ROLES = {
    "catalog:read": {"owner", "manager", "operator", "support", "viewer"},
    "pricing:read": {"owner", "manager", "operator", "support", "viewer"},
    "orders:read": {"owner", "manager", "operator", "support", "viewer"},
    "delivery:read": {"owner", "manager", "operator", "support", "viewer"},
    "catalog:write": {"owner", "manager"},
    "pricing:write": {"owner", "manager"},
    "keys:import": {"owner", "manager", "operator"},
    "keys:export": {"owner", "manager"},
    "keys:manage": {"owner", "manager", "operator"},
    "orders:write": {"owner", "manager", "operator"},
    "orders:refund": {"owner", "manager"},
    "delivery:write": {"owner", "manager", "operator"},
    "tickets:read": {"owner", "manager", "operator", "support", "viewer"},
    "tickets:write": {"owner", "manager", "operator", "support"},
    "suppliers:write": {"owner", "manager"},
    "suppliers:credentials": {"owner", "manager"},
    "payments:read": {"owner", "manager"},
    "payments:credentials": {"owner", "manager"},
    "notifications:read": {"owner", "manager"},
    "notifications:write": {"owner", "manager"},
    "people:read": {"owner", "manager"},
    "people:write": {"owner", "manager"},
    "tokens:write": {"owner", "manager"},
    "audit:read": {"owner", "manager"},
    "risk:read": {"owner", "manager", "operator", "support", "viewer"},
    "risk:write": {"owner", "manager"},
    "platform:read": set(),
    "platform:write": set(),
}
PLATFORM_SUPPORT = READS | {"people:read", "audit:read", "platform:read", "risk:read", "tickets:write"}
#: The token scope that grants each permission (None: no token may).
SCOPE_FOR = {
    "catalog:read": "catalog:read",
    "catalog:write": "catalog:write",
    "pricing:read": "pricing:read",
    "pricing:write": "pricing:write",
    "keys:import": "keys:import",
    "keys:export": "keys:export",
    "keys:manage": "keys:import",
    "orders:read": "orders:read",
    "orders:write": "orders:write",
    "orders:refund": "orders:write",
    "delivery:read": "delivery:read",
    "delivery:write": "delivery:write",
    "suppliers:write": "delivery:write",
    "suppliers:credentials": "delivery:write",
    "tickets:read": "delivery:read",
    "tickets:write": "delivery:write",
}
STEP_UP = {"keys:export", "keys:manage", "suppliers:credentials", "payments:credentials", "tokens:write"}
PATH_VALUES = {"order_no": "F1", "code": "SPRING10"}


def person(
    roles: dict[uuid.UUID, str] | None = None, *, platform: str | None = None, **extra: Any
) -> Principal:
    return Principal(
        kind="person",
        id=uuid.uuid4(),
        label=f"{uuid.uuid4().hex[:6]}@example.com",
        platform_roles=frozenset({platform} if platform else set()),
        memberships=dict(roles or {}),
        second_factor_at=extra.pop("second_factor_at", datetime.now(UTC)),
        session_id=uuid.uuid4(),
        **extra,
    )


def token(*scopes: str, shop: uuid.UUID = SHOP_A.id) -> Principal:
    token_id = uuid.uuid4()
    return Principal(
        kind="api_token",
        id=token_id,
        label=f"api token {token_id}",
        token_shop=shop,
        scopes=frozenset(scopes),
    )


PRINCIPALS: dict[str, Principal] = {
    **{f"{role} of A": person({SHOP_A.id: role}) for role in SHOP_ROLES["catalog:read"]},
    "owner of B": person({SHOP_B.id: "owner"}),
    "platform admin": person(platform="admin"),
    "platform support": person(platform="support"),
    "owner of A, second factor 6 min ago": person(
        {SHOP_A.id: "owner"}, second_factor_at=datetime.now(UTC) - timedelta(minutes=6)
    ),
    "owner of A without TOTP": person({SHOP_A.id: "owner"}, totp_enrolment_required=True),
    **{f"token of A with {scope}": token(scope) for scope in sorted(set(SCOPE_FOR.values()))},
    "token of B with every scope": token(*set(SCOPE_FOR.values()), shop=SHOP_B.id),
}


IMPORTED_AT = datetime.now(UTC)


@pytest.fixture(autouse=True)
def second_factors_as_old_at_each_test_as_at_import() -> None:
    """Each principal's second factor is as old when a test runs as it was when this module was imported:
    the suite is collected long before the gateway's tests run (more than the 5 minutes a step-up lasts,
    once the other services' tests ran first), and a stale step-up would turn every key export into 403."""
    global IMPORTED_AT
    shift = datetime.now(UTC) - IMPORTED_AT
    for name, principal in PRINCIPALS.items():
        if principal.second_factor_at is not None:
            PRINCIPALS[name] = replace(principal, second_factor_at=principal.second_factor_at + shift)
    IMPORTED_AT += shift


def secret_of(name: str) -> str:
    """The secret that opens the principal of that name."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def credentials(name: str) -> dict[str, str]:
    """How the principal of that name calls: a person with the console's cookies (and the CSRF token every
    write echoes), a token in Authorization."""
    secret = secret_of(name)
    if PRINCIPALS[name].kind == "api_token":
        return {"Authorization": f"Bearer {secret}"}
    return {"Cookie": f"faka_session={secret}; faka_csrf=c", "X-CSRF-Token": "c"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    permission: str

    def url(self) -> str:
        def value(match: re.Match[str]) -> str:
            return PATH_VALUES.get(match.group(1), str(uuid.UUID(int=7)))

        return re.sub(r"\{([a-z_]+)\}", value, self.path)


def _permission(dependant: Dependant) -> str | None:
    for dependency in dependant.dependencies:
        found = getattr(dependency.call, "permission", None) or _permission(dependency)
        if found:
            return str(found)
    return None


def admin_routes(gateway: Gateway) -> list[Route]:
    """Every /api/admin and /api/platform route with the permission its `requires` names ("" for none)."""
    routes = []
    for context in iter_route_contexts(edge_app(gateway).routes):
        path = str(context.path)
        if not path.startswith(("/api/admin", "/api/platform")):
            continue
        dependant = getattr(context, "dependant", None)
        permission = _permission(dependant) if isinstance(dependant, Dependant) else None
        for method in sorted(set(context.methods or ()) - {"HEAD"}):
            routes.append(Route(method, path, permission or ""))
    return routes


@dataclass
class Owners:
    """Every owner (and merchant) at once: answers 200 {} to anything, keeps the audit entries."""

    audit: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/audit-entries":
            self.audit.append(json.loads(request.content))
            return httpx.Response(201, json={})
        self.calls.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"items": []})


class FakeOwner(InternalClient):
    def __init__(self, owners: Owners) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(base_url="http://owner.test", transport=httpx.MockTransport(owners))


@pytest.fixture
async def walked() -> AsyncIterator[tuple[Gateway, Owners]]:
    owners = Owners()
    secrets = {secret_of(name): principal for name, principal in PRINCIPALS.items()}
    gateway = build_gateway(
        Settings(
            lookup_limit_storage_url="memory://",
            kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}",
            inventory_url="http://127.0.0.1:9",  # key exports stream from it: nobody answers there
        ),
        **{
            role: FakeOwner(owners)
            for role in ("order", "inventory", "delivery", "notification", "merchant", "risk")
        },
        shops=KnownShops([DEFAULT, SHOP_A, SHOP_B]),
        principals=KnownPrincipals(secrets),
    )
    yield gateway, owners
    await gateway.aclose()


def client(gateway: Gateway) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=edge_app(gateway), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


def expected(name: str, principal: Principal, permission: str) -> int | None:
    """None: allowed; else the status the table says (401, 403 or 404)."""
    platform = permission.startswith("platform:")
    if principal.totp_enrolment_required:
        return 403
    if principal.kind == "api_token":
        if platform:
            return 403
        if principal.token_shop != SHOP_A.id:
            return 404
        return None if SCOPE_FOR.get(permission) in principal.scopes else 403
    if "admin" in principal.platform_roles:
        return None
    if "support" in principal.platform_roles:
        return None if permission in PLATFORM_SUPPORT else 403
    if platform:
        return 403
    role = principal.memberships.get(SHOP_A.id)
    if role is None:
        return 404
    if role not in SHOP_ROLES[permission]:
        return 403
    if permission in STEP_UP and "6 min" in name:
        return 403
    return None


async def test_every_admin_and_platform_route_names_a_permission_of_the_table(
    walked: tuple[Gateway, Owners],
) -> None:
    routes = admin_routes(walked[0])
    assert len(routes) > 40
    unnamed = [f"{r.method} {r.path}" for r in routes if not r.permission]
    assert not unnamed, f"routes without a permission (add requires(gw, ...)): {unnamed}"
    assert {r.permission for r in routes} <= set(SHOP_ROLES)


async def test_every_route_allows_or_refuses_every_principal_as_the_role_table_says(
    walked: tuple[Gateway, Owners],
) -> None:
    gateway, _ = walked
    wrong: list[str] = []
    async with client(gateway) as http:
        for route in admin_routes(gateway):
            shop = {} if route.permission.startswith("platform:") else {"X-Shop-Id": str(SHOP_A.id)}
            anonymous = await http.request(route.method, route.url(), headers=shop)
            if anonymous.status_code != 401:
                wrong.append(f"{route.method} {route.path} anonymous: {anonymous.status_code}")
            for name, principal in PRINCIPALS.items():
                headers = {**shop, **credentials(name)}
                answer = await http.request(route.method, route.url(), headers=headers)
                want = expected(name, principal, route.permission)
                refused = answer.status_code in (401, 403) or (
                    answer.status_code == 404 and answer.json().get("message", "").startswith("no shop")
                )
                got = answer.status_code if refused else None
                if got != want:
                    wrong.append(
                        f"{route.method} {route.path} {name}: {answer.status_code} {answer.text[:120]}"
                    )
    assert not wrong, "\n".join(wrong)


async def test_an_api_token_acts_for_its_own_shop_without_x_shop_id_and_never_for_another(
    walked: tuple[Gateway, Owners],
) -> None:
    gateway, owners = walked
    async with client(gateway) as http:
        reader = {"Authorization": f"Bearer {secret_of('token of A with catalog:read')}"}
        own = await http.get("/api/admin/products", headers=reader)
        other = await http.get("/api/admin/products", headers={**reader, "X-Shop-Id": str(SHOP_B.id)})
    assert own.status_code == 200, own.text
    assert other.status_code == 404 and other.json()["error"] == "not_found"
    assert owners.calls == ["GET /internal/products"]


async def test_every_write_leaves_exactly_one_audit_entry_naming_its_actor_and_its_outcome(
    walked: tuple[Gateway, Owners],
) -> None:
    gateway, owners = walked
    admin = PRINCIPALS["platform admin"]
    async with client(gateway) as http:
        for route in admin_routes(gateway):
            owners.audit.clear()
            shop = {} if route.permission.startswith("platform:") else {"X-Shop-Id": str(SHOP_A.id)}
            headers = {**shop, **credentials("platform admin"), "User-Agent": "walker/1"}
            answer = await http.request(route.method, route.url(), headers=headers, json={"secret": "s3cr3t"})
            audited = route.method != "GET" or route.permission == "keys:export"
            assert len(owners.audit) == (1 if audited else 0), f"{route.method} {route.path}: {owners.audit}"
            if not audited:
                continue
            entry = owners.audit[0]
            assert entry["actor_id"] == str(admin.id) and entry["actor_label"] == admin.label
            assert entry["outcome"] == answer.status_code
            assert entry["shop_id"] == (None if route.permission.startswith("platform:") else str(SHOP_A.id))
            assert entry["user_agent"] == "walker/1"
            assert "s3cr3t" not in str(entry), "a value sent must never reach the audit trail"


async def test_a_refused_write_is_audited_with_its_refusal_and_an_anonymous_one_is_not(
    walked: tuple[Gateway, Owners],
) -> None:
    gateway, owners = walked
    async with client(gateway) as http:
        refused = await http.post(
            "/api/admin/products",
            headers={**credentials("viewer of A"), "X-Shop-Id": str(SHOP_A.id)},
            json={"title": "x", "price": 1},
        )
        anonymous = await http.post("/api/admin/products", json={"title": "x", "price": 1})
    assert refused.status_code == 403 and refused.json()["error"] == "not_allowed"
    assert anonymous.status_code == 401
    assert [(e["action"], e["outcome"], e["actor_label"]) for e in owners.audit] == [
        ("create_product", 403, PRINCIPALS["viewer of A"].label)
    ]
    assert "/internal/products" not in " ".join(owners.calls)
