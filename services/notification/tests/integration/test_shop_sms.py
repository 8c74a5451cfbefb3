"""A shop's own SMS accounts and alert chat end to end: shop A's buyer SMS go through shop A's Aliyun and
Twilio accounts (its AccessKey, signature, sign name and template; its SID, token and number), shop B's (none
set) through the platform's; shop A's provider down falls back to the platform's account, a permanent refusal
does not; shop A's alerts reach its Telegram chat through the platform's bot and never shop B's; a sealed
secret copied to another shop's row does not open, so nothing is sent with it.

One local HTTP server plays Aliyun SMS (checking each request's signature with the secret of the AccessKey it
names), Twilio (checking Basic auth per account) and the Telegram Bot API; Postgres is real; events go
through the service's own consumer. Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID, uuid4

import pytest
from cryptography.exceptions import InvalidTag
from faka_common.contracts import DeliverySucceeded
from fastapi import FastAPI, Request, Response
from notification.adapters.channels import aliyun_sms
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.domain.model import OrderKeys

from .test_channels import FakeKeys, _add_contact, _free_port, _record, _rows, database, serving
from .test_shop_sending import low_stock, put_channels

pytestmark = pytest.mark.integration
__all__ = ["database"]

KEY = "KEY-SHOP-SMS-0001"
BOT_TOKEN = "123456:platform-bot"
PLATFORM_ALIYUN = ("LTAIplatform0001", "platform-aliyun-secret")
SHOP_ALIYUN = ("LTAIshopA0000001", "shop-a-aliyun-secret")
PLATFORM_TWILIO = ("AC" + "11" * 16, "platformtwiliotoken000000000000a")
SHOP_TWILIO = ("AC" + "aa" * 16, "shopatwiliotoken0000000000000000")
SECRETS = {key: secret for key, secret in (PLATFORM_ALIYUN, SHOP_ALIYUN, PLATFORM_TWILIO, SHOP_TWILIO)}
SHOP_A_SMS: dict[str, Any] = {
    "aliyun_sms": {
        "access_key_id": SHOP_ALIYUN[0],
        "access_key_secret": SHOP_ALIYUN[1],
        "sign_name": "甲店",
        "templates": {"order_delivered": "SMS_200001"},
    },
    "twilio_sms": {
        "account_sid": SHOP_TWILIO[0],
        "auth_token": SHOP_TWILIO[1],
        "from_number": "+15005550100",
    },
}


@dataclass
class Providers:
    """Every request each provider received (and whether its credentials held); `answers` says how an
    account answers: ok (the default), 503 or permanent."""

    aliyun: list[dict[str, Any]] = field(default_factory=list)
    twilio: list[dict[str, Any]] = field(default_factory=list)
    telegram: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/aliyun/")
        async def aliyun(request: Request) -> Response:
            params = dict(request.query_params)
            secret = SECRETS.get(params.get("AccessKeyId", ""))
            signed = secret is not None and aliyun_sms.sign(params, secret) == params.get("Signature")
            self.aliyun.append({**params, "signed": signed})
            answer = self.answers.get(params.get("AccessKeyId", ""), "ok")
            if answer == "503":
                return reply({"Code": "ServiceUnavailable"}, 503)
            if not signed:
                return reply({"Code": "SignatureDoesNotMatch"}, 400)
            if answer == "permanent":
                return reply({"Code": "isv.AMOUNT_NOT_ENOUGH", "Message": "balance"})
            return reply({"Code": "OK", "BizId": f"biz-{len(self.aliyun)}"})

        @app.post("/twilio/2010-04-01/Accounts/{sid}/Messages.json")
        async def twilio(sid: str, request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            expected = "Basic " + base64.b64encode(f"{sid}:{SECRETS.get(sid)}".encode()).decode()
            signed = sid in SECRETS and request.headers.get("authorization") == expected
            self.twilio.append({"sid": sid, "signed": signed, **form})
            if not signed:
                return reply({"code": 20003, "message": "Authenticate", "status": 401}, 401)
            return reply({"sid": f"SM{len(self.twilio)}", "status": "queued"}, 201)

        @app.post("/telegram/bot{token}/sendMessage")
        async def telegram(token: str, request: Request) -> Response:
            self.telegram.append({"token": token, **json.loads(await request.body())})
            return reply({"ok": True, "result": {"message_id": len(self.telegram)}})

        return app


def reply(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


@pytest.fixture
async def providers() -> AsyncIterator[tuple[Providers, str]]:
    fake = Providers()
    async with serving(fake.app()) as base:
        yield fake, base


@pytest.fixture
async def service(database: str, providers: tuple[Providers, str]) -> AsyncIterator[tuple[Service, FakeKeys]]:
    base = providers[1]
    keys = FakeKeys()
    made = bootstrap(
        Settings(
            database_url=database,
            smtp_port=_free_port(),  # no e-mail in these tests
            channel_retry_backoff=0,
            provider_timeout=2,
            notification_routes={"order_delivered": [["aliyun_sms"], ["twilio_sms"]]},
            aliyun_sms_base_url=f"{base}/aliyun/",
            aliyun_sms_access_key_id=PLATFORM_ALIYUN[0],
            aliyun_sms_access_key_secret=PLATFORM_ALIYUN[1],
            aliyun_sms_sign_name="平台",
            aliyun_sms_templates={"order_delivered": "SMS_100001"},
            twilio_base_url=f"{base}/twilio",
            twilio_account_sid=PLATFORM_TWILIO[0],
            twilio_auth_token=PLATFORM_TWILIO[1],
            twilio_from="+15005550006",
            telegram_base_url=f"{base}/telegram",
            telegram_bot_token=BOT_TOKEN,
            outbound_allow_list=("127.0.0.1",),  # the fake providers
            breaker_store="memory",
            kafka_namespace=f"t{uuid4().hex}.",
        ),
        keys=keys,
    )
    try:
        yield made, keys
    finally:
        for hook in reversed(made.runtime.on_stop):
            await hook()
        await made.runtime.engine.dispose()


async def ordered(made: Service, keys: FakeKeys, shop: UUID, phone: str) -> DeliverySucceeded:
    """An order of the shop whose buyer left `phone`, its key sold: the delivery to tell the buyer about."""
    order_id = uuid4()
    await _add_contact(made, order_id, phone=phone, shop_id=shop)
    keys.orders[order_id] = OrderKeys(order_id, [KEY])
    return DeliverySucceeded(
        order_id=order_id, shop_id=shop, delivery_id=uuid4(), mode="card_key", item_count=1
    )


async def buy(made: Service, keys: FakeKeys, shop: UUID, phone: str) -> UUID:
    """A delivered order of the shop whose buyer left `phone`, handed to the consumer; its id."""
    delivered = await ordered(made, keys, shop, phone)
    assert await made.consumer().consume(_record(delivered)) == "handled"
    return delivered.order_id


def to(requests: list[dict[str, Any]], phone: str) -> list[dict[str, Any]]:
    return [r for r in requests if phone in (r.get("PhoneNumbers"), r.get("To"))]


async def test_shop_as_buyer_sms_go_through_shop_as_accounts_and_shop_bs_through_the_platforms(
    service: tuple[Service, FakeKeys], providers: tuple[Providers, str]
) -> None:
    made, keys = service
    fake = providers[0]
    shop_a, shop_b = uuid4(), uuid4()
    await put_channels(made, shop_a, SHOP_A_SMS)

    order_a = await buy(made, keys, shop_a, "13800000001")
    order_b = await buy(made, keys, shop_b, "13800000002")

    [aliyun_a] = to(fake.aliyun, "13800000001")
    assert (aliyun_a["AccessKeyId"], aliyun_a["SignName"], aliyun_a["TemplateCode"]) == (
        SHOP_ALIYUN[0],
        "甲店",
        "SMS_200001",
    )
    assert aliyun_a["signed"] and KEY in aliyun_a["TemplateParam"]
    assert aliyun_a["OutId"].endswith(str(order_a))
    [aliyun_b] = to(fake.aliyun, "13800000002")
    assert (aliyun_b["AccessKeyId"], aliyun_b["SignName"], aliyun_b["TemplateCode"]) == (
        PLATFORM_ALIYUN[0],
        "平台",
        "SMS_100001",
    )
    assert aliyun_b["signed"] and aliyun_b["OutId"].endswith(str(order_b))

    [twilio_a] = to(fake.twilio, "13800000001")
    [twilio_b] = to(fake.twilio, "13800000002")
    assert (twilio_a["sid"], twilio_a["From"], twilio_a["signed"]) == (SHOP_TWILIO[0], "+15005550100", True)
    assert (twilio_b["sid"], twilio_b["From"], twilio_b["signed"]) == (
        PLATFORM_TWILIO[0],
        "+15005550006",
        True,
    )


async def test_shop_as_aliyun_down_falls_back_to_the_platforms_account_and_a_refusal_does_not(
    service: tuple[Service, FakeKeys], providers: tuple[Providers, str], database: str
) -> None:
    made, keys = service
    fake = providers[0]
    shop = uuid4()
    await put_channels(made, shop, SHOP_A_SMS)

    fake.answers[SHOP_ALIYUN[0]] = "503"
    await buy(made, keys, shop, "13800000003")
    tried = [(r["AccessKeyId"], r["SignName"]) for r in to(fake.aliyun, "13800000003")]
    assert tried == [(SHOP_ALIYUN[0], "甲店"), (PLATFORM_ALIYUN[0], "平台")]

    fake.answers[SHOP_ALIYUN[0]] = "permanent"
    refused_id = await buy(made, keys, shop, "13800000004")
    assert [r["AccessKeyId"] for r in to(fake.aliyun, "13800000004")] == [SHOP_ALIYUN[0]]
    [row] = await _rows(
        database,
        "SELECT status, error FROM notifications WHERE order_id = $1 AND channel = 'aliyun_sms'",
        refused_id,
    )
    assert row["status"] == "failed" and "isv.AMOUNT_NOT_ENOUGH" in row["error"]
    assert [r["sid"] for r in to(fake.twilio, "13800000004")] == [SHOP_TWILIO[0]]  # its other chain


async def test_shop_as_alert_reaches_its_telegram_chat_through_the_platforms_bot_and_never_shop_bs(
    service: tuple[Service, FakeKeys], providers: tuple[Providers, str]
) -> None:
    made, _ = service
    fake = providers[0]
    shop_a, shop_b = uuid4(), uuid4()
    await put_channels(made, shop_a, {"alert_telegram_chat": "-1001000000001"})
    await put_channels(made, shop_b, {"alert_telegram_chat": "@shop_b_alerts"})

    alert_a, alert_b = low_stock(shop_a), low_stock(shop_b)
    for event in (alert_a, alert_b):
        assert await made.consumer().consume(_record(event)) == "handled"

    chats = {m["chat_id"]: m for m in fake.telegram}
    assert set(chats) == {"-1001000000001", "@shop_b_alerts"}
    assert (
        alert_a.title in chats["-1001000000001"]["text"]
        and alert_b.title not in chats["-1001000000001"]["text"]
    )
    assert (
        alert_b.title in chats["@shop_b_alerts"]["text"]
        and alert_a.title not in chats["@shop_b_alerts"]["text"]
    )
    assert {m["token"] for m in fake.telegram} == {BOT_TOKEN}


async def test_a_sealed_secret_copied_to_another_shops_row_does_not_open_and_sends_nothing(
    service: tuple[Service, FakeKeys], providers: tuple[Providers, str], database: str
) -> None:
    made, keys = service
    fake = providers[0]
    owner, thief = uuid4(), uuid4()
    await put_channels(made, owner, SHOP_A_SMS)
    await put_channels(made, thief, {"from_name": "Thief"})
    await _rows(
        database,
        "UPDATE shop_channels t SET (aliyun_access_key_id, aliyun_secret_key_id, aliyun_secret, "
        "aliyun_sign_name, aliyun_templates) = (o.aliyun_access_key_id, o.aliyun_secret_key_id, "
        "o.aliyun_secret, o.aliyun_sign_name, o.aliyun_templates) "
        "FROM shop_channels o WHERE o.shop_id = $1 AND t.shop_id = $2",
        owner,
        thief,
    )
    delivered = await ordered(made, keys, thief, "13800000005")

    async with made.uow() as uow:
        with pytest.raises(InvalidTag):
            await made.handlers()[DeliverySucceeded](delivered, uow)
    assert to(fake.aliyun, "13800000005") == [] and to(fake.twilio, "13800000005") == []
