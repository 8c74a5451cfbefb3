"""Shops: every notification row belongs to the shop of its order. A request acting for shop B that names shop
A's order is answered as an unknown order is and changes nothing; rows made from an event and the events out
carry the event's shop; what notification asks of other services (keys, delivered content, a buyer's link) it
asks for the order's shop; another shop's alert does not reach the installation's seller; the migration files
existing rows under the default shop.

Postgres, SMTP (aiosmtpd) and the providers' HTTP server are real; inventory and order are fakes that answer
as the scoped owners do (only for the order's own shop) behind the real adapters.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from alembic import command
from faka_common import chat_link
from faka_common.contracts import (
    DEFAULT_SHOP_ID,
    DeliverySucceeded,
    Envelope,
    Message,
    NotificationFailed,
    NotificationSent,
    OrderPaid,
    OrderPlaced,
    RiskDecided,
)
from faka_common.contracts.order import OrderLinkRequested
from faka_common.db.migrations import alembic_config, ensure_database
from faka_common.http import SHOP_HEADER, InternalClient, create_app
from faka_common.key_reveals import REVEALS_PATH, KeyReveals
from faka_common.messaging.consumer import EventConsumer, RetryPolicy
from faka_common.testing import (
    OPERATIONAL_ROUTES,
    asgi_client,
    database_url_for,
    drop_database,
    server_url,
    shop_scoping,
)
from notification.adapters.delivery import DeliveredContent
from notification.adapters.inventory import InventoryKeys
from notification.adapters.order_links import OrderLinks
from notification.bootstrap import Service, bootstrap
from notification.config import MIGRATIONS
from notification.domain.model import BuyerContactMissing
from notification.entrypoints.http import router

from .test_channels import (
    LINK_SECRET,
    Mailbox,
    Providers,
    _free_port,
    _record,
    _rows,
    _settings,
    database,
    fake,
    providers,
    smtp,
)
from .test_email import _placed as placed_order

pytestmark = pytest.mark.integration
__all__ = ["database", "fake", "providers", "smtp"]  # the fixtures, shared with the channel tests

#: Routes that own no shop's rows; every other route must be scoped by the shop (and be in CASES below).
NOT_SHOP_OWNED = {
    *OPERATIONAL_ROUTES,
    # the platform's channels and breakers serve every shop (a shop's own stand before them)
    ("GET", "/internal/channels"),
    # the keyring is the platform's: a rotation re-seals every shop's channel secrets
    ("POST", "/internal/keys/reencrypt"),
}

SHOP_TABLES = ("buyer_contacts", "notifications", "in_site_messages", "webhook_deliveries", "telegram_chats")


def acting_for(shop: UUID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop)}


class ScopedOwners:
    """Inventory's `POST /internal/keys/reveals`, delivery's `GET /internal/deliveries/{id}/content` and
    order's `POST /internal/orders/{no}/links` as the scoped owners answer them: for the order's own shop
    (X-Shop-Id, or the one each revealed order names) only; any other's as an order that does not exist."""

    def __init__(self) -> None:
        self.shop_of: dict[str, UUID] = {}  # order id or order number -> its shop
        self.requests: list[httpx.Request] = []

    def add(self, shop: UUID, order_id: UUID, order_no: str) -> None:
        self.shop_of[str(order_id)] = self.shop_of[order_no] = shop

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == REVEALS_PATH:
            asked = json.loads(request.content)["orders"]
            keys = [
                {**o, "keys": [{"key_id": str(uuid4()), "content": f"KEY-{o['order_id'][:8]}"}]}
                for o in asked
                if self.shop_of.get(o["order_id"]) == UUID(o["shop_id"])
            ]
            return httpx.Response(200, json={"orders": keys})
        subject, what = request.url.path.split("/")[-2:]
        if self.shop_of.get(subject) != UUID(request.headers.get(SHOP_HEADER, str(DEFAULT_SHOP_ID))):
            return httpx.Response(404, json={"error": "not_found", "message": f"no order {subject}"})
        if what == "content":
            return httpx.Response(200, json={"order_id": subject, "content": f"CONTENT-{subject[:8]}"})
        return httpx.Response(200, json={"order_no": subject, "url": f"https://shop.test/o/{subject}?t=x"})


