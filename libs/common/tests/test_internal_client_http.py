"""InternalClient over a real HTTP server (aiohttp underneath): what callers send arrives as httpx would send
it, the answer reads as an httpx.Response, and an owner's refusal, failure or silence maps as before."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
import uvicorn
from faka_common.errors import DomainError, Unavailable
from faka_common.http import ANSWERED_BY, SHOP_HEADER, InternalClient, error_body
from faka_common.rate_limits import RateLimited
from faka_common.service_auth import INTERNAL_CALLER_HEADER, ServiceCredential
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse


def owner_app() -> FastAPI:
    app = FastAPI()
    app.state.peers = set()

    @app.api_route("/echo/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(rest: str, request: Request) -> dict[str, Any]:
        app.state.peers.add(request.scope["client"][1])
        return {
            "method": request.method,
            "path": request.url.path,
            "query": sorted(request.query_params.multi_items()),
            "caller": request.headers.get(INTERNAL_CALLER_HEADER),
            "shop": request.headers.get(SHOP_HEADER),
            "trace": request.headers.get("x-trace"),
            "type": request.headers.get("content-type"),
            "body": (await request.body()).decode(),
        }

    @app.get("/refuse/{status}")
    async def refuse(status: int) -> JSONResponse:
        body = error_body("slug_taken", "slug game-cards is taken", retry_after=7)
        return JSONResponse(body, status_code=status, headers={"Retry-After": "7"})

    @app.get("/text")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("密钥 are not JSON", headers={"X-Owner": "inventory"})

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(2)
        return {"late": "yes"}

    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def owner() -> AsyncIterator[tuple[str, FastAPI]]:
    app = owner_app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await task


def client(url: str, timeout: float = 5.0) -> InternalClient:
    return InternalClient(url, ServiceCredential.development("gateway"), timeout=timeout)


async def test_a_call_sends_what_the_caller_gave_and_answers_an_httpx_response(
    owner: tuple[str, FastAPI],
) -> None:
    url, _ = owner
    order = client(url)
    shop = uuid4()
    try:
        answer = await order.request(
            "POST",
            "/echo/orders/A-1/view?x=1",
            shop=shop,
            json={"token": "t", "名": "值"},
            params={"limit": 5, "tag": ["a", "b"]},
            headers={"X-Trace": "abc"},
        )
        sent = answer.json()
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert sent["method"] == "POST" and sent["path"] == "/echo/orders/A-1/view"
        assert sent["query"] == [["limit", "5"], ["tag", "a"], ["tag", "b"], ["x", "1"]]
        assert sent["caller"] == "gateway" and sent["shop"] == str(shop) and sent["trace"] == "abc"
        assert sent["type"] == "application/json" and sent["body"] == '{"token":"t","名":"值"}'

        raw = (
            await order.request("PUT", "/echo/keys", content="k1\nk2", headers={"Content-Type": "text/plain"})
        ).json()
        assert raw["body"] == "k1\nk2" and raw["type"] == "text/plain" and raw["shop"] is None

        async def upload() -> AsyncIterator[bytes]:  # a key upload streamed on as it is read
            for line in (b"k3\n", b"k4\n"):
                yield line

        streamed = (await order.request("POST", "/echo/keys", content=upload())).json()
        assert streamed["body"] == "k3\nk4\n"
    finally:
        await order.aclose()


async def test_an_answer_reads_in_full_and_names_the_service_that_gave_it(owner: tuple[str, FastAPI]) -> None:
    url, _ = owner
    order = client(url)
    try:
        answer = await order.request("GET", "/text")
    finally:
        await order.aclose()
    assert answer.content == "密钥 are not JSON".encode()
    assert answer.text == "密钥 are not JSON" and answer.headers["x-owner"] == "inventory"
    assert answer.is_success and answer.extensions[ANSWERED_BY] == url
    with pytest.raises(ValueError):
        answer.json()


async def test_calls_one_after_another_share_a_kept_alive_connection(owner: tuple[str, FastAPI]) -> None:
    url, app = owner
    order = client(url)
    try:
        for _ in range(5):
            await order.request("GET", "/echo/ping")
    finally:
        await order.aclose()
    assert len(app.state.peers) == 1


async def test_an_owners_refusal_keeps_its_status_code_and_message(owner: tuple[str, FastAPI]) -> None:
    url, _ = owner
    order = client(url)
    try:
        with pytest.raises(DomainError) as refused:
            await order.request("GET", "/refuse/409")
        with pytest.raises(RateLimited) as limited:
            await order.request("GET", "/refuse/429")
    finally:
        await order.aclose()
    assert (refused.value.status_code, refused.value.code) == (409, "slug_taken")
    assert refused.value.message == "slug game-cards is taken"
    assert limited.value.retry_after == 7


async def test_an_owner_that_fails_is_down_or_too_slow_is_unavailable(owner: tuple[str, FastAPI]) -> None:
    url, _ = owner
    failing, slow, down = client(url), client(url, timeout=0.2), client(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(Unavailable, match="answered 503"):
            await failing.request("GET", "/refuse/503")
        with pytest.raises(Unavailable, match="unreachable"):
            await slow.request("GET", "/slow")
        with pytest.raises(Unavailable, match="unreachable"):
            await down.request("GET", "/echo/ping")
    finally:
        for each in (failing, slow, down):
            await each.aclose()
