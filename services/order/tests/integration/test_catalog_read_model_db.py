"""The catalog read model: the order service keeps each product's selling terms from inventory's product
events (each once, through the inbox), and a placement reads them with its shop and tiers instead of asking
inventory. A product it does not hold, holds for another shop, or was told of by an event from before it
kept everything, is asked of inventory as before. Postgres is real; inventory is a fake that counts asks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import DEFAULT_SHOP_ID, Envelope
from faka_common.contracts.inventory import ProductChanged
from faka_common.contracts.quality import ProductPaused, ProductResumed
from faka_common.errors import Conflict, NotFound
from faka_common.testing import statements_run
from order.adapters.inventory import Product
from order.bootstrap import Service
from order.domain import credentials
from order.service_layer import services

from .conftest import Db, ShopCatalog, order_service, tell

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=10)
TOKENS = credentials.OrderTokens("token-secret", timedelta(days=90))
PRODUCT = uuid4()
#: What inventory answers when asked (an older price, so a placement tells which one it used).
ASKED = Product(PRODUCT, "Game key (asked)", 1500, "CNY", True)


class CountingCatalog(ShopCatalog):
    def __init__(self, *products: Product, shop_id: UUID = DEFAULT_SHOP_ID) -> None:
        super().__init__(*products, shop_id=shop_id)
        self.asked = 0

    async def product(self, product_id: UUID, shop_id: UUID) -> Product:
        self.asked += 1
        return await super().product(product_id, shop_id)


def changed(shop_id: UUID = DEFAULT_SHOP_ID, whole: bool = True, **values: Any) -> Envelope:
    """A ProductChanged as inventory sends it; not `whole`: as inventory sent it before the read model, with
    no face value or pause in it."""
    terms: dict[str, Any] = {
        "title": "Game key",
        "price": 1999,
        "currency": "CNY",
        "delivery_type": "card_key",
    }
    event = ProductChanged(product_id=PRODUCT, shop_id=shop_id, **(terms | values))
    envelope = Envelope.wrap(event, "inventory")
    if not whole:
        envelope.payload.pop("face_value")
        envelope.payload.pop("paused")
    return envelope


@pytest.fixture
async def catalog() -> CountingCatalog:
    return CountingCatalog(ASKED)


@pytest.fixture
async def service(db: Db, catalog: CountingCatalog) -> AsyncIterator[Service]:
    async with order_service(db, catalog) as made:
        yield made


async def place(db: Db, catalog: CountingCatalog, shop_id: UUID = DEFAULT_SHOP_ID) -> services.PlacedOrder:
    command = services.PlaceOrder(shop_id, PRODUCT, 1, "buyer@example.com")
    return await services.place_order(command, db.uow(), catalog, TOKENS, WINDOW)


async def test_a_placement_takes_the_terms_last_told_without_asking_inventory(
    db: Db, service: Service, catalog: CountingCatalog
) -> None:
    first, edited = changed(), changed(title="Game key, edited", price=2500, max_per_order=3)
    assert await tell(service, first, edited, first) == ["handled", "handled", "duplicate"]
    await place(db, catalog)  # the connection's codecs set up
    assert db.engine is not None
    async with statements_run(db.engine) as sent:
        placed = await place(db, catalog)
    assert [q.split()[0] for q in sent] == ["SELECT", "WITH"], sent  # the product in the first
    assert "catalog_products" in sent[0]
    assert (placed.order.product_title, placed.order.amount) == ("Game key, edited", 2500)
    assert catalog.asked == 0
    with pytest.raises(Exception, match="at most 3"):
        await services.place_order(
            services.PlaceOrder(DEFAULT_SHOP_ID, PRODUCT, 4, "b@example.com"),
            db.uow(),
            catalog,
            TOKENS,
            WINDOW,
        )
    assert catalog.asked == 0


async def test_a_recharge_products_face_value_comes_with_its_terms(
    db: Db, service: Service, catalog: CountingCatalog
) -> None:
    await tell(service, changed(delivery_type="recharge", face_value=10_000, price=9_800))
    command = services.PlaceOrder(
        DEFAULT_SHOP_ID, PRODUCT, 1, "buyer@example.com", buyer_fields={"account": "13800000000"}
    )
    placed = await services.place_order(command, db.uow(), catalog, TOKENS, WINDOW)
    assert (placed.order.delivery_type, placed.order.face_value, placed.order.amount) == (
        "recharge",
        10_000,
        9_800,
    )
    assert catalog.asked == 0


async def test_a_paused_product_is_refused_until_resumed_and_an_inactive_one_until_active(
    db: Db, service: Service, catalog: CountingCatalog
) -> None:
    paused = ProductPaused(
        product_id=PRODUCT, shop_id=DEFAULT_SHOP_ID, title="Game key", cases=3, delivered=4, rate=0.75,
        threshold=0.4, window_days=7,
    )  # fmt: skip
    resumed = ProductResumed(product_id=PRODUCT, shop_id=DEFAULT_SHOP_ID, resumed_by="seller")
    await tell(service, changed(), Envelope.wrap(paused, "inventory"))
    with pytest.raises(Conflict, match="paused because buyers reported too many problems"):
        await place(db, catalog)
    await tell(service, Envelope.wrap(resumed, "inventory"))
    assert (await place(db, catalog)).order.amount == 1999
    await tell(service, changed(active=False))
    with pytest.raises(Conflict, match="is not on sale"):
        await place(db, catalog)
    assert catalog.asked == 0


async def test_a_product_not_held_or_held_for_another_shop_is_asked_of_inventory(
    db: Db, service: Service, catalog: CountingCatalog
) -> None:
    assert (await place(db, catalog)).order.product_title == "Game key (asked)"  # nothing told yet
    assert catalog.asked == 1
    other = uuid4()
    await tell(service, changed(shop_id=other))  # the product is another shop's
    assert (await place(db, catalog)).order.product_title == "Game key (asked)"
    assert catalog.asked == 2
    with pytest.raises(NotFound):  # inventory does not know it as this shop's either
        await place(db, CountingCatalog(ASKED, shop_id=other), shop_id=DEFAULT_SHOP_ID)


async def test_an_event_from_before_the_read_model_forgets_the_product_so_inventory_is_asked(
    db: Db, service: Service, catalog: CountingCatalog
) -> None:
    await tell(service, changed(price=2500))
    assert (await place(db, catalog)).order.amount == 2500
    await tell(
        service, changed(whole=False, price=3000)
    )  # no face value or pause in it: not the whole product
    assert await db.fetch("SELECT 1 FROM catalog_products") == []
    assert (await place(db, catalog)).order.amount == 1500
    assert catalog.asked == 1