def acts_for(request: httpx.Request) -> list[str]:
    """The shops a call to an owner acts for: its X-Shop-Id, or those a batch of reveals names."""
    if request.url.path == REVEALS_PATH:
        return [asked["shop_id"] for asked in json.loads(request.content)["orders"]]
    return [request.headers[SHOP_HEADER]]


@pytest.fixture
async def made(
    database: str, providers: tuple[Providers, str], smtp: tuple[Mailbox, int]
) -> AsyncIterator[Callable[..., tuple[Service, ScopedOwners]]]:
    services: list[Service] = []
    clients: list[InternalClient] = []

    def make(smtp_port: int | None = None, **overrides: Any) -> tuple[Service, ScopedOwners]:
        port = smtp_port or smtp[1]
        settings = _settings(database, providers[1], port, telegram_link_secret=LINK_SECRET, **overrides)
        owners = ScopedOwners()

        def client() -> InternalClient:
            transport = httpx.MockTransport(owners)
            clients.append(InternalClient("http://owner.test", settings.credential(), transport=transport))
            return clients[-1]

        service = bootstrap(
            settings,
            keys=InventoryKeys(KeyReveals(client())),
            content=DeliveredContent(client()),
            links=OrderLinks(client()),
        )
        services.append(service)
        return service, owners

    yield make
    for service in services:
        for hook in reversed(service.runtime.on_stop):
            await hook()
        await service.runtime.engine.dispose()
    for internal in clients:
        await internal.aclose()


def _placed(shop: UUID) -> OrderPlaced:
    return placed_order(uuid4()).model_copy(update={"shop_id": shop})


def _paid(placed: OrderPlaced) -> OrderPaid:
    return OrderPaid(
        order_id=placed.order_id,
        shop_id=placed.shop_id,
        order_no=placed.order_no,
        product_id=placed.product_id,
        quantity=1,
        amount=990,
        currency="CNY",
        provider="sandbox",
        trade_no=f"T{placed.order_no}",
        paid_at=datetime.now(UTC),
    )


def _delivered(shop: UUID, order_id: UUID, mode: str = "card_key") -> DeliverySucceeded:
    return DeliverySucceeded(order_id=order_id, shop_id=shop, delivery_id=uuid4(), mode=mode, item_count=1)


async def _consume(service: Service, *messages: Message, consumer: Any = None) -> list[str]:
    consumer = consumer or service.consumer()
    return [await consumer.consume(_record(message)) for message in messages]


async def _placed_in(service: Service, owners: ScopedOwners, shop: UUID) -> OrderPlaced:
    placed = _placed(shop)
    owners.add(shop, placed.order_id, placed.order_no)
    assert await _consume(service, placed, _paid(placed)) == ["handled", "handled"]
    return placed


async def _shops_of(database: str, order_id: UUID) -> dict[str, set[UUID]]:
    """The shop of every row about the order, per table."""
    shops: dict[str, set[UUID]] = {}
    for table in SHOP_TABLES:
        rows = await _rows(database, f"SELECT shop_id FROM {table} WHERE order_id = $1", order_id)
        shops[table] = {r["shop_id"] for r in rows}
    return shops


async def _events_out(database: str, order_id: UUID) -> list[NotificationSent | NotificationFailed]:
    """What the service emitted about the order (its outbox), oldest first."""
    rows = await _rows(database, "SELECT value FROM outbox WHERE key = $1 ORDER BY id", str(order_id))
    events = [Envelope.from_bytes(r["value"]).open() for r in rows]
    return [e for e in events if isinstance(e, NotificationSent | NotificationFailed)]


