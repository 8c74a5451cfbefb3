"""Shop lifecycle as events: the order service keeps a shops read model from merchant's ShopChanged (each
event once, through the inbox, as every consumed event), refuses an order in a shop it knows is not active
(409, nothing kept) and lets one in a shop it does not know yet through (the gateway asked merchant), and
links a buyer to the order's page in its shop's storefront (/s/<slug>/…) when it knows the shop, at the root
otherwise. Postgres and Kafka are real; inventory is a fake that answers as the scoped inventory does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from faka_common.contracts import DEFAULT_SHOP_ID, Envelope, ShopChanged
from faka_common.contracts.shops import ShopStatus
from faka_common.http import SHOP_HEADER
from faka_common.testing import as_caller, eventually
from order.adapters.inventory import Product
from order.bootstrap import Service

from .conftest import Db, ShopCatalog, awaiting_payment_order, order_api, order_service, record, tell

pytestmark = pytest.mark.integration

SHOP = uuid4()
PRODUCT = Product(uuid4(), "Game key", 1999, "CNY", True)
NOTIFICATION = as_caller("notification")


def changed(shop_id: UUID = SHOP, status: ShopStatus = "active", **values: Any) -> Envelope:
    event = ShopChanged(
        shop_id=shop_id, slug=values.pop("slug", "game-cards"), name="Game Cards", status=status, **values
    )
    return Envelope.wrap(event, "merchant")


async def shops(db: Db) -> list[tuple[UUID, str, str, str]]:
    rows = await db.fetch("SELECT id, slug, name, status FROM shops ORDER BY slug")
    return [(r["id"], r["slug"], r["name"], r["status"]) for r in rows]


@pytest.fixture
async def service(db: Db) -> AsyncIterator[Service]:
    async with order_service(db, ShopCatalog(PRODUCT, shop_id=SHOP)) as made:
        yield made


async def test_a_shop_changed_adds_the_shop_once_and_a_later_one_replaces_it(
    db: Db, service: Service
) -> None:
    opened, suspended = changed(), changed(status="suspended", slug="game-cards-2")

    assert await tell(service, opened, opened) == ["handled", "duplicate"]
    assert await shops(db) == [(SHOP, "game-cards", "Game Cards", "active")]

    assert await tell(service, suspended, opened) == ["handled", "duplicate"]
    assert await shops(db) == [(SHOP, "game-cards-2", "Game Cards", "suspended")]
    assert await db.fetch("SELECT 1 FROM outbox") == []  # keeping the read model announces nothing


async def test_shop_changes_handled_in_one_batch_keep_the_latest_and_skip_a_duplicate(
    db: Db, service: Service
) -> None:
    opened, suspended = changed(), changed(status="suspended")
    outcomes = await service.consumer().consume_batch([record(opened), record(suspended), record(opened)])
    assert outcomes == ["handled", "handled", "duplicate"]
    assert await shops(db) == [(SHOP, "game-cards", "Game Cards", "suspended")]


def placement(shop: UUID = SHOP) -> dict[str, Any]:
    return {
        "json": {"product_id": str(PRODUCT.product_id), "quantity": 1, "buyer_email": "buyer@example.com"},
        "headers": {SHOP_HEADER: str(shop)},
    }


async def kept(db: Db) -> tuple[int, int]:
    """How many orders the database holds, and how many messages the outbox."""
    [orders] = await db.fetch("SELECT count(*) FROM orders")
    [outbox] = await db.fetch("SELECT count(*) FROM outbox")
    return int(orders[0]), int(outbox[0])


@pytest.mark.parametrize("status", ["suspended", "closed", "pending"])
async def test_an_order_in_a_shop_known_not_to_be_active_is_a_409_and_nothing_is_kept(
    db: Db, service: Service, status: ShopStatus
) -> None:
    await tell(service, changed(status=status))
    async with order_api(db, ShopCatalog(PRODUCT, shop_id=SHOP)) as api:
        refused = await api.post("/internal/orders", **placement())
        keyed = placement()
        keyed["headers"]["Idempotency-Key"] = "k-1"
        refused_with_key = await api.post("/internal/orders", **keyed)
    assert refused.status_code == refused_with_key.status_code == 409, refused.text
    assert refused.json()["message"] == f"shop Game Cards is {status} and takes no new orders"
    assert await kept(db) == (0, 0)
    assert await db.fetch("SELECT 1 FROM idempotency_keys") == []  # a refusal is not a kept answer


async def test_an_order_in_an_active_shop_or_one_not_known_yet_is_placed(db: Db, service: Service) -> None:
    unknown = uuid4()
    catalog = ShopCatalog(PRODUCT, shop_id=SHOP).add(unknown, PRODUCT)
    await tell(service, changed(status="active"))
    async with order_api(db, catalog) as api:
        in_active = await api.post("/internal/orders", **placement())
        in_unknown = await api.post("/internal/orders", **placement(unknown))
    assert (in_active.status_code, in_unknown.status_code) == (201, 201), (in_active.text, in_unknown.text)
    rows = await db.fetch("SELECT shop_id FROM orders ORDER BY created_at")
    assert [r["shop_id"] for r in rows] == [SHOP, unknown]


async def test_a_shop_suspended_then_reopened_takes_orders_again_with_the_same_key(
    db: Db, service: Service
) -> None:
    keyed = placement()
    keyed["headers"]["Idempotency-Key"] = "k-2"
    async with order_api(db, ShopCatalog(PRODUCT, shop_id=SHOP)) as api:
        await tell(service, changed(status="suspended"))
        refused = await api.post("/internal/orders", **keyed)
        await tell(service, changed(status="active"))
        placed = await api.post("/internal/orders", **keyed)
    assert (refused.status_code, placed.status_code) == (409, 201), placed.text
    assert (await kept(db))[0] == 1


async def issued_link(db: Db, shop: UUID) -> str:
    order = await awaiting_payment_order(db, shop_id=shop)
    async with order_api(db, ShopCatalog(PRODUCT), public_base_url="https://cards.test/") as api:
        answer = await api.post(
            f"/internal/orders/{order.order_no}/links", headers={**NOTIFICATION, SHOP_HEADER: str(shop)}
        )
        assert answer.status_code == 200, answer.text
        url = str(answer.json()["url"])
        # the token in the link opens the order, wherever the link points
        [token] = parse_qs(urlsplit(url).query)["token"]
        view = await api.post(f"/internal/orders/{order.order_no}/view", json={"token": token})
    assert view.status_code == 200, view.text
    return url.split("?")[0].replace(order.order_no, "<no>")


async def test_the_link_to_an_order_of_a_known_shop_is_in_its_storefront(db: Db, service: Service) -> None:
    await tell(service, changed(status="suspended"))  # a suspended shop's page still shows paid orders
    assert await issued_link(db, SHOP) == "https://cards.test/s/game-cards/orders/<no>"


async def test_the_link_follows_the_shops_latest_slug(db: Db, service: Service) -> None:
    await tell(service, changed(), changed(slug="cards-renamed"))
    assert await issued_link(db, SHOP) == "https://cards.test/s/cards-renamed/orders/<no>"


async def test_the_link_to_an_order_of_the_default_shop_or_an_unknown_one_is_at_the_root(
    db: Db, service: Service
) -> None:
    await tell(service, changed(DEFAULT_SHOP_ID, slug="default"))
    assert await issued_link(db, DEFAULT_SHOP_ID) == "https://cards.test/orders/<no>"
    assert await issued_link(db, uuid4()) == "https://cards.test/orders/<no>"


async def test_the_running_service_learns_shops_from_merchant_events_on_kafka(db: Db) -> None:
    namespace = f"t{uuid4().hex}."
    settings: dict[str, Any] = {"kafka_namespace": namespace, "kafka_create_topics": True}
    async with order_service(db, ShopCatalog(PRODUCT), **settings) as made:
        producer = AIOKafkaProducer(bootstrap_servers=made.settings.kafka_bootstrap_servers)
        await made.runtime.start()
        await producer.start()
        try:
            for envelope in (changed(), changed(status="suspended")):
                event = envelope.open()
                await producer.send_and_wait(
                    namespace + event.topic, envelope.to_bytes(), key=event.key.encode()
                )

            async def suspended() -> bool:
                return await shops(db) == [(SHOP, "game-cards", "Game Cards", "suspended")]

            await eventually(suspended, timeout=60)
        finally:
            await producer.stop()
            await made.runtime.stop()
