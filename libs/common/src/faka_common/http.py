"""The HTTP shell of every service: health, readiness, metrics, error mapping, internal auth."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import aiohttp
import httpx
import yarl
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faka_common import telemetry
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Busy, DomainError, Forbidden, Unauthorized, Unavailable
from faka_common.fields import printable_message
from faka_common.metrics import HttpMetrics
from faka_common.outages import OUTAGES, dependency_down
from faka_common.rate_limits import RateLimited
from faka_common.service_auth import (
    INTERNAL_CALLER_HEADER,
    INTERNAL_TOKEN_HEADER,
    SERVICES,
    InternalCallers,
    ServiceCredential,
)

if TYPE_CHECKING:
    from faka_common.runtime import Runtime
    from faka_common.settings import ServiceSettings

log = logging.getLogger(__name__)

MAX_JSON_BODY = 64 * 1024
MAX_JSON_DEPTH = 64
_CAPPED_TYPES = re.compile(r"^(application/(json|[\w.+-]*\+json|x-www-form-urlencoded))?$")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


def _message(error: Any) -> str:
    return printable_message(error) or str(error.get("msg"))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location}: {_message(error)}" if location else _message(error))
    return "; ".join(parts) or "invalid request"


def too_many(error: RateLimited, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """429 with Retry-After (also as `retry_after` in the body), in the error shape of every other answer."""
    return JSONResponse(
        error_body(error.code, error.message, retry_after=error.retry_after),
        status_code=error.status_code,
        headers={"Retry-After": str(error.retry_after), **(headers or {})},
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def on_domain_error(_: Request, exc: DomainError) -> JSONResponse:
        # a service this one needs is down (restarting, say) or busy: say when to try again
        retry = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
        extra = {"retry_after": exc.retry_after} if isinstance(exc, Busy) else {}
        body = error_body(exc.code, exc.message, **extra)
        return JSONResponse(body, status_code=exc.status_code, headers=retry)

    @app.exception_handler(RateLimited)
    async def on_rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return too_many(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(DBAPIError)
    async def on_database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if not dependency_down(exc):
            raise exc
        log.warning("database connection lost: %s", type(exc.orig).__name__)
        return JSONResponse(
            error_body("unavailable", "the database connection was lost; try again"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    async def on_server_down(_: Request, exc: Exception) -> JSONResponse:
        """A server the route needs refused or dropped the connection (Postgres restarting: asyncpg's
        connect error reaches here unwrapped)."""
        log.warning("a server this service needs is down: %s: %s", type(exc).__name__, exc)
        return JSONResponse(
            error_body("unavailable", "a server this service needs is down; try again"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    for outage in OUTAGES:
        app.add_exception_handler(outage, on_server_down)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body("invalid_request", _validation_message(exc), details=_jsonable(exc.errors())),
            status_code=422,
        )


def _jsonable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": _message(e), "type": e.get("type")} for e in errors]


def _json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped), counted without parsing."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for bracket in re.findall(rb"[\[\]{}]", _JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _takes_uploads(route: Any) -> bool:
    """A route that documents a request body other than JSON (key uploads: text, CSV, multipart) streams
    and bounds it itself."""
    content = ((getattr(route, "openapi_extra", None) or {}).get("requestBody") or {}).get("content") or {}
    return any(not _CAPPED_TYPES.match(media) for media in content)


class BodyLimit:
    """Refuses, before anything parses it, a JSON or form body over `limit` bytes (413) or nested deeper
    than MAX_JSON_DEPTH (422; Python's json would recurse until RecursionError). A body of another media
    type is counted as it is read and refused over `limit` too, except on routes that take uploads
    (`_takes_uploads`): FastAPI would otherwise read a text/plain body sent to a JSON route whole."""

    def __init__(self, app: ASGIApp, limit: int = MAX_JSON_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        headers = {
            k.lower(): v for k, v in scope["headers"] if k.lower() in (b"content-type", b"content-length")
        }
        media = headers.get(b"content-type", b"").decode("latin-1").split(";", 1)[0].strip().lower()
        if not _CAPPED_TYPES.match(media):
            return await self.app(scope, self._counted(scope, receive), send)
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(send, 413, "payload_too_large", self._too_large())
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await self._refuse(send, 413, "payload_too_large", self._too_large())
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if media != "application/x-www-form-urlencoded" and _json_depth(body) > MAX_JSON_DEPTH:
            message_text = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            return await self._refuse(send, 422, "invalid_request", message_text)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _counted(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, refusing (413) more than `limit` bytes unless the matched route takes uploads; the
        route is known by the time its endpoint reads the body."""
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > self.limit and not _takes_uploads(scope.get("route")):
                raise StarletteHTTPException(413, self._too_large())
            return message

        return counted

    def _too_large(self) -> str:
        return f"request body larger than {self.limit // 1024} KB"

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(runtime: Runtime, routers: Sequence[APIRouter], title: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    settings = runtime.settings
    docs = settings.environment != "production" or settings.api_docs
    app = FastAPI(
        title=title,
        lifespan=lifespan,
        version="0.1.0",
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        # FastAPI's own OpenTelemetry (tracing, metrics and logs, on by default since 0.16x) beside the
        # instrumentation below made two server spans per request: one is enough
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(HttpMetrics)

    @app.get("/health/live", tags=["ops"], summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service_name}

    @app.get(
        "/health/ready",
        tags=["ops"],
        summary="Database and broker answer, and no consumer has stalled",
        responses={503: {"description": "A check failed: `checks` names which (database, consumers, ...)"}},
    )
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    if settings.otel_exporter_otlp_endpoint:
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="health/.*,metrics", server_request_hook=redact_query_in_span
        )
    else:
        app.add_middleware(TraceContext)
    return app


class TraceContext:
    """A request's trace context when no span is exported (no OTLP endpoint, see
    `faka_common.telemetry.tracer_provider`): the caller's trace from `traceparent`, else a new one, is
    current while the request is handled (`telemetry.carried`), so its log lines and the calls it makes
    carry the trace id. The OpenTelemetry instrumentation does that too, but first collects a dozen
    attributes per request for a span nobody records: 5 % of the order service's CPU per buyer's order view,
    8 % of the gateway's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == b"traceparent"), None
        )
        with telemetry.carried(traceparent):
            await self.app(scope, receive, send)


#: Span attributes that may hold a request's query string.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.query")


def redact_query(url: str) -> str:
    """`url` with every query value replaced by REDACTED (the names stay): a buyer's order link carries its
    token or query password in the query, and spans go to a collector whose readers need not see them."""
    path, mark, query = url.partition("?")
    if not mark:
        return url
    names = [pair.split("=", 1)[0] for pair in query.split("&") if pair]
    return f"{path}?{'&'.join(f'{name}=REDACTED' for name in names)}"


def redact_query_in_span(span: Any, scope: Mapping[str, Any]) -> None:
    """FastAPIInstrumentor's server request hook: the span's URL attributes without query values."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(
                name, redact_query(value) if name != "url.query" else redact_query("?" + value)[1:]
            )


def internal_auth(settings: ServiceSettings, callers: Collection[str]) -> Any:
    """A dependency that admits only the named `callers`, each authenticated by its own SERVICE_TOKEN
    (401 when the caller is not authenticated, 403 when this route does not admit it); it answers the
    caller's name, which `InternalCaller` gives a handler."""
    unknown = set(callers) - set(SERVICES)
    if not callers or unknown:
        raise ValueError(f"an internal route admits named services ({', '.join(SERVICES)}), not {unknown}")
    admitted = sorted(callers)
    known = InternalCallers(settings.caller_digests())

    async def check(request: Request) -> str:
        # the headers read off the request, not declared as FastAPI header parameters: FastAPI checks each
        # declared parameter's annotation again on every request (fastapi/fastapi#5562), about 75 us of
        # CPU an internal request for these two and the shop's (measured in process, FastAPI 0.165)
        headers = request.headers
        caller = known.authenticate(headers.get(INTERNAL_CALLER_HEADER), headers.get(INTERNAL_TOKEN_HEADER))
        if caller not in admitted:
            raise Forbidden(f"this internal route admits {', '.join(admitted)}; not {caller}")
        request.state.internal_caller = caller
        return caller

    return Depends(check)


#: How an internal route's OpenAPI entry names the callers it admits (its 403 answer).
CALLERS_ADMITTED = "An authenticated caller this route does not admit. It admits: "


def internal_router(settings: ServiceSettings, callers: Collection[str], **options: Any) -> APIRouter:
    """An `/internal` router whose every route admits only `callers` (see `internal_auth`)."""
    options.setdefault("tags", ["internal"])
    return APIRouter(
        prefix="/internal",
        dependencies=[internal_auth(settings, callers)],
        responses={
            401: {
                "description": f"No caller authenticated ({INTERNAL_CALLER_HEADER}, {INTERNAL_TOKEN_HEADER})"
            },
            403: {"description": f"{CALLERS_ADMITTED}{', '.join(sorted(callers))}"},
        },
        **options,
    )


def combined(*routers: APIRouter) -> APIRouter:
    """One router serving the routes of `routers`, each route keeping its own router's callers."""
    out = APIRouter()
    for router in routers:
        out.include_router(router)
    return out


async def _internal_caller(request: Request) -> str:
    caller = getattr(request.state, "internal_caller", None)
    if caller is None:  # a route without internal_auth: refuse rather than guess who calls
        raise Unauthorized("internal endpoint: no authenticated caller")
    return str(caller)


#: The authenticated caller of an internal route (its name), e.g. the audited reader of a key reveal.
InternalCaller = Annotated[str, Depends(_internal_caller)]


SHOP_HEADER = "X-Shop-Id"
"""The shop an internal request acts for (a UUID); every shop-owned internal route is scoped by it."""


def _shop_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise DomainError(f"{SHOP_HEADER} must be a shop id (a UUID), not {value[:40]!r}") from None


async def _shop_scope(request: Request) -> UUID:
    # Until every caller names its shop, a request without the header acts for the default shop. (Read off
    # the request as `internal_auth` reads its headers.)
    value = request.headers.get(SHOP_HEADER)
    return DEFAULT_SHOP_ID if value is None else _shop_id(value)


#: The shop an internal route acts for (from `X-Shop-Id`): every query the route makes is scoped by it,
#: so another shop's ids answer 404.
ShopScope = Annotated[UUID, Depends(_shop_scope)]


async def _optional_shop_scope(request: Request) -> UUID | None:
    value = request.headers.get(SHOP_HEADER)
    return None if value is None else _shop_id(value)


#: For the few routes that also serve the whole platform: a buyer's order found by its number and secret
#: (the secret, not the shop, is what opens it) or a payment notification found by its signed order number.
#: With `X-Shop-Id` the route is scoped by it as `ShopScope` is; without, it acts for any shop (None).
OptionalShopScope = Annotated[UUID | None, Depends(_optional_shop_scope)]


#: Idle keep-alive connections are dropped after this long: under uvicorn's 5 s, so the client never sends
#: on a connection the server is closing at that very moment (that race answered a buyer 503).
KEEPALIVE_SECONDS = 4.0


def _json_body(value: Any) -> bytes:
    """A JSON request body encoded as httpx encodes `json=` (compact, UTF-8, NaN refused)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class InternalClient:
    """Calls another service's internal HTTP API; its 4xx answers come back as the same domain errors.

    The calls go over aiohttp (a quarter of httpx's CPU per call, measured: 0.20 against 0.67-0.90 ms), and
    each answer is handed back as an `httpx.Response`, so callers read it as before. `request` takes the
    keyword arguments callers use with httpx: json, content, params, headers, timeout. With a `transport`
    (tests: an app over ASGI, a mock) the calls go through httpx with that transport instead."""

    def __init__(
        self,
        base_url: str,
        credential: ServiceCredential,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = credential.headers()
        self._timeout = timeout
        self._client = (
            None
            if transport is None
            else httpx.AsyncClient(
                base_url=base_url, headers=self._headers, timeout=timeout, transport=transport
            )
        )
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self, method: str, path: str, *, shop: UUID | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Call `path`; `shop` names the shop the call acts for (`X-Shop-Id`)."""
        if shop is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), SHOP_HEADER: str(shop)}
        try:
            if self._client is not None:
                response = await self._client.request(method, path, **kwargs)
            else:
                response = await self._send(method, path, **kwargs)
        except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as error:
            raise Unavailable(f"{self.base_url} unreachable: {type(error).__name__}") from error
        response.extensions[ANSWERED_BY] = self.base_url
        if response.status_code >= 500:
            raise _busy(response) or Unavailable(f"{self.base_url} answered {response.status_code}")
        if response.status_code >= 400:
            raise _as_domain_error(response)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | AsyncIterable[bytes] | None = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpx's keyword, which callers pass
    ) -> httpx.Response:
        url = self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + str(httpx.QueryParams(params))
        sent = {**self._headers, **(headers or {})}
        propagate.inject(sent)  # the callee's spans join the caller's trace (W3C traceparent)
        body = content.encode() if isinstance(content, str) else content
        if json is not None:
            body = _json_body(json)
            if not any(name.lower() == "content-type" for name in sent):
                sent["Content-Type"] = "application/json"
        seconds = self._timeout if timeout is None else timeout
        async with self._opened().request(
            method,
            yarl.URL(url, encoded=True),
            data=body,
            headers=sent,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds),
        ) as answer:
            data = await answer.read()
        kept = [
            (name, value)
            for name, value in answer.headers.items()
            if name.lower() not in ("content-encoding", "transfer-encoding")
        ]
        return _response(answer.status, kept, data)

    def _opened(self) -> aiohttp.ClientSession:
        """The session, opened on the first call (it belongs to the running event loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._session is not None:
            await self._session.close()


#: The `extensions` entry of an internal answer that names the service that gave it (its base URL).
ANSWERED_BY = "faka_answered_by"


def _response(status: int, headers: list[tuple[str, str]], data: bytes) -> httpx.Response:
    """An answer read in full as an `httpx.Response`, built the cheap way: its body handed over as read
    (`content=` would stream it through httpx's decoders again) and no `httpx.Request` (parsing its URL
    again); together they cost 70 of the 80 us of each internal call's wrapping (measured)."""
    response = httpx.Response(status, headers=headers, stream=httpx.ByteStream(data))
    response._content = data  # what Response.read() would set: the body is already read
    return response


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's body as a JSON object, or {} when it is not one (an upstream's error answer, a
    provider's reply)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _busy(response: httpx.Response) -> Busy | None:
    """The upstream's own `Busy` (503, error "busy"), passed on with its message: the buyer is told to try
    again, not that a service is down."""
    if response.status_code != 503:
        return None
    body = json_object(response)
    if body.get("error") != Busy.code:
        return None
    return Busy(str(body.get("message", "busy")))


def _as_domain_error(response: httpx.Response) -> DomainError:
    """Keep the upstream's status, code and message, so the edge can pass a clear 4xx on."""
    body = json_object(response)
    message = str(body.get("message") or response.text[:200] or response.reason_phrase)
    if response.status_code == 429:  # the wait travels on, so the edge's 429 says it too
        return RateLimited(message, _retry_after(response, body))
    error = DomainError(message)
    error.status_code = response.status_code
    error.code = str(body.get("error", "upstream_error"))
    return error


def _retry_after(response: httpx.Response, body: dict[str, Any]) -> int:
    """The seconds an upstream's 429 asks to wait: its body's retry_after, else its Retry-After header, else
    a minute."""
    for given in (body.get("retry_after"), response.headers.get("retry-after")):
        try:
            seconds = int(str(given))
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return 60
