"""Who may call an admin or platform route, and the audit trail of what they did.

A request acts as a person signed in to the console (the `faka_session` cookie; every write also proves it
comes from the console: same site, and X-CSRF-Token echoing the `faka_csrf` cookie) or as a shop's API
token (`Authorization: Bearer faka_...`, for scripts). Merchant says who the secret opens (cached briefly,
see `adapters/principals.py`); failed attempts are counted per client address, and a full window is a 429
before merchant is asked. Every route names the permission it needs (`requires`; the table is
`domain/access.py`); a shop route acts for X-Shop-Id, else the token's own shop, else the path's or host's
shop, and a shop the principal has no part in is a 404 as an unknown one.

Every state-changing request (and every key export) that got past authentication leaves one audit entry at
merchant, with its outcome: who, which shop, what (the route), on what (its path parameters), from where,
and the names of the fields it sent (never their values: they can be secrets or keys)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from faka_common.errors import DomainError, Unauthorized, Unavailable
from faka_common.fields import LINE_REFUSES
from faka_common.rate_limits import RateLimited, Window
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItemPerMinute
from prometheus_client import Counter
from pydantic import WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.adapters.owners import ServedShop, served_shop
from gateway.adapters.principals import SecretKind
from gateway.bootstrap import Gateway
from gateway.domain.access import Permission, Principal
from gateway.domain.client_address import client_address
from gateway.entrypoints.responses import ADMIN, ErrorBody
from gateway.entrypoints.shops import shop_of_request
from gateway.service_layer.rate_limits import lookup_limits, namespace

log = logging.getLogger(__name__)

SESSION_COOKIE = "faka_session"
CSRF_COOKIE = "faka_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: What merchant's secrets look like (session tokens: token_urlsafe; API tokens: faka_ + token_urlsafe).
SECRET = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_USER_AGENT = 512
UNPRINTABLE = re.compile(f"[{LINE_REFUSES}\\ud800-\\udfff]")
#: Reads that leave an audit entry all the same: what the issue calls "who exported the keys".
AUDITED_READS: frozenset[Permission] = frozenset({"keys:export"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

UNRECORDED = Counter(
    "faka_audit_unrecorded_total", "Audit entries merchant could not take (logged at ERROR instead)"
)

bearer = HTTPBearer(
    auto_error=False,
    description="A shop's API token (faka_...), for scripts: made in the console, shown once",
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The console session (set by sign-in)"
)

ACCESS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No console session or API token, or one that opens nothing"},
    403: {
        "model": ErrorBody,
        "description": "not_allowed (the role or the token's scopes lack the permission), "
        "second_factor_required (step up first), totp_enrolment_required, or csrf_refused",
    },
    429: {"model": ErrorBody, "description": "Too many failed sign-ins from this address: Retry-After"},
}


class CsrfRefused(DomainError):
    status_code = 403
    code = "csrf_refused"


def is_cross_site(request: Request, gw: Gateway) -> bool:
    """Whether the request's Origin or Sec-Fetch-Site says another site's page sent it."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = {request.headers.get("host", ""), urlsplit(gw.settings.base_url).netloc}
    return urlsplit(origin).netloc not in own


def check_csrf(request: Request, gw: Gateway, presented: str | None) -> None:
    """A write made with the session cookie: from the console's own pages, echoing the CSRF cookie."""
    if is_cross_site(request, gw):
        raise CsrfRefused("cross-site request refused: the console takes writes from its own pages only")
    check_double_submit(request, presented)


def check_double_submit(request: Request, presented: str | None) -> None:
    """X-CSRF-Token echoes the faka_csrf cookie (which only the console's own pages can read)."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not presented or not expected:
        raise CsrfRefused(f"CSRF check failed: send the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRefused(f"CSRF check failed: {CSRF_HEADER} does not match the {CSRF_COOKIE} cookie")


def client_ip(gw: Gateway, request: Request) -> str | None:
    """The client's address: the socket peer, or what trusted proxies say in X-Forwarded-For."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), gw.settings.trusted_proxies)


