"""A shop's own notification channels over notification's internal API, on real Postgres: the whole settings
are put and read back for the shop that X-Shop-Id names only, secrets are sealed at rest and never shown,
a secret left out stays only with the server or SMS account it was given for, a sealed secret copied to
another shop's row does not open, and the SMTP host and webhook URL pass the outgoing-URL guard.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from faka_common.breakers import close_breakers
from faka_common.crypto import DEV_KEYRING
from faka_common.http import create_app
from faka_common.testing import as_caller
from notification.adapters.shop_channels import shop_channels
from notification.adapters.tables import SHOP_CHANNEL_COLUMNS
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.domain.model import NOT_READ, BuyerContact
from notification.entrypoints.http import router
from pydantic import SecretStr

from .test_channels import _rows, database

pytestmark = pytest.mark.integration
__all__ = ["database"]

SMTP_PASSWORD = "smtp-Pa55word-of-the-shop"
WEBHOOK_SECRET = "whsec-of-the-shop-0123456789"
ALIYUN_SECRET = "aliyun-Secret-of-the-shop-0123"
TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
TWILIO_SID = "AC" + "ab" * 16
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
    "aliyun_sms": {
        "access_key_id": "LTAIshopCards01",
        "access_key_secret": ALIYUN_SECRET,
        "sign_name": "游戏卡店",
        "templates": {"order_delivered": "SMS_200001", "order_delayed": "SMS_200002"},
    },
    "twilio_sms": {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+15005550007"},
    "alert_telegram_chat": "-1001234567890",
}
#: What the shop reads back: every field but the secrets, which show only as set.
VIEW: dict[str, Any] = {
    "from_name": "Game Cards 游戏",
    "from_address": "sales@cards.example",
    "reply_to": "help@cards.example",
    "smtp": {"host": "127.0.0.1", "port": 2525, "security": "none", "username": "cards"},
    "smtp_password_set": True,
    "alert_emails": ["owner@cards.example", "ops@cards.example"],
    "webhook_url": "http://127.0.0.1:9/hooks/faka",
    "webhook_secret_set": True,
    "aliyun_sms": {
        "access_key_id": "LTAIshopCards01",
        "sign_name": "游戏卡店",
        "templates": {"order_delivered": "SMS_200001", "order_delayed": "SMS_200002"},
    },
    "aliyun_sms_secret_set": True,
    "twilio_sms": {"account_sid": TWILIO_SID, "from_number": "+15005550007"},
    "twilio_sms_token_set": True,
    "alert_telegram_chat": "-1001234567890",
}
SECRETS = (SMTP_PASSWORD, WEBHOOK_SECRET, ALIYUN_SECRET, TWILIO_TOKEN)


@pytest.fixture
async def service(database: str) -> AsyncIterator[Service]:
    made = bootstrap(
        Settings(
            database_url=database,
            kafka_namespace=f"t{uuid4().hex}.",
            outbound_allow_list=("127.0.0.1",),
            telegram_bot_token="123456:platform-bot",  # a shop's alert chat needs the platform's bot
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

    expected = {"shop_id": str(shop), **VIEW}
    assert put_answer.json() == expected and read.json() == expected
    for answer in (put_answer, read):
        assert not [secret for secret in SECRETS if secret in answer.text]

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
        "aliyun_sms": None,
        "aliyun_sms_secret_set": False,
        "twilio_sms": None,
        "twilio_sms_token_set": False,
        "alert_telegram_chat": None,
    }

    [row] = await _rows(database, "SELECT * FROM shop_channels WHERE shop_id = $1", shop)
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert not [secret for secret in SECRETS if secret.encode() in stored]
    assert row["smtp_password_key_id"] == row["webhook_secret_key_id"] == "dev"
    assert row["aliyun_secret_key_id"] == row["twilio_token_key_id"] == "dev"


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


async def test_a_left_out_sms_secret_stays_with_its_account_only_and_is_needed_for_another(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = uuid4()
    assert (await put(api, shop, SETTINGS)).status_code == 200
    aliyun = {k: v for k, v in SETTINGS["aliyun_sms"].items() if k != "access_key_secret"}
    twilio = {k: v for k, v in SETTINGS["twilio_sms"].items() if k != "auth_token"}
    rest = {k: v for k, v in SETTINGS.items() if k not in ("aliyun_sms", "twilio_sms")}

    renamed = {**aliyun, "sign_name": "新店名", "templates": {"order_refunded": "SMS_200003"}}
    same = await put(
        api, shop, {**rest, "aliyun_sms": renamed, "twilio_sms": {**twilio, "from_number": "Cards"}}
    )
    assert same.status_code == 200, same.text
    assert same.json()["aliyun_sms_secret_set"] and same.json()["twilio_sms_token_set"]
    async with service.uow() as uow:
        kept = await uow.shop_channels.get(shop)
    assert kept is not None and kept.aliyun_sms is not None and kept.twilio_sms is not None
    assert (kept.aliyun_sms.access_key_secret, kept.aliyun_sms.sign_name) == (ALIYUN_SECRET, "新店名")
    assert dict(kept.aliyun_sms.templates) == {"order_refunded": "SMS_200003"}
    assert (kept.twilio_sms.auth_token, kept.twilio_sms.from_number) == (TWILIO_TOKEN, "Cards")

    # another account (or one set for the first time) needs its own secret
    for body, needed in (
        (
            {**rest, "aliyun_sms": {**aliyun, "access_key_id": "LTAIotherAccount"}},
            "aliyun_sms.access_key_secret",
        ),
        ({**rest, "twilio_sms": {**twilio, "account_sid": "AC" + "cd" * 16}}, "twilio_sms.auth_token"),
    ):
        refused = await put(api, shop, body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "missing_secret" and needed in refused.json()["message"]
    fresh = await put(api, uuid4(), {"twilio_sms": twilio})
    assert fresh.status_code == 422 and "twilio_sms.auth_token" in fresh.json()["message"]

    # dropping an account forgets its secret: setting it again needs the secret again
    assert (await put(api, shop, rest)).json()["aliyun_sms"] is None
    again = await put(api, shop, {**rest, "aliyun_sms": aliyun})
    assert again.status_code == 422 and "aliyun_sms.access_key_secret" in again.json()["message"]


SMS_COLUMNS = tuple(c for c in SHOP_CHANNEL_COLUMNS if c.startswith(("aliyun_", "twilio_")))


async def test_a_sealed_sms_secret_copied_to_another_shops_row_does_not_open(
    api: httpx.AsyncClient, service: Service, database: str
) -> None:
    shop, other = uuid4(), uuid4()
    assert (await put(api, shop, SETTINGS)).status_code == 200
    assert (await put(api, other, {"from_name": "Other"})).status_code == 200
    await _rows(
        database,
        f"UPDATE shop_channels o SET ({', '.join(SMS_COLUMNS)}) = "
        f"({', '.join(f's.{c}' for c in SMS_COLUMNS)}) "
        "FROM shop_channels s WHERE s.shop_id = $1 AND o.shop_id = $2",
        shop,
        other,
    )
    async with service.uow() as uow:
        with pytest.raises(InvalidTag):
            await uow.shop_channels.get(other)
        opened = await uow.shop_channels.get(shop)
    assert opened is not None and opened.aliyun_sms is not None and opened.twilio_sms is not None
    assert (opened.aliyun_sms.access_key_secret, opened.twilio_sms.auth_token) == (
        ALIYUN_SECRET,
        TWILIO_TOKEN,
    )


def _contact(shop: UUID) -> BuyerContact:
    order = uuid4()
    return BuyerContact(
        order, f"F{order.hex[:14].upper()}", "buyer@example.com", "en", "Licence", shop_id=shop
    )


async def test_an_addressee_read_with_the_shops_settings_carries_what_their_own_read_opens(
    api: httpx.AsyncClient, service: Service
) -> None:
    """A notice sent on the shop's channels reads its settings with its addressee, in one statement: what
    that read carries is what `get` reads (every setting, every secret opened); a shop that set none
    carries None; a read not asked for them carries NOT_READ."""
    shop, bare = uuid4(), uuid4()
    assert (await put(api, shop, SETTINGS)).status_code == 200
    own, none = _contact(shop), _contact(bare)
    async with service.uow() as uow:
        assert await uow.contacts.add(own) and await uow.contacts.add(none)
        await uow.commit()

    async with service.uow() as uow:
        stored = await uow.shop_channels.get(shop)
        with_own = await uow.contacts.addressee(shop, own.order_id, channels=True)
        with_none = await uow.contacts.addressee(bare, none.order_id, channels=True)
        without = await uow.contacts.addressee(shop, own.order_id)
        another_shops = await uow.contacts.addressee(bare, own.order_id, channels=True)
    assert stored is not None and stored.smtp is not None and stored.smtp.password == SMTP_PASSWORD
    assert with_own is not None and with_own.channels == stored
    assert with_own.contact == own and with_own.shop is None
    assert with_none is not None and with_none.contact == none and with_none.channels is None
    assert without is not None and without.contact == own and without.channels is NOT_READ
    assert another_shops is None


def test_the_addressee_read_selects_every_setting_the_table_holds() -> None:
    assert set(SHOP_CHANNEL_COLUMNS) == {c.name for c in shop_channels.c} - {"shop_id", "updated_at"}


async def test_an_alert_chat_is_refused_while_the_platform_runs_no_telegram_bot(database: str) -> None:
    service = bootstrap(Settings(database_url=database, kafka_namespace=f"t{uuid4().hex}."))
    app = create_app(service.runtime, [router(service)], title="test")
    shop = uuid4()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notification.test") as api:
            refused = await put(api, shop, {"alert_telegram_chat": "-100123"})
    finally:
        await close_breakers(service.breakers)
        await service.runtime.engine.dispose()
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "no_telegram_bot" and "alert_telegram_chat" in refused.json()["message"]
    assert await _rows(database, "SELECT 1 FROM shop_channels WHERE shop_id = $1", shop) == []


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


ALIYUN, TWILIO = SETTINGS["aliyun_sms"], SETTINGS["twilio_sms"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # the endpoints are the platform's settings: a shop names no URL for its SMS provider
        ({"aliyun_sms": {**ALIYUN, "base_url": "http://10.0.0.1/"}}, "aliyun_sms.base_url"),
        ({"twilio_sms": {**TWILIO, "base_url": "http://10.0.0.1/"}}, "twilio_sms.base_url"),
        ({"aliyun_sms": {**ALIYUN, "access_key_id": "LTAI/../x"}}, "aliyun_sms.access_key_id"),
        ({"aliyun_sms": {**ALIYUN, "sign_name": "【游戏卡店】"}}, "aliyun_sms.sign_name"),
        ({"aliyun_sms": {**ALIYUN, "templates": {"order_link": "SMS_1"}}}, "aliyun_sms.templates.order_link"),
        ({"aliyun_sms": {**ALIYUN, "templates": {"order_delivered": "1; x"}}}, "aliyun_sms.templates"),
        ({"aliyun_sms": {**ALIYUN, "templates": {}}}, "aliyun_sms.templates"),
        ({"twilio_sms": {**TWILIO, "account_sid": "AC123/../../evil"}}, "twilio_sms.account_sid"),
        ({"twilio_sms": {**TWILIO, "from_number": "+1 555 0100 ext"}}, "twilio_sms.from_number"),
        ({"twilio_sms": {**TWILIO, "auth_token": "short"}}, "twilio_sms.auth_token"),
        ({"alert_telegram_chat": "owner"}, "alert_telegram_chat"),
        ({"alert_telegram_chat": "@abc"}, "alert_telegram_chat"),
        ({"alert_telegram_chat": "-100 123"}, "alert_telegram_chat"),
    ],
)
async def test_a_malformed_sms_account_or_alert_chat_is_a_422_naming_the_field_that_stores_nothing(
    api: httpx.AsyncClient, database: str, body: dict[str, Any], field: str
) -> None:
    shop = uuid4()
    refused = await put(api, shop, body)
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]
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


@asynccontextmanager
async def keyed(database: str, keys: str) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """Notification on the same database with another keyring (KEY_ENCRYPTION_KEYS = `keys`)."""
    made = bootstrap(
        Settings(
            database_url=database,
            kafka_namespace=f"t{uuid4().hex}.",
            key_encryption_keys=SecretStr(keys),
            telegram_bot_token="123456:platform-bot",
        )
    )
    app = create_app(made.runtime, [router(made)], title="test")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://n.test"
        ) as client:
            yield made, client
    finally:
        await close_breakers(made.breakers)
        await made.runtime.engine.dispose()


async def test_a_key_rotation_re_seals_every_secret_of_a_shops_channels(
    api: httpx.AsyncClient, database: str
) -> None:
    shop = uuid4()
    assert (await put(api, shop, SETTINGS)).status_code == 200  # sealed with the development key
    new = f"new:{base64.b64encode(os.urandom(32)).decode()}"
    async with keyed(database, f"{DEV_KEYRING},{new}") as (_, rotating):
        resealed = await rotating.post("/internal/keys/reencrypt", headers=as_caller("gateway"))
    assert resealed.status_code == 200, resealed.text
    assert resealed.json()["resealed"] >= 4  # other tests' shops share the database (and one row is broken)
    [row] = await _rows(
        database,
        "SELECT smtp_password_key_id, webhook_secret_key_id, aliyun_secret_key_id, twilio_token_key_id "
        "FROM shop_channels WHERE shop_id = $1",
        shop,
    )
    assert set(row.values()) == {"new"}
    async with keyed(database, new) as (rotated, _), rotated.uow() as uow:  # the old key is gone
        kept = await uow.shop_channels.get(shop)
    assert kept is not None and kept.smtp is not None and kept.aliyun_sms and kept.twilio_sms
    opened = (
        kept.smtp.password,
        kept.webhook_secret,
        kept.aliyun_sms.access_key_secret,
        kept.twilio_sms.auth_token,
    )
    assert opened == SECRETS
