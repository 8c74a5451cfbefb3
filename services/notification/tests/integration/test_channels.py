"""Every channel over its real protocol on loopback: a real SMTP server (aiosmtpd) and one local HTTP server
playing Aliyun SMS, Twilio, Telegram and a seller's webhook receiver, each able to answer slowly, with a
5xx or with a permanent error. Postgres is real (a fresh database); inventory's key lookup is a fake.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, cast
from urllib.parse import parse_qsl
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from faka_common import chat_link
from faka_common.contracts import (
    DeliveryFailed,
    DeliverySucceeded,
    Envelope,
    Message,
    OrderPlaced,
    RiskDecided,
)
from faka_common.contracts.delivery import DeliveryDelayed
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound
from faka_common.http import create_app
from faka_common.messaging.consumer import Delivery, EventConsumer, RetryPolicy
from faka_common.testing import as_caller, migrated_database
from fastapi import FastAPI, Request, Response
from notification.adapters.channels import aliyun_sms, webhook
from notification.bootstrap import Service, bootstrap
from notification.config import MIGRATIONS, Settings
from notification.domain.model import BuyerContact, OrderKeys, Try
from notification.entrypoints.http import router

pytestmark = pytest.mark.integration

KEY = "KEY-LOOP-0001"
ALIYUN_SECRET = "aliyun-test-secret"
TWILIO_SID = "AC0123456789abcdef"
TWILIO_TOKEN = "twilio-test-token"
BOT_TOKEN = "123456:bot-test-token"
WEBHOOK_SECRET = "whsec-test"
GATEWAY = as_caller("gateway")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: The logger of the tests' SMTP server (aiosmtpd): it logs what it receives, as the buyer's server may.
SMTP_SERVER_LOG = "mail.log"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(cast(EmailMessage, message_from_bytes(envelope.content, policy=default)))
        return "250 OK"

    def about(self, order_no: str) -> list[EmailMessage]:
        return [m for m in self.messages if order_no in str(m["Subject"])]


@dataclass
class Behaviour:
    """What a provider answers next: `script` is consumed first (e.g. ["slow", "503"]), then `always`."""

    always: str = "ok"
    script: list[str] = field(default_factory=list)

    def next(self) -> str:
        return self.script.pop(0) if self.script else self.always


@dataclass
class Providers:
    """The HTTP side of every provider, recording each request it receives."""

    behaviour: dict[str, Behaviour] = field(
        default_factory=lambda: {p: Behaviour() for p in ("aliyun", "twilio", "telegram", "webhook")}
    )
    requests: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {p: [] for p in ("aliyun", "twilio", "telegram", "webhook")}
    )
    slow_seconds: float = 1.5

    def reset(self) -> None:
        for provider in self.behaviour:
            self.behaviour[provider] = Behaviour()
            self.requests[provider].clear()

    async def _misbehave(self, provider: str) -> tuple[str, Response | None]:
        mode = self.behaviour[provider].next()
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if mode == "503":
            return mode, Response(b'{"message": "unavailable"}', status_code=503)
        return mode, None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/aliyun/")
        async def aliyun(request: Request) -> Response:
            params = dict(request.query_params)
            self.requests["aliyun"].append(params)
            mode, early = await self._misbehave("aliyun")
            if early is not None:
                return early
            if aliyun_sms.sign(params, ALIYUN_SECRET) != params.get("Signature"):
                return _json({"Code": "SignatureDoesNotMatch", "Message": "bad signature"}, 400)
            if mode == "permanent":
                return _json({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "illegal number"})
            return _json({"Code": "OK", "Message": "OK", "BizId": f"biz-{len(self.requests['aliyun'])}"})

        @app.post("/twilio/2010-04-01/Accounts/{sid}/Messages.json")
        async def twilio(sid: str, request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            auth = request.headers.get("authorization", "")
            self.requests["twilio"].append({"sid": sid, "auth": auth, **form})
            mode, early = await self._misbehave("twilio")
            if early is not None:
                return early
            expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
            if auth != expected:
                return _json({"code": 20003, "message": "Authenticate", "status": 401}, 401)
            if mode == "permanent":
                return _json({"code": 21211, "message": "The 'To' number is not valid", "status": 400}, 400)
            return _json({"sid": f"SM{len(self.requests['twilio'])}", "status": "queued"}, 201)

        @app.post("/telegram/bot{token}/sendMessage")
        async def telegram(token: str, request: Request) -> Response:
            self.requests["telegram"].append({"token": token, **json.loads(await request.body())})
            mode, early = await self._misbehave("telegram")
            if early is not None:
                return early
            if token != BOT_TOKEN or mode == "permanent":
                return _json(
                    {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, 400
                )
            return _json({"ok": True, "result": {"message_id": len(self.requests["telegram"])}})

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.requests["webhook"].append({"headers": dict(request.headers), "body": body})
            mode, early = await self._misbehave("webhook")
            if early is not None:
                return early
            if not webhook.verify(WEBHOOK_SECRET, request.headers.get(webhook.SIGNATURE_HEADER, ""), body):
                return _json({"error": "bad signature"}, 401)
            if mode == "permanent":
                return _json({"error": "gone"}, 410)
            return _json({"received": True})

        return app


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


class FakeKeys:
    def __init__(self) -> None:
        self.orders: dict[UUID, OrderKeys] = {}

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        if order_id not in self.orders:
            raise NotFound(f"order {order_id} owns no keys")
        return self.orders[order_id]


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with migrated_database("faka_notification_channels", MIGRATIONS) as url:
        yield url


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app served over HTTP on a free loopback port for the block; its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake server did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def providers() -> AsyncIterator[tuple[Providers, str]]:
    fake = Providers()
    async with serving(fake.app()) as base:
        yield fake, base


@pytest.fixture
def fake(providers: tuple[Providers, str]) -> Providers:
    providers[0].reset()
    return providers[0]


def _settings(database: str, base: str, smtp_port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database,
        "smtp_port": smtp_port,
        "smtp_timeout": 2,
        "channel_retry_backoff": 0,
        "provider_timeout": 1,
        "aliyun_sms_base_url": f"{base}/aliyun/",
        "aliyun_sms_access_key_id": "LTAI-test",
        "aliyun_sms_access_key_secret": ALIYUN_SECRET,
        "aliyun_sms_sign_name": "faka 测试",
        "aliyun_sms_templates": {"order_delivered": "SMS_100001", "order_delayed": "SMS_100002"},
        "twilio_base_url": f"{base}/twilio",
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from": "+15005550006",
        "telegram_base_url": f"{base}/telegram",
        "telegram_bot_token": BOT_TOKEN,
        "seller_webhook_url": f"{base}/hook?token=receiver-secret",
        "seller_webhook_secret": WEBHOOK_SECRET,
        "webhook_backoff": 0.05,
        "webhook_max_backoff": 0.2,
        "outbound_allow_list": ["127.0.0.1"],  # the fake providers' server
        # its own namespace: the channel breakers (shared through Redis) are this service's alone
        "kafka_namespace": f"t{uuid4().hex}.",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def make_service(
    database: str, providers: tuple[Providers, str], smtp: tuple[Mailbox, int]
) -> AsyncIterator[Any]:
    made: list[Service] = []

    def make(smtp_port: int | None = None, **overrides: Any) -> tuple[Service, FakeKeys]:
        keys = FakeKeys()
        settings = _settings(database, providers[1], smtp_port or smtp[1], **overrides)
        service = bootstrap(settings, keys=keys)
        made.append(service)
        return service, keys

    yield make
    for service in made:
        for hook in reversed(service.runtime.on_stop):
            await hook()
        await service.runtime.engine.dispose()


async def _add_contact(
    service: Service,
    order_id: UUID,
    phone: str | None = None,
    locale: str = "en",
    shop_id: UUID = DEFAULT_SHOP_ID,
) -> str:
    """The buyer's read model; the phone is stored directly (OrderPlaced carries none yet)."""
    order_no = f"F{order_id.hex[:14].upper()}"
    async with service.uow() as uow:
        await uow.contacts.add(
            BuyerContact(
                order_id,
                order_no,
                "buyer@example.com",
                locale,
                "Loop Licence",
                phone,
                1,
                990,
                "CNY",
                shop_id=shop_id,
            )
        )
        await uow.commit()
    return order_no


