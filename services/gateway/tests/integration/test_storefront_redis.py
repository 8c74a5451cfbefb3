"""The storefront against the real Redis at REDIS_URL: a shop's product list comes from the inventory's read
model of that shop (faka_common.contracts.storefront) with exact stock and in-stock flags while the
inventory cannot be reached, and never holds another shop's product; the inventory's API is asked (for that
shop) only when the shop's read model is not built or Redis is unreachable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.contracts.storefront import (
    catalog_built_key,
    catalog_index_key,
    catalog_key,
    stock_key,
)
from faka_common.http import SHOP_HEADER, InternalClient
from faka_common.service_auth import ServiceCredential
from faka_common.testing import required_env
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.domain.shops import Shop
from gateway.entrypoints.routers import edge_app

pytestmark = pytest.mark.integration

STOCKED = "0190f3a2-0001-7d4b-9a8e-2f6c1b5d4e3a"
MARKED = "0190f3a2-0002-7d4b-9a8e-2f6c1b5d4e3a"
HIDDEN = "0190f3a2-0003-7d4b-9a8e-2f6c1b5d4e3a"
LOOP = "0190f3a2-0004-7d4b-9a8e-2f6c1b5d4e3a"
CARDS_GIFT = "0190f3a2-0005-7d4b-9a8e-2f6c1b5d4e3a"
CARDS_GAME = "0190f3a2-0006-7d4b-9a8e-2f6c1b5d4e3a"

DEFAULT = Shop(DEFAULT_SHOP_ID, "default", "Default shop", "active")
CARDS = Shop(uuid.UUID("0190f3a2-00c0-7d4b-9a8e-2f6c1b5d4e3a"), "game-cards", "Game Cards", "active")
BOOKS = Shop(uuid.UUID("0190f3a2-00b0-7d4b-9a8e-2f6c1b5d4e3a"), "books", "Books", "active")


def redis_url() -> str:
    return required_env("REDIS_URL", "redis://127.0.0.1:16379/0")


class Inventory(InternalClient):
    """The inventory's internal API over an in-memory transport, counting the calls."""

    def __init__(self) -> None:
        super().__init__("http://inventory.test", ServiceCredential.development("gateway"))
        self.calls = 0
        self.shops: list[str | None] = []  # the X-Shop-Id of each call
        self._client = httpx.AsyncClient(
            base_url="http://inventory.test", transport=httpx.MockTransport(self.answer)
        )

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.shops.append(request.headers.get(SHOP_HEADER))
        product = {
            "product_id": STOCKED,
            "title": "From the inventory",
            "description": "",
            "price": 100,
            "currency": "CNY",
            "delivery_type": "card_key",
            "usage_instructions": "",
            "active": True,
            "visible": True,
            "stock": {"available": 4, "reserved": 0, "sold": 0},
        }
        return httpx.Response(200, json={"items": [product]})


def unreachable_inventory() -> InternalClient:
    return InternalClient("http://127.0.0.1:1", ServiceCredential.development("gateway"))


def gateway(namespace: str, inventory: InternalClient, url: str | None = None) -> Gateway:
    settings = Settings(redis_url=url or redis_url(), kafka_namespace=namespace)
    shops = KnownShops([DEFAULT, CARDS, BOOKS], any_host=True)  # any host: the default shop
    return build_gateway(shops=shops, settings=settings, order=unreachable_inventory(), inventory=inventory)


def client(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=edge_app(gw)), base_url="http://gateway.test")


@pytest.fixture
async def store() -> AsyncIterator[tuple[str, redis.Redis]]:
    namespace = f"it-{uuid.uuid4().hex[:10]}."
    connection = redis.Redis.from_url(redis_url(), decode_responses=True)
    yield namespace, connection
    keys = [key async for key in connection.scan_iter(match=f"{namespace}*")]
    if keys:
        await connection.delete(*keys)
    await connection.aclose()