def known_address(gw: Gateway, request: Request) -> str | None:
    """The client's address when it is an IP address (a test client's or a unix socket's peer is none)."""
    address = client_ip(gw, request)
    try:
        return None if address is None else str(ip_address(address))
    except ValueError:
        return None


def user_agent(request: Request) -> str:
    return UNPRINTABLE.sub("", request.headers.get("user-agent", ""))[:MAX_USER_AGENT]


def actor_label(request: Request) -> str:
    """Who is acting (a person's or a token's label), as a changed record names them."""
    principal: Principal = request.state.principal
    return principal.label[:254]


def failure_windows(gw: Gateway, request: Request, kind: str = "admin-auth") -> list[Window]:
    """The client address's window of failed secret checks of `kind` (none when the address is unknown)."""
    address = known_address(gw, request)
    if address is None:
        return []
    item = RateLimitItemPerMinute(gw.settings.admin_auth_failures_per_ip_per_minute)
    return [Window(item, (*namespace(gw.settings), kind, address), "your address", "failed secret checks")]


async def admit(gw: Gateway, request: Request, kind: SecretKind, secret: str) -> list[Window]:
    """The client's windows of failed secret checks, once they let `secret` through: while they are full, a
    secret the principal cache already holds still passes and any other is refused (429) before merchant is
    asked. Count a failure in what this returns when merchant then refuses the secret."""
    windows = failure_windows(gw, request)
    refusal: RateLimited | None = await lookup_limits(gw).full(windows) if windows else None
    if refusal is not None and await gw.principals.cached(kind, secret) is None:
        raise refusal
    return windows


async def authenticate(gw: Gateway, request: Request, kind: SecretKind, secret: str) -> Principal:
    """The principal the secret opens. Only failures count against the client's window (see `admit`)."""
    if not SECRET.fullmatch(secret):
        raise Unauthorized("that is not a console session or an API token")
    windows = await admit(gw, request, kind, secret)
    try:
        return await gw.principals.resolve(kind, secret)
    except Unauthorized:
        await lookup_limits(gw).count(windows)
        raise


def requires(gw: Gateway, permission: Permission) -> Any:
    """A dependency: the request's principal, allowed `permission` in the shop it acts for, or, for a
    platform:* permission, on the platform's own routes. The role walker reads `permission` off it."""
    shop = not permission.startswith("platform:")

    async def check(
        request: Request,
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        _cookie: Annotated[str | None, Depends(session_cookie)],
        x_csrf_token: Annotated[
            str | None,
            Header(description="With the console session, on every write: the faka_csrf cookie's value"),
        ] = None,
        x_shop_id: Annotated[
            UUID | None,
            Header(description="The shop to act for; default: the API token's, else the path's or host's"),
            WithJsonSchema({"type": "string", "format": "uuid"}),
        ] = None,
    ) -> Principal:
        if token is not None:
            principal = await authenticate(gw, request, "api_token", token.credentials)
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            if not cookie:
                raise Unauthorized(
                    "sign in to the console, or send a shop's API token in Authorization: Bearer"
                )
            if request.method not in ("GET", "HEAD"):
                check_csrf(request, gw, x_csrf_token)
            principal = await authenticate(gw, request, "session", cookie)
        request.state.principal = principal
        request.state.permission = permission
        now = datetime.now(UTC)
        if not shop:
            request.state.audit_shop = None
            principal.check(permission, None, now)
            return principal
        shop_id = x_shop_id or principal.home_shop()
        if shop_id is None:
            found, named = await shop_of_request(gw, request)
            shop_id = found.id
        # a refusal is in the shop's trail when the shop is the principal's, else in the platform's
        request.state.audit_shop = shop_id if principal.sees(shop_id) else None
        principal.check(permission, shop_id, now)  # before a named shop is looked up: no probing
        if x_shop_id is not None or principal.home_shop() is not None:
            found, named = await gw.shops.by_id(shop_id), True
        served_shop.set(ServedShop(found.id, named))
        request.state.shop = found
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def admin_api(gw: Gateway, **kwargs: Any) -> APIRouter:
    """A router of a shop's admin routes (/api/admin): each names its permission with `requires`."""
    return APIRouter(
        prefix="/api/admin", responses={**ADMIN, **ACCESS}, route_class=audited_routes(gw), **kwargs
    )


