"""The platform's key re-sealing at the gateway: one call reaches every service that seals, and the answer
says per service what it re-sealed, what did not open and which one did not answer: `complete` only when
every service re-sealed everything (then the old key may leave the keyring)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from gateway.adapters.principals import PLATFORM_ADMIN_SECRET, KnownPrincipals
from gateway.bootstrap import build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app

from .test_gateway_http import FakeOwner

Handler = Callable[[httpx.Request], httpx.Response]
ADMIN = {"Authorization": f"Bearer {PLATFORM_ADMIN_SECRET}"}


def answering(service: str, answer: httpx.Response, calls: list[str]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/audit-entries":
            return httpx.Response(201, json={})
        calls.append(f"{service} {request.method} {request.url.path} {request.headers.get('X-Shop-Id')}")
        return answer

    return handle


async def reseal(answers: dict[str, httpx.Response]) -> tuple[httpx.Response, list[str]]:
    calls: list[str] = []
    owners = {name: FakeOwner(answering(name, answer, calls)) for name, answer in answers.items()}
    gateway = build_gateway(
        Settings(lookup_limit_storage_url="memory://", kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}"),
        **owners,
        principals=KnownPrincipals.platform_admin(),
    )
    transport = httpx.ASGITransport(app=edge_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        answer = await client.post("/api/platform/keys/reencrypt", headers=ADMIN)
    await gateway.aclose()
    return answer, calls


def done(resealed: int, unreadable: int | None = 0) -> httpx.Response:
    body = {"resealed": resealed, "active_key_id": "k2"}
    return httpx.Response(200, json=body if unreadable is None else {**body, "unreadable": unreadable})


async def test_one_call_re_seals_in_every_service_that_seals_and_names_no_shop() -> None:
    answer, calls = await reseal(
        {
            "inventory": done(120, None),
            "order": done(3),
            "delivery": done(7),
            "notification": done(4),
            "merchant": done(2),
        }
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "complete": True,
        "services": {
            "inventory": {"resealed": 120, "unreadable": 0, "active_key_id": "k2", "error": None},
            "order": {"resealed": 3, "unreadable": 0, "active_key_id": "k2", "error": None},
            "delivery": {"resealed": 7, "unreadable": 0, "active_key_id": "k2", "error": None},
            "notification": {"resealed": 4, "unreadable": 0, "active_key_id": "k2", "error": None},
            "merchant": {"resealed": 2, "unreadable": 0, "active_key_id": "k2", "error": None},
        },
    }
    assert sorted(calls) == [
        "delivery POST /internal/keys/reencrypt None",
        "inventory POST /internal/keys/reencrypt None",
        "merchant POST /internal/keys/reencrypt None",
        "notification POST /internal/keys/reencrypt None",
        "order POST /internal/keys/reencrypt None",
    ]


async def test_a_service_down_or_a_value_that_did_not_open_leaves_it_incomplete_and_the_rest_is_done() -> (
    None
):
    answer, calls = await reseal(
        {
            "inventory": done(5),
            "order": httpx.Response(503),
            "delivery": done(0),
            "notification": done(0),
            "merchant": done(1, 1),
        }
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["complete"] is False
    assert report["services"]["inventory"]["resealed"] == 5
    assert "503" in report["services"]["order"]["error"]
    assert report["services"]["merchant"]["unreadable"] == 1
    assert len(calls) == 5, "a service that failed does not stop the others"