def text_of(mail: Any) -> str:
    """The plain-text body as the buyer reads it (decoded from whatever transfer encoding it travelled in)."""
    body = mail.get_body(("plain",))
    assert body is not None, "the e-mail has a plain-text part"
    return str(body.get_content())


async def test_an_order_of_a_shop_is_notified_with_that_shop_on_every_row_event_and_call(
    made: Any, smtp: tuple[Mailbox, int], database: str
) -> None:
    service, owners = made()
    shop = uuid4()
    placed = await _placed_in(service, owners, shop)
    asked = OrderLinkRequested(
        order_id=placed.order_id, shop_id=shop, order_no=placed.order_no, requested_at=datetime.now(UTC)
    )

    assert await _consume(service, _delivered(shop, placed.order_id), asked) == ["handled", "handled"]

    delivered, link = smtp[0].about(placed.order_no)
    assert f"KEY-{str(placed.order_id)[:8]}" in text_of(delivered)
    assert f"https://shop.test/o/{placed.order_no}" in text_of(link)
    assert [acting for r in owners.requests for acting in acts_for(r)] == [str(shop), str(shop)]
    assert await _shops_of(database, placed.order_id) == {
        "buyer_contacts": {shop},
        "notifications": {shop},
        "in_site_messages": {shop},
        "webhook_deliveries": set(),
        "telegram_chats": set(),
    }
    events = await _events_out(database, placed.order_id)
    assert sorted((e.template.split(":")[0], e.channel) for e in events) == [
        ("order_delivered", "email"),
        ("order_delivered", "in_site"),
        ("order_link", "email"),
        ("order_paid", "in_site"),
    ]
    assert {e.shop_id for e in events} == {shop}


async def test_delivered_content_is_read_for_the_orders_shop(made: Any, smtp: tuple[Mailbox, int]) -> None:
    service, owners = made()
    shop = uuid4()
    placed = await _placed_in(service, owners, shop)

    assert await _consume(service, _delivered(shop, placed.order_id, mode="manual")) == ["handled"]

    [email] = smtp[0].about(placed.order_no)
    assert f"CONTENT-{str(placed.order_id)[:8]}" in text_of(email)
    [read] = owners.requests
    assert read.url.path.endswith("/content") and read.headers[SHOP_HEADER] == str(shop)


async def test_a_notice_given_up_on_is_recorded_and_announced_in_the_orders_shop(
    made: Any, database: str
) -> None:
    service, owners = made(smtp_port=_free_port(), notification_routes={"order_delivered": [["email"]]})
    shop = uuid4()
    placed = await _placed_in(service, owners, shop)
    consumer = EventConsumer(
        "notification", service.uow, service.handlers(), RetryPolicy(attempts=1), service.on_give_up
    )

    assert await _consume(service, _delivered(shop, placed.order_id), consumer=consumer) == ["dead_lettered"]

    [row] = await _rows(
        database,
        "SELECT shop_id, status FROM notifications WHERE order_id = $1 AND channel = 'email'",
        placed.order_id,
    )
    assert (row["shop_id"], row["status"]) == (shop, "failed")
    failed = [e for e in await _events_out(database, placed.order_id) if isinstance(e, NotificationFailed)]
    assert [(e.shop_id, e.channel) for e in failed] == [(shop, "email")]


async def test_an_event_naming_another_shops_order_reaches_nobody_and_reads_nothing(
    made: Any, smtp: tuple[Mailbox, int], database: str
) -> None:
    service, owners = made()
    shop_a, shop_b = uuid4(), uuid4()
    placed = await _placed_in(service, owners, shop_a)
    before = await _shops_of(database, placed.order_id)

    async with service.uow() as uow:
        with pytest.raises(BuyerContactMissing):
            await service.handlers()[DeliverySucceeded](_delivered(shop_b, placed.order_id), uow)

    assert smtp[0].about(placed.order_no) == [] and owners.requests == []
    assert await _shops_of(database, placed.order_id) == before