def platform_api(gw: Gateway, prefix: str = "/api/platform", **kwargs: Any) -> APIRouter:
    """A router of the platform's own routes: each names a platform:* permission with `requires`."""
    return APIRouter(
        prefix=prefix,
        tags=["platform"],
        responses={**ADMIN, **ACCESS},
        route_class=audited_routes(gw),
        **kwargs,
    )


def _status_of(error: Exception) -> int:
    if isinstance(error, DomainError | StarletteHTTPException):
        return int(error.status_code)
    if isinstance(error, RequestValidationError):
        return 422
    return 500


async def _fields_sent(request: Request) -> str:
    """The names of the JSON body's top-level fields (never their values), or what kind of body it was."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media:
        return ""
    if media != "application/json":
        return f"a {media} body of {request.headers.get('content-length', 'unknown')} bytes"
    try:
        body = json.loads(await request.body())
    except (RuntimeError, ValueError):
        return "a JSON body"
    if isinstance(body, dict):
        return "fields " + ", ".join(sorted(str(k)[:40] for k in body)[:30])
    return f"a JSON {type(body).__name__}"


async def audit_entry(gw: Gateway, route: APIRoute, request: Request, status: int) -> dict[str, Any]:
    principal: Principal = request.state.principal
    shop_id: UUID | None = getattr(request.state, "audit_shop", None)
    target = ", ".join(f"{name}={value}" for name, value in sorted(request.path_params.items()))
    sent = await _fields_sent(request)
    summary = f"{request.method} {route.path_format}" + (f": {sent}" if sent else "")
    return {
        "request_id": f"gw-{uuid.uuid4()}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "actor_kind": principal.kind,
        "actor_id": str(principal.id),
        "actor_label": principal.label[:254],
        "shop_id": None if shop_id is None else str(shop_id),
        "action": route.name[:64],
        "target": target[:256] or None,
        "client_ip": known_address(gw, request),
        "user_agent": user_agent(request) or None,
        "summary": summary[:1000],
        "outcome": status,
    }


async def record(gw: Gateway, entry: dict[str, Any], attempts: int = 3) -> None:
    """Hand the entry to merchant (idempotent by its request id), retrying briefly; when merchant cannot
    take it, it goes to the log at ERROR (it holds no secret) and the miss is counted."""
    for attempt in range(attempts):
        try:
            await gw.merchant.request("POST", "/internal/audit-entries", json=entry)
            return
        except Unavailable:
            if attempt + 1 < attempts:
                await asyncio.sleep(0.2 * 2**attempt)
        except DomainError as error:
            log.error("audit entry refused by merchant (%s): %s", error.message, entry)
            UNRECORDED.inc()
            return
    log.error("audit entry not recorded (merchant unavailable): %s", entry)
    UNRECORDED.inc()


def audited_routes(gw: Gateway) -> type[APIRoute]:
    """The route class of the admin and platform routers: a request that got past authentication and
    changed something (or exported keys) leaves one audit entry with its outcome, error or not."""

    class AuditedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            route = self

            async def audited(request: Request) -> Response:
                try:
                    response = await handler(request)
                except Exception as error:
                    await _audit(request, _status_of(error))
                    raise
                await _audit(request, response.status_code)
                return response

            async def _audit(request: Request, status: int) -> None:
                if getattr(request.state, "principal", None) is None:
                    return
                permission = getattr(request.state, "permission", None)
                if request.method in WRITES or permission in AUDITED_READS:
                    await record(gw, await audit_entry(gw, route, request, status))

            return audited

    return AuditedRoute
