"""Sending as the shop: a shop's buyer e-mails come From its sender through its own SMTP server (logged in
with the password it set, sealed at rest), else through the platform's; a failing or unsafe shop server
falls back to the platform's with the same From. A shop's seller alerts go to its own recipients and its
own signed webhook; without any, the default shop's reach the platform's seller and another shop's reach
nobody, which the notification log says.

Two real SMTP servers (aiosmtpd: the shop's, with a login, and the platform's), a real webhook receiver,
real Postgres; events go through the service's own consumer. Inventory's key lookup is an in-memory fake.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from faka_common.breakers import close_breakers
from faka_common.contracts import DeliverySucceeded, OrderPlaced
from faka_common.contracts.inventory import LowStock
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.http import create_app
from faka_common.testing import as_caller, statements_run
from fastapi import FastAPI, Request, Response
from notification.adapters.channels import webhook
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.domain.model import OrderKeys
from notification.domain.shop_channels import ShopChannels, ShopSmtp
from notification.entrypoints.http import router

from .test_channels import Mailbox, _free_port, _record, _rows, database, serving
from .test_email import FakeKeys
from .test_shop_voice import SOLD_KEY, changed, sell, tell

pytestmark = pytest.mark.integration
__all__ = ["database"]

MAIL_FROM = "Cards Platform <no-reply@platform.example>"
SELLER = "seller@platform.example"
SHOP_LOGIN, SHOP_PASSWORD = "cards", "Shop-SMTP-pa55word"
SHOP_WEBHOOK_SECRET = "whsec-the-shops-own-0123456789"


class Logins:
    """The shop server's authenticator: accepts its one login, keeps every attempt."""

    def __init__(self) -> None:
        self.tried: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.tried.append((login, password))
        return AuthResult(success=(login, password) == (SHOP_LOGIN, SHOP_PASSWORD))


@dataclass
class Servers:
    platform: Mailbox
    platform_port: int
    shop: Mailbox
    shop_port: int
    logins: Logins


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    platform, shop, logins = Mailbox(), Mailbox(), Logins()
    platform_port, shop_port = _free_port(), _free_port()
    running = [
        Controller(platform, hostname="127.0.0.1", port=platform_port),
        Controller(shop, hostname="127.0.0.1", port=shop_port, authenticator=logins, auth_require_tls=False),
    ]
    for server in running:
        server.start()
    try:
        yield Servers(platform, platform_port, shop, shop_port, logins)
    finally:
        for server in running:
            server.stop()


@dataclass
class Receiver:
    """Sellers' webhook receivers: /hooks/faka keeps each POST and whether it was signed with the shop's
    secret; /hooks/down answers 503 to each (counted)."""

    posts: list[tuple[bytes, bool]] = field(default_factory=list)
    refused: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks/faka")
        async def hook(request: Request) -> Response:
            body = await request.body()
            signed = request.headers.get(webhook.SIGNATURE_HEADER, "")
            self.posts.append((body, webhook.verify(SHOP_WEBHOOK_SECRET, signed, body)))
            return Response(status_code=204)

        @app.post("/hooks/down")
        async def down() -> Response:
            self.refused += 1
            return Response(status_code=503)

        return app


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    fake = Receiver()
    async with serving(fake.app()) as base:
        yield fake, f"{base}/hooks/faka"


def settings(database: str, servers: Servers, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database,
        "smtp_port": servers.platform_port,
        "smtp_timeout": 2,
        "channel_retry_backoff": 0,
        "mail_from": MAIL_FROM,
        "seller_email": SELLER,
        "webhook_backoff": 0.05,
        "webhook_max_backoff": 0.2,
        "outbound_allow_list": ("127.0.0.1",),  # the shop's SMTP server and webhook receiver
        "kafka_namespace": f"t{uuid4().hex}.",
    }
    return Settings(**(values | overrides))