async def test_another_shops_alert_does_not_reach_the_installations_seller_and_the_default_shops_does(
    made: Any, fake: Providers, database: str
) -> None:
    service, _ = made()
    other, own = uuid4(), uuid4()

    review = RiskDecided(order_id=other, shop_id=uuid4(), verdict="review", reasons=["ip_velocity"])
    assert await _consume(service, review) == ["handled"]
    assert fake.requests["webhook"] == [] and fake.requests["telegram"] == []
    # the notification log says it was not sent, and why
    [row] = await _rows(database, "SELECT * FROM notifications WHERE order_id = $1", other)
    assert (row["template"], row["channel"], row["status"], row["recipient"]) == (
        "risk_review",
        "none",
        "failed",
        "",
    )
    assert "names no alert recipients" in row["error"] and await _events_out(database, other) == []

    review = RiskDecided(order_id=own, shop_id=DEFAULT_SHOP_ID, verdict="review", reasons=["ip_velocity"])
    assert await _consume(service, review) == ["handled"]
    assert len(fake.requests["webhook"]) == 1
    assert (await _shops_of(database, own))["webhook_deliveries"] == {DEFAULT_SHOP_ID}
    [sent] = await _events_out(database, own)
    assert (sent.shop_id, sent.channel) == (DEFAULT_SHOP_ID, "webhook")


# --- the isolation walker ---------------------------------------------------------------------------------


@dataclass
class Shops:
    """Shop A's order (placed and paid: its notification log and order-page message exist) and shop B."""

    service: Service
    api: httpx.AsyncClient
    database: str
    fake: Providers
    a: UUID
    b: UUID
    order: OrderPlaced
    state: dict[str, Any] = field(default_factory=dict)

    def token(self, order_id: UUID | None = None) -> str:
        return chat_link.sign(LINK_SECRET, order_id or self.order.order_id, 600)


@dataclass(frozen=True)
class Case:
    """What shop B gets for shop A's order (it must equal what it gets for an unknown one), and what shop A
    gets for its own."""

    as_other: Callable[[Shops], Awaitable[None]]
    as_owner: Callable[[Shops], Awaitable[None]]


def _same_as_unknown(mine: httpx.Response, unknown: httpx.Response, status: int) -> None:
    assert mine.status_code == unknown.status_code == status, mine.text
    if status >= 400:
        assert mine.json()["error"] == unknown.json()["error"]


async def _log_other(s: Shops) -> None:
    mine = await s.api.get(f"/internal/notifications/{s.order.order_id}", headers=acting_for(s.b))
    unknown = await s.api.get(f"/internal/notifications/{uuid4()}", headers=acting_for(s.b))
    _same_as_unknown(mine, unknown, 404)
    # no header: the default shop, which is not A
    _same_as_unknown(await s.api.get(f"/internal/notifications/{s.order.order_id}"), unknown, 404)


async def _log_owner(s: Shops) -> None:
    answer = await s.api.get(f"/internal/notifications/{s.order.order_id}", headers=acting_for(s.a))
    assert answer.status_code == 200
    assert [(i["template"], i["channel"], i["status"]) for i in answer.json()["items"]] == [
        ("order_paid", "in_site", "sent")
    ]


async def _messages_other(s: Shops) -> None:
    mine = await s.api.get(f"/internal/orders/{s.order.order_id}/messages", headers=acting_for(s.b))
    unknown = await s.api.get(f"/internal/orders/{uuid4()}/messages", headers=acting_for(s.b))
    _same_as_unknown(mine, unknown, 200)
    assert mine.json()["items"] == unknown.json()["items"] == []


async def _messages_owner(s: Shops) -> None:
    answer = await s.api.get(f"/internal/orders/{s.order.order_id}/messages", headers=acting_for(s.a))
    [message] = answer.json()["items"]
    assert message["template"] == "order_paid" and s.order.order_no in message["subject"]