def _record(message: Message, envelope: Envelope | None = None) -> Delivery:
    envelope = envelope or Envelope.wrap(message, "test")
    return Delivery(message.topic, 0, 0, message.key.encode(), envelope.to_bytes())


def _delivered(order_id: UUID) -> DeliverySucceeded:
    return DeliverySucceeded(order_id=order_id, delivery_id=uuid4(), mode="card_key", item_count=1)


async def _rows(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _statuses(database: str, order_id: UUID) -> dict[str, tuple[str, str | None]]:
    rows = await _rows(
        database, "SELECT channel, status, error FROM notifications WHERE order_id = $1", order_id
    )
    return {r["channel"]: (r["status"], r["error"]) for r in rows}


async def test_email_server_down_sms_delivers_the_same_notice_with_a_valid_aliyun_signature(
    make_service: Any, fake: Providers, database: str
) -> None:
    service, keys = make_service(smtp_port=_free_port())  # nothing listens there
    order_id = uuid4()
    order_no = await _add_contact(service, order_id, phone="13800000001")
    keys.orders[order_id] = OrderKeys(order_id, [KEY], "Redeem in the app.")

    assert await service.consumer().consume(_record(_delivered(order_id))) == "handled"

    [request] = fake.requests["aliyun"]
    assert request["Action"] == "SendSms" and request["SignatureMethod"] == "HMAC-SHA1"
    assert request["SignatureVersion"] == "1.0" and request["PhoneNumbers"] == "13800000001"
    assert request["TemplateCode"] == "SMS_100001"
    assert aliyun_sms.sign(request, ALIYUN_SECRET) == request["Signature"]
    params = json.loads(request["TemplateParam"])
    assert params["order_no"] == order_no and KEY in params["content"]
    assert fake.requests["twilio"] == []
    statuses = await _statuses(database, order_id)
    assert statuses["email"][0] == "failed" and "did not accept" in (statuses["email"][1] or "")
    assert statuses["aliyun_sms"] == ("sent", None) and statuses["in_site"] == ("sent", None)


async def test_the_same_event_redelivered_five_times_sends_one_email(
    make_service: Any, fake: Providers, smtp: tuple[Mailbox, int], database: str
) -> None:
    service, keys = make_service()
    order_id = uuid4()
    order_no = await _add_contact(service, order_id, phone="13800000002")
    keys.orders[order_id] = OrderKeys(order_id, [KEY])
    consumer = service.consumer()
    same = Envelope.wrap(_delivered(order_id), "delivery")

    outcomes = await asyncio.gather(
        *(consumer.consume(_record(_delivered(order_id), same)) for _ in range(5))
    )
    assert sorted(outcomes) == ["duplicate"] * 4 + ["handled"]
    # five more deliveries of the news under new event ids, at once: still nothing more
    await asyncio.gather(*(consumer.consume(_record(_delivered(order_id))) for _ in range(5)))

    [email] = smtp[0].about(order_no)
    body = email.get_body(("plain",))
    assert body is not None and KEY in body.get_content()
    assert fake.requests["aliyun"] == [] and fake.requests["twilio"] == []
    sent = await _rows(
        database, "SELECT type FROM outbox WHERE key = $1 AND topic LIKE 'notification%'", str(order_id)
    )
    assert len(sent) == 2  # NotificationSent for email and for the order page


async def test_sms_provider_failover_slow_then_permanent_then_twilio(
    make_service: Any, fake: Providers, database: str
) -> None:
    service, keys = make_service(smtp_port=_free_port())
    order_id = uuid4()
    order_no = await _add_contact(service, order_id, phone="+8613800000003")
    keys.orders[order_id] = OrderKeys(order_id, [KEY])
    fake.behaviour["aliyun"] = Behaviour(script=["slow"], always="permanent")

    assert await service.consumer().consume(_record(_delivered(order_id))) == "handled"

    # slow → timeout (transient, retried once), then a permanent refusal: no third try, Twilio sends
    assert len(fake.requests["aliyun"]) == 2
    [sms] = fake.requests["twilio"]
    assert sms["To"] == "+8613800000003" and sms["From"] == "+15005550006"
    assert order_no in sms["Body"] and KEY in sms["Body"]
    statuses = await _statuses(database, order_id)
    assert statuses["aliyun_sms"][0] == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in (
        statuses["aliyun_sms"][1] or ""
    )
    assert statuses["twilio_sms"] == ("sent", None)


async def test_each_try_on_a_channel_is_one_row_that_counts_attempts_and_another_shops_row_stops_the_notice(
    make_service: Any,
) -> None:
    """A notice's try is recorded in one statement after the send (the notice's advisory lock serializes its
    senders, so no row is claimed first): a failure then a send leave one row, sent, with two attempts and
    no error; an order id whose rows are another shop's is refused before anything would be sent."""
    service, _ = make_service()
    shop, other_shop, order_id = uuid4(), uuid4(), uuid4()
    sent_at = datetime.now(UTC)
    async with service.uow() as uow:
        assert await uow.notifications.for_notice(shop, order_id, "order_delivered") == {}
        failure = Try("email", "b@example.com", sent=False, latency_ms=12, error="451 try later")
        await uow.notifications.record_try(shop, order_id, "order_delivered", failure)
        [failed] = (await uow.notifications.for_notice(shop, order_id, "order_delivered")).values()
        assert (failed.status, failed.attempts, failed.error) == ("failed", 1, "451 try later")
        sent = Try(
            "email", "b@example.com", sent=True, latency_ms=30, sent_at=sent_at, provider_message_id="msg-1"
        )
        await uow.notifications.record_try(shop, order_id, "order_delivered", sent)
        rows = await uow.notifications.for_notice(shop, order_id, "order_delivered")
        await uow.commit()
    email = rows["email"]
    assert list(rows) == ["email"] and email.id == failed.id
    assert (email.status, email.attempts, email.error) == ("sent", 2, None)
    assert (email.sent_at, email.provider_message_id, email.latency_ms) == (sent_at, "msg-1", 30)
    async with service.uow() as uow:
        with pytest.raises(LookupError, match="another shop's"):
            await uow.notifications.for_notice(other_shop, order_id, "order_delivered")
        # a try written for another shop's row changes nothing on it
        await uow.notifications.record_try(
            other_shop,
            order_id,
            "order_delivered",
            Try("email", "x@example.com", sent=False, error="not yours"),
        )
        [kept] = (await uow.notifications.for_notice(shop, order_id, "order_delivered")).values()
        await uow.commit()
    assert (kept.status, kept.attempts, kept.recipient) == ("sent", 2, "b@example.com")


async def test_breaker_opens_after_n_failures_and_closes_after_the_reset_time(
    make_service: Any, fake: Providers, database: str
) -> None:
    service, keys = make_service(
        notification_routes={"order_delivered": [["aliyun_sms", "twilio_sms"]]},
        channel_breaker_threshold=2,
        channel_breaker_reset_seconds=0.5,
        channel_retry_attempts=1,
    )
    fake.behaviour["aliyun"] = Behaviour(always="503")
    orders = [uuid4() for _ in range(4)]
    for order_id in orders:
        await _add_contact(service, order_id, phone="13800000004")
        keys.orders[order_id] = OrderKeys(order_id, [KEY])
    consumer = service.consumer()

    for order_id in orders[:2]:
        assert await consumer.consume(_record(_delivered(order_id))) == "handled"
    assert len(fake.requests["aliyun"]) == 2 and len(fake.requests["twilio"]) == 2

    opened_at = time.monotonic()
    assert await consumer.consume(_record(_delivered(orders[2]))) == "handled"
    assert len(fake.requests["aliyun"]) == 2  # open: Aliyun not even asked
    assert len(fake.requests["twilio"]) == 3
    statuses = await _statuses(database, orders[2])
    assert "circuit breaker is open" in (statuses["aliyun_sms"][1] or "")

    fake.behaviour["aliyun"] = Behaviour(always="ok")
    await asyncio.sleep(max(0.0, 0.6 - (time.monotonic() - opened_at)))  # past the reset time
    assert await consumer.consume(_record(_delivered(orders[3]))) == "handled"
    assert len(fake.requests["aliyun"]) == 3 and len(fake.requests["twilio"]) == 3
    assert (await _statuses(database, orders[3]))["aliyun_sms"] == ("sent", None)

    app = create_app(service.runtime, [router(service)], title="test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        channels = (await client.get("/internal/channels", headers=GATEWAY)).json()
    assert {"channel": "aliyun_sms", "breaker": "closed"} in channels["channels"]


async def test_webhook_is_signed_as_documented_and_retried_on_timeout_and_5xx(
    make_service: Any, fake: Providers, database: str
) -> None:
    service, _ = make_service()
    order_id = uuid4()
    order_no = await _add_contact(service, order_id)
    fake.behaviour["webhook"] = Behaviour(script=["slow", "503"])

    review = RiskDecided(order_id=order_id, verdict="review", reasons=["ip_velocity"])
    assert await service.consumer().consume(_record(review)) == "handled"

    attempts = fake.requests["webhook"]
    assert len(attempts) == 3
    assert len({a["headers"]["x-faka-event-id"] for a in attempts}) == 1
    for attempt in attempts:
        header = attempt["headers"]["x-faka-signature"]
        timestamp, v1 = (part.split("=", 1)[1] for part in header.split(","))
        assert webhook.signature(WEBHOOK_SECRET, int(timestamp), attempt["body"]) == v1
        assert abs(time.time() - int(timestamp)) < 60
    document = json.loads(attempts[-1]["body"])
    assert document["type"] == "risk_review" and document["order_id"] == str(order_id)
    assert document["data"]["order_no"] == order_no and document["data"]["reasons"] == ["ip_velocity"]

    log = await _rows(
        database,
        "SELECT attempt, status_code, outcome, url FROM webhook_deliveries WHERE order_id = $1 ORDER BY id",
        order_id,
    )
    assert [(r["attempt"], r["status_code"], r["outcome"]) for r in log] == [
        (1, None, "failed"),
        (2, 503, "failed"),
        (3, 200, "delivered"),
    ]
    assert all("receiver-secret" not in r["url"] for r in log)
    # the seller has no Telegram chat or email configured here: only the webhook chain ran
    assert (await _statuses(database, order_id)) == {"webhook": ("sent", None)}


async def test_permanent_webhook_refusal_is_dead_lettered_with_the_failure_recorded(
    make_service: Any, fake: Providers, database: str
) -> None:
    service, _ = make_service()
    fake.behaviour["webhook"] = Behaviour(always="permanent")
    order_id = uuid4()
    await _add_contact(service, order_id)
    consumer = EventConsumer(
        "notification",
        service.uow,
        service.handlers(),
        RetryPolicy(attempts=2, first_backoff=0.01),
        service.on_give_up,
    )

    review = RiskDecided(order_id=order_id, verdict="review", reasons=[])
    assert await consumer.consume(_record(review)) == "dead_lettered"

    assert len(fake.requests["webhook"]) == 2  # one per consumer attempt: a 410 is not retried
    statuses = await _statuses(database, order_id)
    assert statuses["webhook"][0] == "failed" and "HTTP 410" in (statuses["webhook"][1] or "")
    outbox = await _rows(database, "SELECT topic, type, value FROM outbox WHERE key = $1", str(order_id))
    assert sorted(r["type"] for r in outbox) == ["NotificationFailed", "RiskDecided"]
    assert any(r["topic"].endswith(".dlq") for r in outbox)


async def test_a_webhook_whose_host_resolves_to_an_internal_address_is_refused_when_called(
    make_service: Any, fake: Providers, providers: tuple[Providers, str], database: str
) -> None:
    named = providers[1].replace("127.0.0.1", "localhost")
    service, _ = make_service(
        outbound_allow_list=[],
        aliyun_sms_base_url=f"{named}/aliyun/",
        twilio_base_url=f"{named}/twilio",
        telegram_base_url=f"{named}/telegram",
        seller_webhook_url=f"{named}/hook",
    )
    order_id = uuid4()
    await _add_contact(service, order_id)

    review = RiskDecided(order_id=order_id, verdict="review", reasons=[])
    await service.consumer().consume(_record(review))

    assert fake.requests["webhook"] == []
    log = await _rows(
        database, "SELECT attempt, outcome, error FROM webhook_deliveries WHERE order_id = $1", order_id
    )
    assert log and all(r["outcome"] == "failed" for r in log)
    assert all(r["attempt"] == 1 for r in log)  # refused for good: the channel does not retry it
    assert (
        "outgoing connection refused: localhost resolves to 127.0.0.1, which is a loopback address"
        in (log[0]["error"])
    )
    assert (await _statuses(database, order_id))["webhook"][0] == "failed"


async def test_delivery_failure_alerts_the_seller_on_telegram_and_tells_the_buyer_we_are_on_it(
    make_service: Any, fake: Providers, smtp: tuple[Mailbox, int], database: str
) -> None:
    service, _ = make_service(
        seller_telegram_chat_id="-100777", seller_webhook_secret=None, seller_webhook_url=None
    )
    order_id = uuid4()
    order_no = await _add_contact(service, order_id, locale="zh-CN")

    failed = DeliveryFailed(order_id=order_id, delivery_id=uuid4(), reason="all suppliers failed")
    assert await service.consumer().consume(_record(failed)) == "handled"

    [alert] = fake.requests["telegram"]
    assert alert["token"] == BOT_TOKEN and alert["chat_id"] == "-100777"
    assert order_no in alert["text"] and "all suppliers failed" in alert["text"]
    [email] = smtp[0].about(order_no)
    assert "正在处理" in str(email["Subject"])

    app = create_app(service.runtime, [router(service)], title="test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        page = await client.get(f"/internal/orders/{order_id}/messages", headers=GATEWAY)
        empty = await client.get(f"/internal/orders/{uuid4()}/messages", headers=GATEWAY)
        refused = await client.get(f"/internal/orders/{order_id}/messages")
    assert page.status_code == 200
    [message] = page.json()["items"]
    assert message["template"] == "order_delayed" and order_no in message["subject"]
    assert empty.json()["items"] == [] and refused.status_code == 401


async def test_order_placed_then_delivery_through_the_consumer_records_order_facts(
    make_service: Any, fake: Providers, smtp: tuple[Mailbox, int]
) -> None:
    service, keys = make_service()
    order_id = uuid4()
    placed = OrderPlaced(
        order_id=order_id,
        order_no=f"F{order_id.hex[:14].upper()}",
        product_id=uuid4(),
        product_title="Placed Licence",
        quantity=2,
        amount=1990,
        currency="CNY",
        buyer_email="placed@example.com",
        locale="en",
    )
    keys.orders[order_id] = OrderKeys(order_id, [KEY, KEY + "-2"])
    consumer = service.consumer()
    assert await consumer.consume(_record(placed)) == "handled"
    assert await consumer.consume(_record(_delivered(order_id))) == "handled"
    [email] = smtp[0].about(placed.order_no)
    body = email.get_body(("plain",))
    assert body is not None and KEY + "-2" in body.get_content() and "UTC" in body.get_content()


LINK_SECRET = "telegram-link-test-secret"


async def _link(service: Service, body: dict[str, Any]) -> httpx.Response:
    app = create_app(service.runtime, [router(service)], title="test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.post("/internal/telegram/links", json=body, headers=GATEWAY)


async def test_a_linked_telegram_chat_gets_delivered_and_delayed_notices_once_without_the_key(
    make_service: Any, fake: Providers, smtp: tuple[Mailbox, int], database: str
) -> None:
    service, keys = make_service(telegram_link_secret=LINK_SECRET)
    order_id = uuid4()
    order_no = await _add_contact(service, order_id)
    keys.orders[order_id] = OrderKeys(order_id, [KEY])

    linked = await _link(service, {"chat_id": "4242", "token": chat_link.sign(LINK_SECRET, order_id, 600)})

    assert linked.status_code == 200, linked.text
    assert linked.json() == {"order_id": str(order_id), "linked": True, "confirmed": True}
    [confirmation] = fake.requests["telegram"]
    assert confirmation["chat_id"] == "4242" and confirmation["token"] == BOT_TOKEN
    assert order_no in confirmation["text"] and "order page" in confirmation["text"]
    fake.requests["telegram"].clear()

    consumer = service.consumer()
    delivered = _delivered(order_id)
    same = Envelope.wrap(delivered, "delivery")
    outcomes = await asyncio.gather(*(consumer.consume(_record(delivered, same)) for _ in range(3)))
    assert sorted(outcomes) == ["duplicate"] * 2 + ["handled"]
    assert await consumer.consume(_record(_delivered(order_id))) == "handled"  # the news again, new id
    delayed = DeliveryDelayed(
        order_id=order_id,
        delivery_id=uuid4(),
        paid_at=datetime.now(UTC),
        threshold_minutes=5,
        status="pending",
    )
    for _ in range(2):
        assert await consumer.consume(_record(delayed)) == "handled"

    sent = fake.requests["telegram"]
    assert [m["chat_id"] for m in sent] == ["4242", "4242"]
    assert order_no in sent[0]["text"] and "delivered" in sent[0]["text"] and KEY not in sent[0]["text"]
    assert "order page" in sent[0]["text"]
    assert order_no in sent[1]["text"] and "delivered" not in sent[1]["text"]
    [email] = smtp[0].about(f"{order_no} has been delivered")
    body = email.get_body(("plain",))
    assert body is not None and KEY in body.get_content()  # the e-mail still carries the key
    rows = await _rows(
        database,
        "SELECT template, status FROM notifications WHERE order_id = $1 AND channel = 'telegram'",
        order_id,
    )
    assert sorted((r["template"], r["status"]) for r in rows) == [
        ("order_delayed", "sent"),
        ("order_delivered", "sent"),
    ]


async def test_telegram_carries_the_key_only_when_the_settings_say_so(
    make_service: Any, fake: Providers
) -> None:
    service, keys = make_service(telegram_link_secret=LINK_SECRET, telegram_carries_keys=True)
    order_id = uuid4()
    await _add_contact(service, order_id)
    keys.orders[order_id] = OrderKeys(order_id, [KEY])
    token = chat_link.sign(LINK_SECRET, order_id, 600)
    assert (await _link(service, {"chat_id": "-1001", "token": token})).status_code == 200

    assert await service.consumer().consume(_record(_delivered(order_id))) == "handled"

    [_, notice] = fake.requests["telegram"]
    assert notice["chat_id"] == "-1001" and KEY in notice["text"]


async def test_a_forged_or_expired_link_is_refused_told_to_the_chat_and_stores_nothing(
    make_service: Any, fake: Providers, database: str
) -> None:
    service, _ = make_service(telegram_link_secret=LINK_SECRET)
    order_id = uuid4()
    await _add_contact(service, order_id)

    forged = await _link(
        service,
        {"chat_id": "77", "token": chat_link.sign("other-secret", order_id, 600), "language_code": "en"},
    )
    expired = await _link(
        service, {"chat_id": "77", "token": chat_link.sign(LINK_SECRET, order_id, 60, now=time.time() - 120)}
    )
    malformed = await _link(service, {"chat_id": "not-a-chat", "token": "x"})

    assert forged.status_code == 400 and forged.json()["error"] == "invalid_chat_link"
    assert expired.status_code == 400 and "expired" in expired.json()["message"]
    assert malformed.status_code == 422
    assert [m["chat_id"] for m in fake.requests["telegram"]] == ["77", "77"]
    told = [m["text"] for m in fake.requests["telegram"]]
    assert "does not work" in told[0] and "链接无效或已过期" in told[1]  # in the Telegram user's language
    assert await _rows(database, "SELECT 1 FROM telegram_chats WHERE order_id = $1", order_id) == []


async def test_linking_is_refused_while_the_shop_has_no_link_secret(
    make_service: Any, fake: Providers
) -> None:
    service, _ = make_service()
    order_id = uuid4()
    response = await _link(service, {"chat_id": "5", "token": chat_link.sign(LINK_SECRET, order_id, 600)})
    assert response.status_code == 404 and "not enabled" in response.json()["message"]
    assert fake.requests["telegram"] == []
