"""Shops over the internal API: every route of the inventory app either acts for the shop of `X-Shop-Id`
or is listed here as not shop-owned (the walker fails for a new route that is neither). For every scoped
route, shop B naming shop A's ids gets the same 404 as an id that does not exist and changes nothing (no
row, no event, no audited reveal), B's lists hold none of A's rows, and A's own request works."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from faka_common.db.uow import SessionFactory
from faka_common.http import SHOP_HEADER, create_app
from faka_common.testing import OPERATIONAL_ROUTES, asgi_client, shop_scoping
from fastapi import FastAPI
from inventory.bootstrap import bootstrap
from inventory.config import Settings
from inventory.entrypoints.http import router
from inventory.service_layer import reservations
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import approved, paid, run
from .test_shops_events import in_shop

pytestmark = pytest.mark.integration

#: Routes that act for no shop, and why.
NOT_SHOP_OWNED = {
    **dict.fromkeys(OPERATIONAL_ROUTES, "the process's health and metrics, the API's description"),
    (
        "POST",
        "/internal/keys/reencrypt",
    ): "the keyring is the platform's: a rotation re-seals every shop's keys",
    (
        "POST",
        "/internal/keys/reveals",
    ): "each order it reveals names its shop in the body (test_key_reveal_http)",
}
# What a request may change, read before and after shop B's requests (every table a route writes, the
# outbox, the reveal audit).
SNAPSHOT = {
    "categories": "id, shop_id, name, sort_order, visible",
    "products": "id, shop_id, title, price, version, category_id, variant_of, active, paused_at",
    "key_batches": "id, shop_id, product_id, imported",
    "card_keys": "id, shop_id, product_id, status, order_id, key_id, sealed",
    "available_keys": "key_id",
    "reservations": "order_id, status",
    "stock_changes": "id, shop_id, available, reserved, sold",
    "key_reveals": "id, order_id, reader",
    "outbox": "id, type",
}


@dataclass
class World:
    """Shop A's catalog (a category, a card-key product with three keys, a paid order holding one of
    them) and shop B, which names A's ids."""

    api: httpx.AsyncClient
    engine: AsyncEngine
    a: uuid.UUID
    b: uuid.UUID
    category_id: str
    category_name: str
    product_id: str
    key_id: str
    order_id: str

    async def call(
        self, shop: uuid.UUID, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.api.request(method, path, headers={**as_shop(shop), **(headers or {})}, **kwargs)

    async def as_a(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.call(self.a, method, path, **kwargs)

    async def as_b(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.call(self.b, method, path, **kwargs)

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        async with self.engine.connect() as connection:
            return {
                table: [
                    tuple(row)
                    for row in await connection.execute(text(f"SELECT {columns} FROM {table} ORDER BY 1"))
                ]
                for table, columns in SNAPSHOT.items()
            }

    async def refused_to_b(self, method: str, path: str, target: str, **kwargs: Any) -> httpx.Response:
        """B's request naming A's `target` id: the 404 an unknown id gets (the same message but for the
        id), and nothing changed."""
        before = await self.snapshot()
        refused = await self.as_b(method, path, **kwargs)
        assert refused.status_code == 404, refused.text
        assert await self.snapshot() == before
        unknown = str(uuid.uuid4())
        if "json" in kwargs:
            kwargs["json"] = json.loads(json.dumps(kwargs["json"]).replace(target, unknown))
        missing = await self.as_b(method, path.replace(target, unknown), **kwargs)
        assert missing.status_code == 404, missing.text
        assert refused.json()["error"] == missing.json()["error"] == "not_found"
        assert refused.json()["message"].replace(target, "<id>") == missing.json()["message"].replace(
            unknown, "<id>"
        )
        return refused

    async def ids_listed(self, shop: uuid.UUID, path: str, field: str) -> list[str]:
        listed = await self.api.get(path, headers=as_shop(shop))
        assert listed.status_code == 200, listed.text
        return [item[field] for item in listed.json()["items"]]

    async def shop_of(self, table: str, row_id: str) -> uuid.UUID:
        async with self.engine.connect() as connection:
            query = text(f"SELECT shop_id FROM {table} WHERE id = :id")
            return uuid.UUID(str((await connection.execute(query, {"id": row_id})).scalar_one()))


def as_shop(shop: uuid.UUID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop)}


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    service = bootstrap(Settings(database_url=database_url, run_migrations=False))
    yield create_app(service.runtime, [router(service)], title="inventory")  # as entrypoints.app builds it
    await service.runtime.engine.dispose()


@pytest.fixture
async def world(app: FastAPI, engine: AsyncEngine, sessions: SessionFactory) -> AsyncIterator[World]:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with asgi_client(app, "inventory") as api:
        name = f"Games {uuid.uuid4().hex[:8]}"
        category = await api.post("/internal/categories", json={"name": name}, headers=as_shop(a))
        assert category.status_code == 201, category.text
        category_id = category.json()["category_id"]
        body = {
            "title": "A's Steam 50",
            "price": 4800,
            "delivery_type": "card_key",
            "category_id": category_id,
        }
        product = await api.post("/internal/products", json=body, headers=as_shop(a))
        assert product.status_code == 201, product.text
        product_id = product.json()["product_id"]
        imported = await api.post(
            f"/internal/products/{product_id}/keys",
            content=b"A-KEY-1\nA-KEY-2\nA-KEY-3\n",
            headers={**as_shop(a), "content-type": "text/plain"},
        )
        assert imported.json()["imported"] == 3, imported.text
        order = in_shop(approved(uuid.UUID(product_id)), a)
        await run(sessions, order, reservations.reserve_stock)
        await run(sessions, in_shop(paid(order), a), reservations.allocate_keys)
        async with engine.connect() as connection:
            key_id = (
                await connection.execute(
                    text("SELECT id FROM card_keys WHERE product_id = :p AND status = 'available' LIMIT 1"),
                    {"p": product_id},
                )
            ).scalar_one()
        yield World(api, engine, a, b, category_id, name, product_id, str(key_id), str(order.order_id))


async def get_product(w: World) -> None:
    path = f"/internal/products/{w.product_id}"
    await w.refused_to_b("GET", path, w.product_id)
    mine = await w.as_a("GET", path)
    assert mine.status_code == 200 and mine.json()["product_id"] == w.product_id


async def list_products(w: World) -> None:
    own = await w.as_b(
        "POST", "/internal/products", json={"title": "B's", "price": 1, "delivery_type": "manual"}
    )
    assert own.status_code == 201, own.text
    assert await w.ids_listed(w.b, "/internal/products", "product_id") == [own.json()["product_id"]]
    assert await w.ids_listed(w.a, "/internal/products", "product_id") == [w.product_id]


async def create_product(w: World) -> None:
    body = {"title": "B's", "price": 1, "delivery_type": "card_key"}
    await w.refused_to_b(
        "POST", "/internal/products", w.category_id, json={**body, "category_id": w.category_id}
    )
    variant = {**body, "variant_of": w.product_id, "variant_label": "100"}
    await w.refused_to_b("POST", "/internal/products", w.product_id, json=variant)
    own = await w.as_b("POST", "/internal/products", json=body)
    assert own.status_code == 201, own.text
    assert await w.shop_of("products", own.json()["product_id"]) == w.b
    assert own.json()["product_id"] not in await w.ids_listed(w.a, "/internal/products", "product_id")
    mine = await w.as_a(
        "POST", "/internal/products", json={**body, "category_id": w.category_id, "variant_of": w.product_id,
                                            "variant_label": "100"},
    )  # fmt: skip
    assert mine.status_code == 201, mine.text
    assert await w.shop_of("products", mine.json()["product_id"]) == w.a


async def update_product(w: World) -> None:
    path = f"/internal/products/{w.product_id}"
    await w.refused_to_b("PATCH", path, w.product_id, json={"title": "taken over", "price": 1})
    own = await w.as_b(
        "POST", "/internal/products", json={"title": "B's", "price": 1, "delivery_type": "manual"}
    )
    own_path = f"/internal/products/{own.json()['product_id']}"
    await w.refused_to_b("PATCH", own_path, w.category_id, json={"category_id": w.category_id})
    mine = await w.as_a("PATCH", path, json={"title": "renamed by A"})
    assert mine.status_code == 200 and mine.json()["title"] == "renamed by A", mine.text


async def list_categories(w: World) -> None:
    assert await w.ids_listed(w.b, "/internal/categories", "category_id") == []
    assert await w.ids_listed(w.a, "/internal/categories", "category_id") == [w.category_id]


async def create_category(w: World) -> None:
    same_name = await w.as_b("POST", "/internal/categories", json={"name": w.category_name})
    assert same_name.status_code == 201, same_name.text  # names are unique per shop
    assert await w.shop_of("categories", same_name.json()["category_id"]) == w.b
    assert await w.ids_listed(w.a, "/internal/categories", "category_id") == [w.category_id]
    assert await w.ids_listed(w.b, "/internal/categories", "category_id") == [same_name.json()["category_id"]]
    again = await w.as_a("POST", "/internal/categories", json={"name": w.category_name})
    assert again.status_code == 409, again.text


async def import_keys(w: World) -> None:
    path = f"/internal/products/{w.product_id}/keys"
    upload = {"content": b"B-KEY-1\n", "headers": {"content-type": "text/plain"}}
    await w.refused_to_b("POST", path, w.product_id, **upload)
    mine = await w.as_a("POST", path, **upload)
    assert mine.status_code == 200 and mine.json()["imported"] == 1, mine.text


async def export_keys(w: World) -> None:
    path = f"/internal/products/{w.product_id}/keys/unsold"
    refused = await w.refused_to_b("GET", path, w.product_id)
    assert "A-KEY" not in refused.text
    mine = await w.as_a("GET", path)
    assert mine.status_code == 200 and len(mine.text.splitlines()) == 2 and "A-KEY" in mine.text


async def list_keys(w: World) -> None:
    path = f"/internal/products/{w.product_id}/keys"
    refused = await w.refused_to_b("GET", path, w.product_id)
    assert "A-KEY" not in refused.text
    mine = await w.as_a("GET", path)
    assert mine.status_code == 200, mine.text
    assert "A-KEY" not in mine.text  # ids, states and fingerprints only
    assert sorted(k["status"] for k in mine.json()["items"]) == ["available", "available", "sold"]
    assert len({k["fingerprint"] for k in mine.json()["items"]}) == 3
    first = await w.as_a("GET", path, params={"status": "available", "limit": 1})
    [one] = first.json()["items"]
    second = await w.as_a("GET", path, params={"status": "available", "after": first.json()["next_after"]})
    [other] = second.json()["items"]
    assert one["key_id"] < other["key_id"] and second.json()["next_after"] is None
    assert (await w.as_a("GET", path, params={"status": "lost"})).status_code == 422


async def void_key(w: World) -> None:
    path = f"/internal/products/{w.product_id}/keys/{w.key_id}/void"
    await w.refused_to_b("POST", path, w.product_id)
    mine = await w.as_a("POST", path)
    assert mine.status_code == 200 and mine.json()["status"] == "void", mine.text


async def replace_key(w: World) -> None:
    path = f"/internal/products/{w.product_id}/keys/{w.key_id}/replace"
    await w.refused_to_b("POST", path, w.product_id, json={"content": "B-KEY"})
    mine = await w.as_a("POST", path, json={"content": "A-KEY-4"})
    assert mine.status_code == 200 and mine.json()["voided_key_id"] == w.key_id, mine.text


async def reveal_keys(w: World) -> None:
    path = f"/internal/orders/{w.order_id}/keys"
    refused = await w.refused_to_b("GET", path, w.order_id)  # the snapshot holds key_reveals: none logged
    assert "A-KEY" not in refused.text
    mine = await w.as_a("GET", path)
    assert mine.status_code == 200 and mine.json()["keys"][0]["content"].startswith("A-KEY"), mine.text
    async with w.engine.connect() as connection:
        audited = await connection.execute(
            text("SELECT shop_id, reader FROM key_reveals WHERE order_id = :o"), {"o": w.order_id}
        )
        assert [tuple(row) for row in audited] == [(w.a, "gateway")]


async def identify_key(w: World) -> None:
    path = f"/internal/orders/{w.order_id}/keys/identify"
    held = (await w.as_a("GET", f"/internal/orders/{w.order_id}/keys")).json()["keys"][0]
    await w.refused_to_b("POST", path, w.order_id, json={"content": held["content"]})
    mine = await w.as_a("POST", path, json={"content": held["content"]})
    assert mine.status_code == 200 and mine.json()["key_id"] == held["key_id"], mine.text


async def product_quality(w: World) -> None:
    path = f"/internal/products/{w.product_id}/quality"
    await w.refused_to_b("GET", path, w.product_id)
    mine = await w.as_a("GET", path)
    assert mine.status_code == 200 and mine.json()["product_id"] == w.product_id, mine.text


async def resume_product(w: World) -> None:
    async with w.engine.begin() as connection:
        await connection.execute(
            text("UPDATE products SET paused_at = now(), paused_reason = 'test' WHERE id = :p"),
            {"p": w.product_id},
        )
    path = f"/internal/products/{w.product_id}/resume"
    await w.refused_to_b("POST", path, w.product_id, json={"resumed_by": "b"})
    mine = await w.as_a("POST", path, json={"resumed_by": "a"})
    assert mine.status_code == 200 and mine.json()["paused"] is False, mine.text


async def quality_policy(w: World) -> None:
    path = "/internal/product-quality-policy"
    mine = {"window_days": 3, "min_deliveries": 9, "pause_rate": 0.25}
    assert (await w.as_a("PUT", path, json=mine)).status_code == 200
    theirs = await w.as_b("PUT", path, json={**mine, "pause_rate": 0.9})
    assert theirs.status_code == 200, theirs.text
    assert (await w.as_a("GET", path)).json() == mine
    assert (await w.as_b("GET", path)).json()["pause_rate"] == 0.9


async def supplier_batches(w: World) -> None:
    supplier = str(uuid.uuid4())
    upload = {"content": b"A-KEY-9\n", "headers": {"content-type": "text/plain"}}
    imported = await w.as_a(
        "POST", f"/internal/products/{w.product_id}/keys?supplier_id={supplier}", **upload
    )
    assert imported.status_code == 200, imported.text
    path = f"/internal/suppliers/{supplier}/batches"
    theirs = await w.as_b("GET", path)
    assert theirs.status_code == 200 and theirs.json()["batches"] == [], theirs.text
    mine = await w.as_a("GET", path)
    assert [b["batch_id"] for b in mine.json()["batches"]] == [imported.json()["batch_id"]], mine.text


#: Every shop-scoped route and the check that shop B cannot reach shop A's rows through it.
ISOLATION: dict[tuple[str, str], Callable[[World], Awaitable[None]]] = {
    ("POST", "/internal/categories"): create_category,
    ("GET", "/internal/categories"): list_categories,
    ("POST", "/internal/products"): create_product,
    ("GET", "/internal/products"): list_products,
    ("GET", "/internal/products/{product_id}"): get_product,
    ("PATCH", "/internal/products/{product_id}"): update_product,
    ("POST", "/internal/products/{product_id}/keys"): import_keys,
    ("GET", "/internal/products/{product_id}/keys/unsold"): export_keys,
    ("GET", "/internal/products/{product_id}/keys"): list_keys,
    ("POST", "/internal/products/{product_id}/keys/{key_id}/void"): void_key,
    ("POST", "/internal/products/{product_id}/keys/{key_id}/replace"): replace_key,
    ("GET", "/internal/orders/{order_id}/keys"): reveal_keys,
    ("POST", "/internal/orders/{order_id}/keys/identify"): identify_key,
    ("GET", "/internal/products/{product_id}/quality"): product_quality,
    ("POST", "/internal/products/{product_id}/resume"): resume_product,
    ("GET", "/internal/product-quality-policy"): quality_policy,
    ("PUT", "/internal/product-quality-policy"): quality_policy,
    ("GET", "/internal/suppliers/{supplier_id}/batches"): supplier_batches,
}


def test_every_route_is_scoped_by_shop_or_listed_as_not_shop_owned(app: FastAPI) -> None:
    scoping = shop_scoping(app)
    assert scoping.unscoped == set(NOT_SHOP_OWNED), "a route acting for no shop must be listed here, with why"
    assert scoping.scoped == set(ISOLATION), "every shop-scoped route needs an isolation check here"


@pytest.mark.parametrize("route", list(ISOLATION), ids=[f"{m} {p}" for m, p in ISOLATION])
async def test_another_shops_ids_are_404_and_change_nothing_while_the_owner_is_served(
    world: World, route: tuple[str, str]
) -> None:
    await ISOLATION[route](world)


async def test_a_malformed_shop_header_is_a_400_and_changes_nothing(world: World) -> None:
    before = await world.snapshot()
    requests = [
        ("GET", f"/internal/products/{world.product_id}", None),
        ("GET", f"/internal/orders/{world.order_id}/keys", None),
        ("PATCH", f"/internal/products/{world.product_id}", {"title": "x"}),
    ]
    for method, path, body in requests:
        answer = await world.api.request(method, path, headers={SHOP_HEADER: "shop-a"}, json=body)
        assert answer.status_code == 400, answer.text
        assert SHOP_HEADER in answer.json()["message"]
    assert await world.snapshot() == before


async def test_a_request_without_a_shop_header_acts_for_the_default_shop_only(world: World) -> None:
    default = await world.api.get(f"/internal/products/{world.product_id}")
    assert default.status_code == 404, default.text
    listed = await world.api.get("/internal/products")
    assert world.product_id not in [item["product_id"] for item in listed.json()["items"]]
    assert (await world.api.get(f"/internal/orders/{world.order_id}/keys")).status_code == 404