async def _link_other(s: Shops) -> None:
    body = {"chat_id": "4242", "token": s.token()}
    mine = await s.api.post("/internal/telegram/links", json=body, headers=acting_for(s.b))
    unknown = await s.api.post(
        "/internal/telegram/links", json={**body, "token": s.token(uuid4())}, headers=acting_for(s.b)
    )
    _same_as_unknown(mine, unknown, 404)
    assert s.fake.requests["telegram"] == []  # the bot confirmed nothing


async def _link_owner(s: Shops) -> None:
    body = {"chat_id": "4242", "token": s.token()}
    answer = await s.api.post("/internal/telegram/links", json=body, headers=acting_for(s.a))
    assert answer.status_code == 200 and answer.json()["linked"] is True
    [row] = await _rows(
        s.database, "SELECT shop_id, chat_id FROM telegram_chats WHERE order_id = $1", s.order.order_id
    )
    assert (row["shop_id"], row["chat_id"]) == (s.a, "4242")
    # linked now: shop B relinking it to another chat changes nothing either
    before = await shop_rows(s.database, s.a)
    relink = await s.api.post(
        "/internal/telegram/links", json={**body, "chat_id": "999"}, headers=acting_for(s.b)
    )
    assert relink.status_code == 404 and await shop_rows(s.database, s.a) == before


CHANNELS = {"from_address": "sales@a.example", "alert_emails": ["owner@a.example"]}


async def _channels_read_other(s: Shops) -> None:
    mine = await s.api.get("/internal/shop-channels", headers=acting_for(s.b))
    assert mine.status_code == 200
    assert mine.json()["shop_id"] == str(s.b) and mine.json()["from_address"] is None


async def _channels_read_owner(s: Shops) -> None:
    await s.api.put("/internal/shop-channels", json=CHANNELS, headers=acting_for(s.a))
    answer = await s.api.get("/internal/shop-channels", headers=acting_for(s.a))
    assert answer.status_code == 200 and answer.json()["from_address"] == "sales@a.example"
    other = await s.api.get("/internal/shop-channels", headers=acting_for(s.b))
    assert "a.example" not in other.text


async def _channels_put_other(s: Shops) -> None:
    body = {"from_address": "sales@b.example"}
    assert (await s.api.put("/internal/shop-channels", json=body, headers=acting_for(s.b))).status_code == 200


async def _channels_put_owner(s: Shops) -> None:
    answer = await s.api.put("/internal/shop-channels", json=CHANNELS, headers=acting_for(s.a))
    assert answer.status_code == 200 and answer.json()["alert_emails"] == ["owner@a.example"]
    other = (await s.api.get("/internal/shop-channels", headers=acting_for(s.b))).json()
    assert other["from_address"] == "sales@b.example" and other["alert_emails"] == []


WORDING = {"subject": "A: {{ order_no }}", "body": "From A\n[[goods]]\n", "changed_by": "owner@a.example"}
WORDED = "/internal/shop-templates/order_delivered/en"


async def _own_wording(s: Shops, shop: UUID) -> list[Any]:
    listed = (await s.api.get("/internal/shop-templates", headers=acting_for(shop))).json()["items"]
    return [item["own"] for item in listed if item["own"] is not None]


async def _wording_read_other(s: Shops) -> None:
    assert await _own_wording(s, s.b) == []


async def _wording_read_owner(s: Shops) -> None:
    await s.api.put(WORDED, json=WORDING, headers=acting_for(s.a))
    [own] = await _own_wording(s, s.a)
    assert own["subject"] == WORDING["subject"] and await _own_wording(s, s.b) == []


async def _wording_put_other(s: Shops) -> None:
    answer = await s.api.put(WORDED, json={**WORDING, "subject": "B"}, headers=acting_for(s.b))
    assert answer.status_code == 200, answer.text


async def _wording_put_owner(s: Shops) -> None:
    assert (await s.api.put(WORDED, json=WORDING, headers=acting_for(s.a))).status_code == 200
    [theirs] = await _own_wording(s, s.b)
    assert theirs["subject"] == "B"