def entry(
    title: str, delivery_type: str = "card_key", hide: bool = False, sort_order: int = 0
) -> dict[Any, str]:  # Any: redis types hash fields as bytes | str | ...
    return {
        "version": "3",
        "title": title,
        "description": f"About {title}",
        "price": "4800",
        "currency": "CNY",
        "delivery_type": delivery_type,
        "category_id": "",
        "sort_order": str(sort_order),
        "max_per_order": "5",
        "max_per_buyer": "",
        "usage_instructions": "Redeem on Steam",
        "hide_when_sold_out": "1" if hide else "0",
    }


Projected = dict[str, tuple[dict[Any, str], tuple[str, str, str, str]]]

#: The default shop's products as the inventory projects them: four on sale, one sold out and asking to be
#: hidden (catalog entry; available, reserved, sold, in_stock).
DEFAULT_PRODUCTS: Projected = {
    STOCKED: (entry("Stocked", sort_order=2), ("7", "2", "11", "1")),
    MARKED: (entry("Marked", sort_order=1), ("0", "1", "9", "0")),
    HIDDEN: (entry("Hidden", hide=True, sort_order=3), ("0", "0", "4", "0")),
    LOOP: (entry("Loop", delivery_type="loop_key", hide=True, sort_order=4), ("", "0", "3", "1")),
}
CARDS_PRODUCTS: Projected = {
    CARDS_GIFT: (entry("Gift card", sort_order=1), ("3", "0", "0", "1")),
    CARDS_GAME: (entry("Game card", sort_order=0), ("5", "0", "1", "1")),
}


async def write_read_model(
    namespace: str,
    connection: redis.Redis,
    shop: uuid.UUID = DEFAULT_SHOP_ID,
    products: Projected = DEFAULT_PRODUCTS,
) -> None:
    """What the inventory projects for the shop: its products' hashes, its index, its built marker."""
    for product_id, (fields, (available, reserved, sold, in_stock)) in products.items():
        await connection.hset(catalog_key(namespace, product_id), mapping=fields)
        stock: dict[Any, str] = {
            "version": "5",
            "available": available,
            "reserved": reserved,
            "sold": sold,
            "in_stock": in_stock,
        }
        await connection.hset(stock_key(namespace, product_id), mapping=stock)
        await connection.zadd(catalog_index_key(namespace, shop), {product_id: int(fields["sort_order"])})
    await connection.set(catalog_built_key(namespace, shop), "2026-01-01T00:00:00+00:00")


async def test_storefront_lists_the_read_model_with_exact_stock_while_the_inventory_is_unreachable(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    await write_read_model(namespace, connection)
    gw = gateway(namespace, unreachable_inventory())
    async with client(gw) as shop:
        response = await shop.get("/api/v1/products")
        page = await shop.get("/", headers={"Accept-Language": "en"})
    await gw.aclose()

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(p["id"], p["title"], p["in_stock"], p["available"]) for p in items] == [
        (MARKED, "Marked", False, 0),
        (STOCKED, "Stocked", True, 7),
        (LOOP, "Loop", True, None),
    ]
    assert items[1] == {
        "id": STOCKED,
        "title": "Stocked",
        "description": "About Stocked",
        "price": 4800,
        "currency": "CNY",
        "delivery_type": "card_key",
        "category_id": None,
        "sort_order": 2,
        "max_per_order": 5,
        "max_per_buyer": None,
        "usage_instructions": "Redeem on Steam",
        "in_stock": True,
        "available": 7,
        "variant_of": None,
        "variant_label": None,
        "variants": [],
    }
    assert page.status_code == 200
    marked = page.text[page.text.index("Marked") : page.text.index("Stocked")]
    assert "Sold out" in marked and "Hidden" not in page.text


