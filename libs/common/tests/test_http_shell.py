"""The HTTP shell of every service (create_app): body limits before parsing, no API docs in production."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faka_common.http import (
    MAX_JSON_BODY,
    MAX_JSON_DEPTH,
    TraceContext,
    create_app,
    redact_query,
    redact_query_in_span,
)
from faka_common.runtime import Runtime
from faka_common.settings import ServiceSettings
from fastapi import APIRouter, FastAPI, Request
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel


class Note(BaseModel):
    text: str
    extra: Any = None


def app_for(**settings: Any) -> FastAPI:
    api = APIRouter()

    @api.post("/notes")
    async def add_note(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    @api.post("/uploads", openapi_extra={"requestBody": {"content": {"text/plain": {}}}})
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    runtime = Runtime(ServiceSettings(service_name="shell-test", **settings), Path("."))
    return create_app(runtime, [api], title="shell test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_for(environment="development"))
    async with httpx.AsyncClient(transport=transport, base_url="http://shell.test") as c:
        yield c


async def test_a_json_body_over_64_kb_is_refused_with_413(client: httpx.AsyncClient) -> None:
    big = json.dumps({"text": "x" * MAX_JSON_BODY})
    refused = await client.post("/notes", content=big, headers={"content-type": "application/json"})
    assert refused.status_code == 413
    assert refused.json() == {"error": "payload_too_large", "message": "request body larger than 64 KB"}


async def test_a_body_without_a_length_is_counted_as_it_arrives(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'"}'

    refused = await client.post("/notes", content=chunks(), headers={"content-type": "application/json"})
    assert refused.status_code == 413


async def test_a_body_under_the_cap_is_parsed_as_usual(client: httpx.AsyncClient) -> None:
    answer = await client.post("/notes", json={"text": "z" * 60_000})
    assert answer.status_code == 200 and answer.json() == {"length": 60_000}


async def test_a_body_without_a_content_type_is_capped_too(client: httpx.AsyncClient) -> None:
    refused = await client.post("/notes", content=b'{"text": "' + b"x" * MAX_JSON_BODY + b'"}')
    assert refused.status_code == 413


async def test_key_uploads_in_other_media_types_are_left_to_their_route(client: httpx.AsyncClient) -> None:
    keys = b"KEY-0001\n" * 20_000
    answer = await client.post("/uploads", content=keys, headers={"content-type": "text/plain"})
    assert answer.json() == {"bytes": len(keys)}


async def test_a_large_body_of_another_media_type_sent_to_a_json_route_is_refused(
    client: httpx.AsyncClient,
) -> None:
    for media in ("text/plain", "application/octet-stream", "multipart/form-data; boundary=x"):
        refused = await client.post("/notes", content=b"x" * 200_000, headers={"content-type": media})
        assert refused.status_code == 413, (media, refused.text)
        assert refused.json()["error"] == "payload_too_large"


async def test_json_nested_5000_deep_is_a_422_not_a_server_error(client: httpx.AsyncClient) -> None:
    deep = '{"text": "a", "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    refused = await client.post("/notes", content=deep, headers={"content-type": "application/json"})
    assert refused.status_code == 422
    assert refused.json()["message"] == f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


async def test_brackets_inside_strings_and_moderate_nesting_pass(client: httpx.AsyncClient) -> None:
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = [nested]
    answer = await client.post("/notes", json={"text": "[{" * 5000 + '\\"', "extra": nested})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_api_docs_are_off_in_production_unless_enabled(path: str) -> None:
    production = {"environment": "production", "service_token": secrets.token_urlsafe(32)}
    enabled = {**production, "api_docs": True}
    cases = ((production, 404), (enabled, 200), ({"environment": "development"}, 200))
    for settings, status in cases:
        transport = httpx.ASGITransport(app=app_for(**settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://shell.test") as c:
            assert (await c.get(path)).status_code == status, (settings, path)


async def test_readiness_documents_its_503_and_answers_it_naming_the_failed_check() -> None:
    app = app_for(environment="development")
    runtime: Runtime = app.state.runtime

    async def stalled() -> None:
        raise RuntimeError("no progress")

    runtime.readiness_checks = {"consumers": stalled}
    document = app.openapi()["paths"]["/health/ready"]["get"]["responses"]
    assert "503" in document
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shell.test") as c:
        answer = await c.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"consumers": "failed: RuntimeError"}


def test_a_query_keeps_its_names_and_loses_its_values() -> None:
    assert redact_query("http://shop.test/orders/F1?token=abc&password=p%20w&x") == (
        "http://shop.test/orders/F1?token=REDACTED&password=REDACTED&x=REDACTED"
    )
    assert redact_query("/orders/F1") == "/orders/F1"


def test_a_server_span_keeps_no_query_value() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    url = "http://shop.test/orders/F1?token=secret-token"
    with provider.get_tracer("test").start_as_current_span(
        "GET /orders/{order_no}", attributes={"http.url": url, "http.target": "/orders/F1?token=secret-token"}
    ) as span:
        redact_query_in_span(span, {"query_string": b"token=secret-token"})
    (finished,) = exporter.get_finished_spans()
    assert dict(finished.attributes or {}) == {
        "http.url": "http://shop.test/orders/F1?token=REDACTED",
        "http.target": "/orders/F1?token=REDACTED",
    }


def test_without_an_exporter_requests_get_the_light_trace_context_not_the_instrumentation() -> None:
    def kinds(app: FastAPI) -> set[type]:
        app.build_middleware_stack()  # the instrumentation wraps the stack it builds
        return {middleware.cls for middleware in app.user_middleware}  # type: ignore[misc]

    quiet = app_for(environment="development")
    assert TraceContext in kinds(quiet)
    assert OpenTelemetryMiddleware not in kinds(quiet)
    exported = app_for(environment="development", otel_exporter_otlp_endpoint="http://127.0.0.1:9/v1/traces")
    assert TraceContext not in kinds(exported)


async def test_the_light_trace_context_continues_the_callers_trace_and_starts_one_when_there_is_none() -> (
    None
):
    async def current(scope: Any, receive: Any, send: Any) -> None:
        headers: dict[str, str] = {}
        propagate.inject(headers)
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        body = json.dumps({"trace_id": trace_id, "traceparent": headers.get("traceparent", "")}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    app = TraceContext(current)
    caller = "0af7651916cd43dd8448eb211c80319c"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shell.test") as c:
        continued = (await c.get("/", headers={"traceparent": f"00-{caller}-b7ad6b7169203331-01"})).json()
        started = [(await c.get("/")).json() for _ in range(2)]
    assert continued["trace_id"] == caller
    assert continued["traceparent"].split("-")[1] == caller  # the calls it makes carry it on
    assert started[0]["trace_id"] not in (caller, "0" * 32)
    assert started[0]["trace_id"] != started[1]["trace_id"]
    assert started[0]["traceparent"].split("-")[1] == started[0]["trace_id"]