async def _wording_reset_other(s: Shops) -> None:
    assert (await s.api.delete(WORDED, headers=acting_for(s.b))).status_code == 200


async def _wording_reset_owner(s: Shops) -> None:
    await s.api.put(WORDED, json=WORDING, headers=acting_for(s.a))
    assert (await s.api.delete(WORDED, headers=acting_for(s.b))).status_code == 200
    assert len(await _own_wording(s, s.a)) == 1, "shop B's reset removed shop A's wording"
    assert (await s.api.delete(WORDED, headers=acting_for(s.a))).status_code == 200
    assert await _own_wording(s, s.a) == []


async def _preview_other(s: Shops) -> None:
    sample = {k: WORDING[k] for k in ("subject", "body")}
    assert (await s.api.post(f"{WORDED}/preview", json=sample, headers=acting_for(s.b))).status_code == 200


async def _preview_owner(s: Shops) -> None:
    sample = {k: WORDING[k] for k in ("subject", "body")}
    shown = await s.api.post(f"{WORDED}/preview", json=sample, headers=acting_for(s.a))
    assert shown.status_code == 200 and shown.json()["subject"].startswith("A: ")
    assert await _own_wording(s, s.a) == []  # a preview stores nothing


CASES = {
    ("GET", "/internal/shop-templates"): Case(_wording_read_other, _wording_read_owner),
    ("PUT", "/internal/shop-templates/{template}/{language}"): Case(_wording_put_other, _wording_put_owner),
    ("DELETE", "/internal/shop-templates/{template}/{language}"): Case(
        _wording_reset_other, _wording_reset_owner
    ),
    ("POST", "/internal/shop-templates/{template}/{language}/preview"): Case(_preview_other, _preview_owner),
    ("GET", "/internal/shop-channels"): Case(_channels_read_other, _channels_read_owner),
    ("PUT", "/internal/shop-channels"): Case(_channels_put_other, _channels_put_owner),
    ("GET", "/internal/notifications/{order_id}"): Case(_log_other, _log_owner),
    ("GET", "/internal/orders/{order_id}/messages"): Case(_messages_other, _messages_owner),
    ("POST", "/internal/telegram/links"): Case(_link_other, _link_owner),
}


async def test_every_route_is_scoped_by_the_shop_or_listed_as_not_shop_owned(made: Any) -> None:
    service, _ = made()
    app = create_app(service.runtime, [router(service)], title="notification under test")
    scoping = shop_scoping(app)
    assert scoping.unscoped == NOT_SHOP_OWNED, "a route that is not shop-owned must be listed as such"
    assert scoping.scoped == set(CASES), "every scoped route needs an isolation case"
    assert scoping.optional == {("POST", "/internal/telegram/links")}, "only the bot's link acts for any shop"