@pytest.fixture
async def made(database: str, servers: Servers) -> AsyncIterator[Any]:
    services: list[Service] = []

    def make(**overrides: Any) -> tuple[Service, FakeKeys]:
        keys = FakeKeys()
        services.append(bootstrap(settings(database, servers, **overrides), keys=keys))
        return services[-1], keys

    yield make
    for service in services:
        for hook in reversed(service.runtime.on_stop):
            await hook()
        await close_breakers(service.breakers)
        await service.runtime.engine.dispose()


async def put_channels(service: Service, shop: UUID, body: dict[str, Any]) -> None:
    app = create_app(service.runtime, [router(service)], title="test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification.test") as api:
        answer = await api.put(
            "/internal/shop-channels", json=body, headers={**as_caller("gateway"), "X-Shop-Id": str(shop)}
        )
    assert answer.status_code == 200, answer.text


def sender(mail: EmailMessage) -> tuple[str, str]:
    [address] = mail["From"].addresses
    assert isinstance(address, Address)
    return address.display_name, address.addr_spec


def body(mail: EmailMessage) -> str:
    text = mail.get_body(("plain",))
    assert text is not None
    return str(text.get_content())


async def test_a_shops_buyer_email_comes_from_its_sender_through_its_own_server_logged_in(
    made: Any, servers: Servers
) -> None:
    service, keys = made()
    shop = uuid4()
    await put_channels(
        service,
        shop,
        {
            "from_name": "Game Cards 游戏卡",
            "from_address": "sales@cards.example",
            "reply_to": "help@cards.example",
            "smtp": {
                "host": "127.0.0.1",
                "port": servers.shop_port,
                "security": "none",
                "username": SHOP_LOGIN,
                "password": SHOP_PASSWORD,
            },
        },
    )
    order_no, key = await sell(service, keys, shop), SOLD_KEY

    [mail] = servers.shop.about(order_no)
    assert servers.platform.about(order_no) == []
    assert sender(mail) == ("Game Cards 游戏卡", "sales@cards.example")
    assert str(mail["Reply-To"]) == "help@cards.example" and key in body(mail)
    assert (SHOP_LOGIN, SHOP_PASSWORD) in servers.logins.tried


async def test_a_shop_without_a_sender_speaks_in_its_name_from_the_platforms_address_and_server(
    made: Any, servers: Servers
) -> None:
    service, keys = made()
    named, unknown = uuid4(), uuid4()
    await tell(service, changed(named, name="Tea Cards"))
    named_no = await sell(service, keys, named)
    unknown_no = await sell(service, keys, unknown)

    [from_named] = servers.platform.about(named_no)
    [from_unknown] = servers.platform.about(unknown_no)
    assert sender(from_named) == ("Tea Cards", "no-reply@platform.example")
    assert sender(from_unknown) == ("Cards Platform", "no-reply@platform.example")  # MAIL_FROM as it is
    assert from_named["Reply-To"] is None
    assert servers.shop.about(named_no) == servers.shop.about(unknown_no) == []