async def test_an_edit_shows_up_on_the_next_request(store: tuple[str, redis.Redis]) -> None:
    namespace, connection = store
    await write_read_model(namespace, connection)
    gw = gateway(namespace, unreachable_inventory())
    async with client(gw) as shop:
        await connection.hset(stock_key(namespace, MARKED), mapping={"available": "2", "in_stock": "1"})
        await connection.zrem(catalog_index_key(namespace, DEFAULT_SHOP_ID), LOOP)
        items = (await shop.get("/api/v1/products")).json()["items"]
    await gw.aclose()
    assert [(p["id"], p["in_stock"], p["available"]) for p in items] == [
        (MARKED, True, 2),
        (STOCKED, True, 7),
    ]


async def test_storefront_asks_the_inventory_while_the_read_model_is_not_built(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    inventory = Inventory()
    gw = gateway(namespace, inventory)
    async with client(gw) as shop:
        empty = await shop.get("/api/v1/products")
        await write_read_model(namespace, connection)
        built = await shop.get("/api/v1/products")
    await gw.aclose()

    assert empty.status_code == 200
    assert [(p["title"], p["available"]) for p in empty.json()["items"]] == [("From the inventory", 4)]
    assert [p["title"] for p in built.json()["items"]] == ["Marked", "Stocked", "Loop"]
    assert inventory.shops == [str(DEFAULT_SHOP_ID)]


async def test_storefront_asks_the_inventory_when_redis_is_unreachable_and_never_answers_500() -> None:
    inventory = Inventory()
    nowhere = "redis://127.0.0.1:1/0"
    gw = gateway("it-unreachable.", inventory, url=nowhere)
    down = gateway("it-unreachable.", unreachable_inventory(), url=nowhere)
    async with client(gw) as shop, client(down) as broken:
        response = await shop.get("/api/v1/products")
        both_down = await broken.get("/api/v1/products")
    await gw.aclose()
    await down.aclose()

    assert response.status_code == 200
    assert [p["title"] for p in response.json()["items"]] == ["From the inventory"]
    assert inventory.calls == 1
    assert both_down.status_code == 503 and both_down.json()["error"] == "unavailable"


async def test_each_shop_lists_its_own_read_model_and_never_another_shops_products(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    await write_read_model(namespace, connection)
    await write_read_model(namespace, connection, CARDS.id, CARDS_PRODUCTS)
    gw = gateway(namespace, unreachable_inventory())
    async with client(gw) as http:
        root = (await http.get("/api/v1/products")).json()["items"]
        cards = (await http.get("/s/game-cards/api/v1/products")).json()["items"]
        cards_page = await http.get("/s/game-cards/")
        root_page = await http.get("/")
    await gw.aclose()

    assert [(p["id"], p["title"], p["available"]) for p in cards] == [
        (CARDS_GAME, "Game card", 5),
        (CARDS_GIFT, "Gift card", 3),
    ]
    assert [p["id"] for p in root] == [MARKED, STOCKED, LOOP]
    assert cards_page.status_code == root_page.status_code == 200
    assert "Game card" in cards_page.text and "Stocked" not in cards_page.text
    assert "Stocked" in root_page.text and "Game card" not in root_page.text


async def test_a_shop_whose_read_model_is_not_built_is_asked_of_the_inventory_for_that_shop(
    store: tuple[str, redis.Redis],
) -> None:
    namespace, connection = store
    await write_read_model(namespace, connection)  # the default shop's only
    await write_read_model(namespace, connection, CARDS.id, CARDS_PRODUCTS)
    await connection.delete(catalog_built_key(namespace, CARDS.id))  # its index alone is not enough
    inventory = Inventory()
    gw = gateway(namespace, inventory)
    async with client(gw) as http:
        books = (await http.get("/s/books/api/v1/products")).json()["items"]
        cards = (await http.get("/s/game-cards/api/v1/products")).json()["items"]
        root = (await http.get("/api/v1/products")).json()["items"]
    await gw.aclose()

    assert [p["title"] for p in books] == [p["title"] for p in cards] == ["From the inventory"]
    assert [p["title"] for p in root] == ["Marked", "Stocked", "Loop"]  # from its read model
    assert inventory.shops == [str(BOOKS.id), str(CARDS.id)]
