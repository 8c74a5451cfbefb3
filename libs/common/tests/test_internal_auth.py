"""Internal routes: each service calls with its own credential; a route admits only the callers it names."""

import secrets

import httpx
import pytest
from faka_common.http import InternalCaller, InternalClient, install_error_handlers, internal_router
from faka_common.service_auth import ServiceCredential, development_token, token_digest
from faka_common.settings import ServiceSettings
from fastapi import FastAPI
from pydantic import ValidationError

GATEWAY = ServiceCredential("gateway", secrets.token_urlsafe(32))
RISK = ServiceCredential("risk", secrets.token_urlsafe(32))


def callee(**settings: object) -> ServiceSettings:
    return ServiceSettings(service_name="inventory", **settings)  # type: ignore[arg-type]


def production_callee(callers: dict[str, str]) -> ServiceSettings:
    return callee(environment="production", service_token=secrets.token_urlsafe(32), internal_callers=callers)


def app_for(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    api = internal_router(settings, callers={"gateway", "notification"})

    @api.get("/whoami")
    async def whoami(caller: InternalCaller) -> dict[str, str]:
        return {"caller": caller}

    app.include_router(api)
    return app


async def call(settings: ServiceSettings, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_for(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://callee.test") as client:
        return await client.get("/internal/whoami", headers=headers)


def both_callers() -> ServiceSettings:
    return production_callee({c.caller: token_digest(c.token) for c in (GATEWAY, RISK)})


async def test_an_admitted_caller_with_its_own_token_is_let_in_and_named() -> None:
    answer = await call(both_callers(), GATEWAY.headers())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"caller": "gateway"}


async def test_an_authenticated_caller_the_route_does_not_admit_gets_403() -> None:
    answer = await call(both_callers(), RISK.headers())
    assert answer.status_code == 403
    assert answer.json()["message"] == "this internal route admits gateway, notification; not risk"


async def test_a_call_without_a_credential_gets_401_naming_the_headers() -> None:
    for headers in ({}, {"X-Internal-Token": GATEWAY.token}, {"X-Internal-Caller": "gateway"}):
        answer = await call(both_callers(), headers)
        assert answer.status_code == 401
        assert "X-Internal-Caller" in answer.json()["message"]


async def test_another_services_token_under_the_gateways_name_gets_401_without_echoing_it() -> None:
    answer = await call(both_callers(), {**GATEWAY.headers(), "X-Internal-Token": RISK.token})
    assert answer.status_code == 401
    assert answer.json()["message"] == "internal endpoint: X-Internal-Token is not gateway's SERVICE_TOKEN"
    assert RISK.token not in answer.text


async def test_a_caller_the_service_does_not_know_gets_401() -> None:
    notification = ServiceCredential("notification", secrets.token_urlsafe(32))
    answer = await call(both_callers(), notification.headers())
    assert answer.status_code == 401
    assert "'notification' is not among this service's INTERNAL_CALLERS" in answer.json()["message"]
    odd = await call(both_callers(), {**GATEWAY.headers(), "X-Internal-Caller": "Gateway ../admin"})
    assert odd.status_code == 401
    assert odd.json()["message"] == "internal endpoint: X-Internal-Caller is not a service name"


async def test_outside_development_a_service_without_internal_callers_admits_nobody() -> None:
    settings = callee(environment="production", service_token=secrets.token_urlsafe(32))
    answer = await call(settings, ServiceCredential.development("gateway").headers())
    assert answer.status_code == 401


async def test_in_development_every_service_calls_with_its_name_derived_token() -> None:
    settings = callee(environment="development")
    assert settings.credential() == ServiceCredential("inventory", development_token("inventory"))
    assert (await call(settings, ServiceCredential.development("gateway").headers())).status_code == 200
    assert (await call(settings, ServiceCredential.development("risk").headers())).status_code == 403


async def test_the_internal_client_presents_its_services_name_and_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = InternalClient("http://callee.test", GATEWAY, transport=httpx.MockTransport(answer))
    await client.request("GET", "/internal/whoami")
    await client.aclose()
    assert seen[0].headers["X-Internal-Caller"] == "gateway"
    assert seen[0].headers["X-Internal-Token"] == GATEWAY.token
    assert GATEWAY.token not in repr(GATEWAY)


def test_a_route_must_name_known_services_as_its_callers() -> None:
    with pytest.raises(ValueError, match="admits named services"):
        internal_router(callee(environment="development"), callers={"gatewya"})
    with pytest.raises(ValueError, match="admits named services"):
        internal_router(callee(environment="development"), callers=set())


@pytest.mark.parametrize(
    ("callers", "reason"),
    [
        ({"gateway": "abc"}, "gateway's verifier is not a SHA-256 hex digest"),
        ({"Gateway!": token_digest(GATEWAY.token)}, "'Gateway!' is not a service name"),
        (
            {"gateway": token_digest(development_token("gateway"))},
            "gateway's digest is that of gateway's development token",
        ),
        (
            {"gateway": token_digest(GATEWAY.token), "risk": token_digest(GATEWAY.token)},
            "risk and gateway have the same token",
        ),
    ],
)
def test_production_refuses_internal_callers_that_are_malformed_development_or_shared(
    callers: dict[str, str], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        production_callee(callers)


def test_production_refuses_a_caller_that_holds_the_services_own_token() -> None:
    own = secrets.token_urlsafe(32)
    with pytest.raises(ValidationError, match="gateway's digest is that of this service's own SERVICE_TOKEN"):
        callee(environment="production", service_token=own, internal_callers={"gateway": token_digest(own)})


def test_production_refuses_the_development_token_of_any_service() -> None:
    with pytest.raises(ValidationError, match="SERVICE_TOKEN is a development value"):
        callee(environment="production", service_token=development_token("gateway"))


async def test_a_token_mounted_with_a_trailing_newline_is_sent_without_it() -> None:
    token = secrets.token_urlsafe(32)
    caller = ServiceSettings(service_name="gateway", environment="production", service_token=token + "\n")  # type: ignore[arg-type]
    assert caller.credential() == ServiceCredential("gateway", token)
    answer = await call(production_callee({"gateway": token_digest(token)}), caller.credential().headers())
    assert answer.status_code == 200