async def test_a_failing_shop_server_falls_back_to_the_platforms_with_the_same_from_and_is_logged(
    made: Any, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    service, keys = made()
    shop = uuid4()
    closed = _free_port()  # nobody listens there
    own = {"host": "127.0.0.1", "port": closed, "security": "none"}
    await put_channels(service, shop, {"from_address": "sales@down.example", "smtp": own})

    with caplog.at_level(logging.WARNING, logger="notification.adapters.shop_mail"):
        order_no, key = await sell(service, keys, shop), SOLD_KEY

    [mail] = servers.platform.about(order_no)
    assert sender(mail)[1] == "sales@down.example" and key in body(mail)
    [warning] = [r for r in caplog.records if r.name == "notification.adapters.shop_mail"]
    assert f"127.0.0.1:{closed} failed" in warning.getMessage()
    assert key not in caplog.text
    [row] = await _rows(
        service.settings.database_url,
        "SELECT n.status FROM notifications n JOIN buyer_contacts c USING (order_id) "
        "WHERE c.order_no = $1 AND n.channel = 'email'",
        order_no,
    )
    assert row["status"] == "sent"


async def test_a_shop_server_the_guard_refuses_when_connecting_is_never_reached(
    made: Any, servers: Servers
) -> None:
    # Loopback was allowed when the shop set its server; on this replica it is not (as a DNS name that
    # resolves somewhere else by now): the connection is refused before it is opened, the platform sends.
    service, keys = made(outbound_allow_list=())
    shop = uuid4()
    async with service.uow() as uow:
        own = ShopSmtp("127.0.0.1", servers.shop_port, "none", SHOP_LOGIN, SHOP_PASSWORD)
        await uow.shop_channels.save(ShopChannels(shop, from_address="sales@cards.example", smtp=own))
        await uow.commit()
    tried = len(servers.logins.tried)

    order_no = await sell(service, keys, shop)

    assert servers.shop.about(order_no) == [] and len(servers.logins.tried) == tried
    [mail] = servers.platform.about(order_no)
    assert sender(mail)[1] == "sales@cards.example"


async def placed(service: Service, keys: FakeKeys, shop: UUID) -> tuple[str, DeliverySucceeded]:
    """An order of the shop placed through the consumer (its key SOLD_KEY): its number, and the event of its
    delivery, not yet handled."""
    order_id = uuid4()
    order_no = f"F{order_id.hex[:14].upper()}"
    keys.orders[order_id] = OrderKeys(order_id, [SOLD_KEY])
    order = OrderPlaced(
        order_id=order_id, shop_id=shop, order_no=order_no, product_id=uuid4(), product_title="Licence",
        quantity=1, amount=990, currency="CNY", buyer_email="buyer@example.com", locale="en",
    )  # fmt: skip
    assert await service.consumer().consume(_record(order)) == "handled"
    return order_no, DeliverySucceeded(
        order_id=order_id, shop_id=shop, delivery_id=uuid4(), mode="card_key", item_count=1
    )


#: The statements of one delivered notice (e-mail and order page) between its BEGIN and COMMIT: the
#: addressee with the shop's sending settings, the notice's lock, its rows, the order page's message, the
#: tries of both channels, the announcements. Eight while the shop's settings were a statement of their
#: own (`ShopChannelRepository.get`) and each try one of its own.
DELIVERED_NOTICE_STATEMENTS = 6


async def test_a_delivered_notice_reads_the_shops_sending_settings_with_its_addressee_in_one_statement(
    made: Any, servers: Servers
) -> None:
    """A shop with its own sender and server, and one without any settings: the delivered e-mail of each
    takes the same statements, the shop's settings read with the addressee (none on their own), and goes
    as before: From the shop's sender through its server logged in, or From the platform's address
    through the platform's server."""
    service, keys = made()
    own, bare = uuid4(), uuid4()
    smtp = {
        "host": "127.0.0.1",
        "port": servers.shop_port,
        "security": "none",
        "username": SHOP_LOGIN,
        "password": SHOP_PASSWORD,
    }
    await put_channels(
        service, own, {"from_name": "Game Cards", "from_address": "sales@cards.example", "smtp": smtp}
    )
    for shop in (own, bare):  # the connection's type codecs and the shop's wording (cached) read before
        await sell(service, keys, shop)
    expected = [
        (own, servers.shop, ("Game Cards", "sales@cards.example")),
        (bare, servers.platform, ("Cards Platform", "no-reply@platform.example")),
    ]

    for shop, server, from_ in expected:
        order_no, delivered = await placed(service, keys, shop)
        async with statements_run(service.runtime.engine) as sent, service.uow() as uow:
            await service.handlers()[DeliverySucceeded](delivered, uow)
            await uow.commit()

        # the outbox relay's wake-up after an earlier commit goes on a connection of its own
        notice = [q for q in sent if not q.startswith(("SELECT pg_notify(", "BEGIN", "COMMIT"))]
        assert len(notice) == DELIVERED_NOTICE_STATEMENTS, notice
        [read] = [q for q in notice if "shop_channels" in q]
        assert len([q for q in notice if q.startswith("INSERT INTO notifications")]) == 1, (
            "both tries at once"
        )
        assert "FROM buyer_contacts c" in read and "LEFT JOIN shop_channels" in read
        [mail] = server.about(order_no)
        assert sender(mail) == from_ and SOLD_KEY in body(mail)
    assert (SHOP_LOGIN, SHOP_PASSWORD) in servers.logins.tried


def low_stock(shop: UUID) -> LowStock:
    product = uuid4()
    return LowStock(shop_id=shop, product_id=product, title=f"P-{product.hex[:8]}", available=1, threshold=5)


def alerts_about(mailbox: Mailbox, event: LowStock) -> list[EmailMessage]:
    return [m for m in mailbox.messages if event.title in body(m)]


async def test_a_shops_alerts_go_to_its_own_recipients_and_its_webhook_signed_with_its_secret(
    made: Any, servers: Servers, receiver: tuple[Receiver, str], database: str
) -> None:
    service, _ = made()
    hooks, url = receiver
    shop = uuid4()
    await put_channels(
        service,
        shop,
        {
            "alert_emails": ["owner@cards.example", "ops@cards.example"],
            "webhook_url": url,
            "webhook_secret": SHOP_WEBHOOK_SECRET,
        },
    )
    before = len(hooks.posts)
    event = low_stock(shop)
    assert await service.consumer().consume(_record(event)) == "handled"

    [alert] = alerts_about(servers.platform, event)
    assert {a.addr_spec for a in alert["To"].addresses} == {"owner@cards.example", "ops@cards.example"}
    [(posted, signed)] = hooks.posts[before:]
    assert signed and event.title.encode() in posted
    shops = await _rows(database, "SELECT DISTINCT shop_id FROM webhook_deliveries WHERE url = $1", url)
    assert [r["shop_id"] for r in shops] == [shop]


async def test_without_recipients_the_default_shops_alert_reaches_the_platforms_seller_and_another_nobody(
    made: Any, servers: Servers, database: str
) -> None:
    service, _ = made()
    own, other = low_stock(DEFAULT_SHOP_ID), low_stock(uuid4())
    for event in (own, other):
        assert await service.consumer().consume(_record(event)) == "handled"

    [alert] = alerts_about(servers.platform, own)
    assert [a.addr_spec for a in alert["To"].addresses] == [SELLER]
    assert alerts_about(servers.platform, other) == [] and alerts_about(servers.shop, other) == []
    [row] = await _rows(
        database, "SELECT channel, status, error FROM notifications WHERE shop_id = $1", other.shop_id
    )
    assert (row["channel"], row["status"]) == ("none", "failed")
    assert "names no alert recipients" in row["error"]


async def test_one_shops_dead_webhook_opens_its_own_breaker_and_stops_no_other_shops_webhook(
    made: Any, servers: Servers, receiver: tuple[Receiver, str]
) -> None:
    service, _ = made(channel_breaker_threshold=1, webhook_attempts=1, breaker_store="memory")
    hooks, url = receiver
    dead, alive = uuid4(), uuid4()
    down = url.replace("/hooks/faka", "/hooks/down")
    for shop, hook in ((dead, down), (alive, url)):
        settings = {"alert_emails": ["owner@shop.example"], "webhook_secret": SHOP_WEBHOOK_SECRET}
        await put_channels(service, shop, {**settings, "webhook_url": hook})
    refused, posted = hooks.refused, len(hooks.posts)

    for event in (low_stock(dead), low_stock(dead), low_stock(alive)):
        assert await service.consumer().consume(_record(event)) == "handled"

    assert hooks.refused == refused + 1  # the dead shop's breaker opened: its second alert is not tried
    [(_, signed)] = hooks.posts[posted:]  # and the other shop's webhook is delivered all the same
    assert signed