async def shop_rows(database: str, shop: UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the shop has in every shop-owned table, and how many messages the service emitted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in (*SHOP_TABLES, "shop_channels", "shop_templates"):
        rows = await _rows(database, f"SELECT * FROM {table} WHERE shop_id = $1 ORDER BY 1", shop)
        out[table] = [tuple(r) for r in rows]
    out["outbox"] = [tuple(r) for r in await _rows(database, "SELECT count(*) FROM outbox")]
    return out


@pytest.mark.parametrize(("method", "route"), sorted(CASES))
async def test_shop_b_cannot_see_or_change_what_shop_a_has_and_shop_a_can(
    made: Any, fake: Providers, database: str, method: str, route: str
) -> None:
    service, owners = made()
    shop_a, shop_b = uuid4(), uuid4()
    order = await _placed_in(service, owners, shop_a)
    app = create_app(service.runtime, [router(service)], title="notification under test")
    async with asgi_client(app, "notification") as api:
        shops = Shops(service, api, database, fake, shop_a, shop_b, order)
        before = await shop_rows(database, shop_a)
        await CASES[method, route].as_other(shops)
        assert await shop_rows(database, shop_a) == before, "shop B's request changed shop A's rows"
        await CASES[method, route].as_owner(shops)


async def test_the_platforms_bot_links_an_order_of_any_shop_under_that_shop(
    made: Any, fake: Providers, database: str
) -> None:
    service, owners = made()
    shop = uuid4()
    order = await _placed_in(service, owners, shop)
    app = create_app(service.runtime, [router(service)], title="notification under test")
    body = {"chat_id": "-1001", "token": chat_link.sign(LINK_SECRET, order.order_id, 600)}
    async with asgi_client(app, "notification") as api:
        unknown = await api.post(
            "/internal/telegram/links", json={**body, "token": chat_link.sign(LINK_SECRET, uuid4(), 600)}
        )
        linked = await api.post("/internal/telegram/links", json=body)  # no X-Shop-Id: the platform's bot

    assert unknown.status_code == 404
    assert linked.status_code == 200 and linked.json()["confirmed"] is True
    assert (await _shops_of(database, order.order_id))["telegram_chats"] == {shop}
    assert await _consume(service, _delivered(shop, order.order_id)) == ["handled"]
    assert [m["chat_id"] for m in fake.requests["telegram"]] == ["-1001", "-1001"]  # confirmed, then told


# --- the migration ----------------------------------------------------------------------------------------


async def test_the_migration_files_existing_rows_under_the_default_shop_and_then_requires_a_shop() -> None:
    server = server_url()
    name = f"faka_notification_shops_{uuid4().hex[:12]}"
    url = database_url_for(server, name)
    await ensure_database(url)
    config = alembic_config(url, MIGRATIONS)
    order_id = uuid4()
    try:
        await asyncio.to_thread(command.upgrade, config, "0003")
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "INSERT INTO buyer_contacts (order_id, order_no, email, locale, product_title)"
                " VALUES ($1, 'F1', 'b@example.com', 'en', 'Licence')",
                order_id,
            )
            await connection.execute(
                "INSERT INTO notifications (id, order_id, template, channel, recipient, status)"
                " VALUES ($1, $2, 'order_paid', 'in_site', 'F1', 'sent')",
                uuid4(),
                order_id,
            )
            await connection.execute(
                "INSERT INTO in_site_messages (id, order_id, template, locale, subject, body)"
                " VALUES ($1, $2, 'order_paid', 'en', 'Paid', 'Paid')",
                uuid4(),
                order_id,
            )
            await connection.execute(
                "INSERT INTO webhook_deliveries"
                " (event_id, order_id, template, url, attempt, outcome, latency_ms)"
                " VALUES ('e1', $1, 'risk_review', 'https://hook.test/', 1, 'delivered', 5)",
                order_id,
            )
            await connection.execute(
                "INSERT INTO telegram_chats (order_id, chat_id) VALUES ($1, '42')", order_id
            )

            await asyncio.to_thread(command.upgrade, config, "head")

            for table in SHOP_TABLES:
                shops = await connection.fetch(f"SELECT shop_id FROM {table} WHERE order_id = $1", order_id)
                assert [r["shop_id"] for r in shops] == [DEFAULT_SHOP_ID], table
            with pytest.raises(asyncpg.NotNullViolationError):  # a write that names no shop fails
                await connection.execute(
                    "INSERT INTO telegram_chats (order_id, chat_id) VALUES ($1, '43')", uuid4()
                )
            indexes = {r["indexname"] for r in await connection.fetch("SELECT indexname FROM pg_indexes")}
            listed = {"buyer_contacts_by_shop", "notifications_by_shop", "webhook_deliveries_by_shop"}
            assert listed <= indexes
            defaults = await connection.fetch(
                "SELECT table_name FROM information_schema.columns"
                " WHERE column_name = 'shop_id' AND column_default IS NOT NULL"
            )
            assert defaults == []  # nothing lands in the default shop unless it is named
        finally:
            await connection.close()
    finally:
        await drop_database(server, name)
