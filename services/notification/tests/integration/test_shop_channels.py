"""A shop's own notification channels over notification's internal API, on real Postgres: the whole settings
are put and read back for the shop that X-Shop-Id names only, secrets are sealed at rest and never shown,
a secret left out stays only with the server it was given for, and the SMTP host and webhook URL pass the
outgoing-URL guard.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.breakers import close_breakers
from faka_common.http import create_app
from faka_common.testing import as_caller
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.entrypoints.http import router

from .test_channels import _rows, database

pytestmark = pytest.mark.integration
__all__ = ["database"]

SMTP_PASSWORD = "smtp-Pa55word-of-the-shop"
WEBHOOK_SECRET = "whsec-of-the-shop-0123456789"
SETTINGS: dict[str, Any] = {
    "from_name": "Game Cards 游戏",
    "from_address": "sales@cards.example",
    "reply_to": "help@cards.example",
    "smtp": {
        "host": "127.0.0.1",
        "port": 2525,
        "security": "none",
        "username": "cards",
        "password": SMTP_PASSWORD,
    },
    "alert_emails": ["owner@cards.example", "ops@cards.example"],
    "webhook_url": "http://127.0.0.1:9/hooks/faka",
    "webhook_secret": WEBHOOK_SECRET,
}


@pytest.fixture
async def service(database: str) -> AsyncIterator[Service]:
    made = bootstrap(
        Settings(
            database_url=database,
            kafka_namespace=f"t{uuid4().hex}.",
            outbound_allow_list=("127.0.0.1",),
        )
    )
    try:
        yield made
    finally:
        await close_breakers(made.breakers)
        await made.runtime.engine.dispose()


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service.runtime, [router(service)], title="test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification.test") as client:
        yield client


def as_shop(shop: UUID, caller: str = "gateway") -> dict[str, str]:
    return {**as_caller(caller), "X-Shop-Id": str(shop)}


async def put(api: httpx.AsyncClient, shop: UUID, body: dict[str, Any]) -> httpx.Response:
    return await api.put("/internal/shop-channels", json=body, headers=as_shop(shop))


async def test_the_shop_reads_back_what_it_put_without_any_secret_and_another_shop_sees_none_of_it(
    api: httpx.AsyncClient, database: str
) -> None:
    shop, other = uuid4(), uuid4()
    put_answer = await put(api, shop, SETTINGS)
    assert put_answer.status_code == 200, put_answer.text
    read = await api.get("/internal/shop-channels", headers=as_shop(shop))

    expected = {
        "shop_id": str(shop),
        "from_name": "Game Cards 游戏",
        "from_address": "sales@cards.example",
        "reply_to": "help@cards.example",
        "smtp": {"host": "127.0.0.1", "port": 2525, "security": "none", "username": "cards"},
        "smtp_password_set": True,
        "alert_emails": ["owner@cards.example", "ops@cards.example"],
        "webhook_url": "http://127.0.0.1:9/hooks/faka",
        "webhook_secret_set": True,
    }
    assert put_answer.json() == expected and read.json() == expected
    for answer in (put_answer, read):
        assert SMTP_PASSWORD not in answer.text and WEBHOOK_SECRET not in answer.text

    unset = (await api.get("/internal/shop-channels", headers=as_shop(other))).json()
    assert unset == {
        "shop_id": str(other),
        "from_name": None,
        "from_address": None,
        "reply_to": None,
        "smtp": None,
        "smtp_password_set": False,
        "alert_emails": [],
        "webhook_url": None,
        "webhook_secret_set": False,
    }

    [row] = await _rows(database, "SELECT * FROM shop_channels WHERE shop_id = $1", shop)
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert SMTP_PASSWORD.encode() not in stored and WEBHOOK_SECRET.encode() not in stored
    assert row["smtp_password_key_id"] == row["webhook_secret_key_id"] == "dev"


async def test_a_left_out_password_stays_with_its_server_security_and_login_only(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = uuid4()
    assert (await put(api, shop, SETTINGS)).status_code == 200
    smtp = {k: v for k, v in SETTINGS["smtp"].items() if k != "password"}
    rest = {k: v for k, v in SETTINGS.items() if k not in ("smtp", "webhook_secret")}

    same = await put(api, shop, {**rest, "smtp": smtp, "from_name": "Cards & Co"})
    assert same.status_code == 200, same.text
    assert same.json()["smtp_password_set"] and same.json()["webhook_secret_set"]
    async with service.uow() as uow:
        kept = await uow.shop_channels.get(shop)
    assert kept is not None and kept.smtp is not None
    assert (kept.smtp.password, kept.webhook_secret, kept.from_name) == (
        SMTP_PASSWORD,
        WEBHOOK_SECRET,
        "Cards & Co",
    )

    # the stored password never follows the login to another server or security, nor to another user
    for changed in (
        {**smtp, "host": "localhost"},
        {**smtp, "port": 2526},
        {**smtp, "security": "starttls"},
        {**smtp, "username": "x"},
    ):
        refused = await put(api, shop, {**rest, "smtp": changed})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "missing_secret"
        assert "smtp.password" in refused.json()["message"]
    assert (await api.get("/internal/shop-channels", headers=as_shop(shop))).json()["from_name"] == (
        "Cards & Co"
    )

    # a server without a login needs no password; no webhook drops its secret
    bare = await put(api, shop, {"smtp": {"host": "127.0.0.1", "port": 25, "security": "none"}})
    assert bare.status_code == 200, bare.text
    assert not bare.json()["smtp_password_set"] and not bare.json()["webhook_secret_set"]
    unsigned = await put(api, shop, {"webhook_url": "http://127.0.0.1:9/hooks/faka"})
    assert unsigned.status_code == 422 and "webhook_secret" in unsigned.json()["message"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook_url": "http://169.254.169.254/latest/meta-data/"}, "cloud metadata address"),
        ({"webhook_url": "http://10.0.0.1/hook"}, "10.0.0.1 is a private address"),
        ({"smtp": {"host": "169.254.169.254", "port": 25, "security": "none"}}, "cloud metadata"),
        ({"smtp": {"host": "metadata.google.internal", "port": 25}}, "metadata host"),
        ({"smtp": {"host": "10.0.0.1", "port": 25, "security": "none"}}, "private address"),
    ],
)
async def test_an_smtp_host_or_webhook_at_an_internal_address_is_refused_and_nothing_changes(
    api: httpx.AsyncClient, change: dict[str, Any], reason: str
) -> None:
    shop = uuid4()
    assert (await put(api, shop, SETTINGS)).status_code == 200
    refused = await put(api, shop, {**SETTINGS, **change})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "unsafe_url" and reason in refused.json()["message"]
    read = (await api.get("/internal/shop-channels", headers=as_shop(shop))).json()
    assert read["smtp"]["host"] == "127.0.0.1" and read["webhook_url"] == SETTINGS["webhook_url"]


@pytest.mark.parametrize(
    "body",
    [
        {**SETTINGS, "signature": "x"},
        {**SETTINGS, "smtp": {**SETTINGS["smtp"], "tls": True}},
        {**SETTINGS, "from_address": "Sales <sales@cards.example>"},
        {**SETTINGS, "from_name": "Cards\r\nBcc: victim@example.com"},
        {**SETTINGS, "reply_to": "a@b.example, c@d.example"},
        {**SETTINGS, "alert_emails": [f"o{i}@cards.example" for i in range(11)]},
        {**SETTINGS, "smtp": {**SETTINGS["smtp"], "port": 0}},
        {**SETTINGS, "smtp": {**SETTINGS["smtp"], "host": "smtp.example/evil"}},
        {**SETTINGS, "smtp": {"host": "127.0.0.1", "password": "no-user"}},
        {"webhook_secret": "without-a-url"},
    ],
)
async def test_a_malformed_body_is_a_422_that_stores_nothing(
    api: httpx.AsyncClient, database: str, body: dict[str, Any]
) -> None:
    shop = uuid4()
    refused = await put(api, shop, body)
    assert refused.status_code == 422, refused.text
    assert await _rows(database, "SELECT 1 FROM shop_channels WHERE shop_id = $1", shop) == []


async def test_only_the_gateway_may_read_or_set_a_shops_channels(api: httpx.AsyncClient) -> None:
    shop = uuid4()
    for caller in ("order", "delivery"):
        headers = as_shop(shop, caller)
        assert (await api.get("/internal/shop-channels", headers=headers)).status_code == 403
        refused = await api.put("/internal/shop-channels", json=SETTINGS, headers=headers)
        assert refused.status_code == 403
    bad_shop = {**as_caller("gateway"), "X-Shop-Id": "not-a-shop"}
    assert (await api.get("/internal/shop-channels", headers=bad_shop)).status_code == 400
