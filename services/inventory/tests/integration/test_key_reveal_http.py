"""A paid order's keys are revealed over HTTP only to the key readers (gateway, notification), each
authenticated by its own credential, and the audit names the caller that authenticated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.uow import SessionFactory
from faka_common.http import install_error_handlers
from faka_common.testing import as_caller
from fastapi import FastAPI
from inventory.bootstrap import bootstrap
from inventory.config import Settings
from inventory.entrypoints.http import router
from inventory.service_layer import reservations
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import approved, card_product, loop_key_product, paid, run, scalar

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service = bootstrap(Settings(database_url=database_url, run_migrations=False))
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router(service))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inv.test") as c:
        yield c
    await service.runtime.engine.dispose()


async def paid_order(sessions: SessionFactory) -> str:
    product_id = await card_product(sessions, ["REVEAL-1", "REVEAL-2"])
    order = approved(product_id, quantity=1)
    await run(sessions, order, reservations.reserve_stock)
    await run(sessions, paid(order), reservations.allocate_keys)
    return str(order.order_id)


async def readers(engine: AsyncEngine, order_id: str) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT reader FROM key_reveals WHERE order_id = :o ORDER BY id"), {"o": order_id}
        )
        return list(rows.scalars())


async def test_risk_and_commission_cannot_reveal_an_orders_keys(
    api: httpx.AsyncClient, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    order_id = await paid_order(sessions)
    for outsider in ("risk", "commission", "order", "delivery"):
        refused = await api.get(f"/internal/orders/{order_id}/keys", headers=as_caller(outsider))
        assert refused.status_code == 403, outsider
        assert "REVEAL-" not in refused.text
        assert (
            refused.json()["message"] == f"this internal route admits gateway, notification; not {outsider}"
        )
    assert await readers(engine, order_id) == []


async def test_the_gateways_reveal_is_audited_as_the_gateway_whatever_reader_it_names(
    api: httpx.AsyncClient, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    order_id = await paid_order(sessions)
    revealed = await api.get(
        f"/internal/orders/{order_id}/keys", params={"reader": "notification"}, headers=as_caller("gateway")
    )
    assert revealed.status_code == 200, revealed.text
    assert [k["content"] for k in revealed.json()["keys"]] in (["REVEAL-1"], ["REVEAL-2"])
    assert await readers(engine, order_id) == ["gateway"]
    await api.get(f"/internal/orders/{order_id}/keys", headers=as_caller("notification"))
    assert await readers(engine, order_id) == ["gateway", "notification"]


async def test_each_revealed_key_is_audited_by_the_reveal_itself_in_key_order(
    api: httpx.AsyncClient, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    product_id = await card_product(sessions, ["AUDIT-1", "AUDIT-2", "AUDIT-3"])
    order = approved(product_id, quantity=2)
    await run(sessions, order, reservations.reserve_stock)
    path = f"/internal/orders/{order.order_id}/keys"
    unpaid = await api.get(path, headers=as_caller("gateway"))  # reserved, not yet allocated: no keys
    assert unpaid.status_code == 404 and "AUDIT-" not in unpaid.text
    await run(sessions, paid(order), reservations.allocate_keys)
    for _ in range(2):
        revealed = await api.get(path, headers=as_caller("notification"))
        assert revealed.status_code == 200, revealed.text
    key_ids = [k["key_id"] for k in revealed.json()["keys"]]
    assert key_ids == sorted(key_ids) and len(key_ids) == 2
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT key_id, product_id, reader FROM key_reveals WHERE order_id = :o ORDER BY id"),
                {"o": order.order_id},
            )
        ).all()
    assert [(str(key), str(product), reader) for key, product, reader in rows] == [
        (key_id, str(product_id), "notification") for key_id in key_ids
    ] * 2


async def loop_key_order(sessions: SessionFactory, quantity: int) -> str:
    product_id = await loop_key_product(sessions, "LOOP-KEY", title="Shared VPN")
    order = approved(product_id, quantity=quantity)
    await run(sessions, order, reservations.reserve_stock)
    await run(sessions, paid(order), reservations.allocate_keys)
    return str(order.order_id)


def named(*orders: tuple[str, object]) -> dict[str, list[dict[str, str]]]:
    return {"orders": [{"order_id": order, "shop_id": str(shop)} for order, shop in orders]}


async def test_a_batch_reveals_each_order_as_its_own_reveal_would_and_audits_it_once(
    api: httpx.AsyncClient, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    product_id = await card_product(sessions, ["BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4"])
    two, one = approved(product_id, quantity=2), approved(product_id, quantity=1)
    unpaid = approved(product_id, quantity=1)
    for order in (two, one, unpaid):
        await run(sessions, order, reservations.reserve_stock)
    for order in (two, one):
        await run(sessions, paid(order), reservations.allocate_keys)
    looped = await loop_key_order(sessions, quantity=2)
    other_shop = await paid_order(sessions)  # the default shop's, named below with another shop
    asked = named(
        (str(two.order_id), DEFAULT_SHOP_ID),
        (str(unpaid.order_id), DEFAULT_SHOP_ID),  # reserved, never paid: no keys
        (other_shop, uuid.uuid4()),
        (looped, DEFAULT_SHOP_ID),
        (str(one.order_id), DEFAULT_SHOP_ID),
        (str(two.order_id), DEFAULT_SHOP_ID),  # named twice: revealed once
    )

    batch = await api.post("/internal/keys/reveals", json=asked, headers=as_caller("notification"))

    assert batch.status_code == 200, batch.text
    revealed = batch.json()["orders"]
    wanted = sorted([str(two.order_id), str(one.order_id), looped])
    assert [r["order_id"] for r in revealed] == wanted
    assert {r["shop_id"] for r in revealed} == {str(DEFAULT_SHOP_ID)}
    assert "REVEAL-" not in batch.text
    audited = {order: await readers(engine, order) for order in wanted}
    assert audited == {
        str(two.order_id): ["notification"] * 2,
        str(one.order_id): ["notification"],
        looped: ["notification"] * 2,
    }
    for order in (str(unpaid.order_id), other_shop):
        assert await readers(engine, order) == []
    for one_batch in revealed:  # the same answer as the order's own reveal (which audits it again)
        alone = await api.get(f"/internal/orders/{one_batch['order_id']}/keys", headers=as_caller("gateway"))
        assert alone.json() == one_batch
    by_order = {r["order_id"]: [k["content"] for k in r["keys"]] for r in revealed}
    assert by_order[looped] == ["LOOP-KEY", "LOOP-KEY"]
    contents = by_order[str(two.order_id)] + by_order[str(one.order_id)]
    assert len(set(contents)) == 3 and set(contents) <= {"BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4"}


async def test_a_batch_is_for_the_key_readers_only_and_names_one_to_a_hundred_orders(
    api: httpx.AsyncClient, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    order_id = await paid_order(sessions)
    asked = named((order_id, DEFAULT_SHOP_ID))
    for outsider in ("risk", "commission", "order", "delivery"):
        refused = await api.post("/internal/keys/reveals", json=asked, headers=as_caller(outsider))
        assert refused.status_code == 403 and "REVEAL-" not in refused.text, outsider
    assert (await api.post("/internal/keys/reveals", json=asked)).status_code == 401
    too_many = named(*[(str(uuid.uuid4()), DEFAULT_SHOP_ID)] * 101)
    for body in (
        {"orders": []},
        too_many,
        {"orders": [{"order_id": order_id}]},
        {"orders": [{"order_id": "x", "shop_id": str(DEFAULT_SHOP_ID)}]},
    ):
        answer = await api.post("/internal/keys/reveals", json=body, headers=as_caller("gateway"))
        assert answer.status_code == 422, answer.text
        assert "REVEAL-" not in answer.text
    assert await readers(engine, order_id) == []


async def test_a_reveal_without_a_valid_credential_is_a_401(
    api: httpx.AsyncClient, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    order_id = await paid_order(sessions)
    path = f"/internal/orders/{order_id}/keys"
    assert (await api.get(path)).status_code == 401
    assert (
        await api.get(path, headers={"X-Internal-Token": "dev-internal-token-change-me"})
    ).status_code == 401
    forged = {**as_caller("gateway"), "X-Internal-Token": as_caller("risk")["X-Internal-Token"]}
    unknown = {"X-Internal-Caller": "intruder", "X-Internal-Token": "x" * 40}
    for headers in (forged, unknown):
        answer = await api.get(path, headers=headers)
        assert answer.status_code == 401 and "REVEAL-" not in answer.text
    assert await scalar(engine, "SELECT count(*) FROM key_reveals WHERE order_id = :o", o=order_id) == 0


async def test_catalog_reads_admit_the_order_service_but_its_administration_does_not(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])
    assert (await api.get(f"/internal/products/{product_id}", headers=as_caller("order"))).status_code == 200
    assert (await api.get("/internal/products", headers=as_caller("order"))).status_code == 403
    patch = await api.patch(
        f"/internal/products/{product_id}", json={"title": "x"}, headers=as_caller("order")
    )
    assert patch.status_code == 403
    assert (await api.get(f"/internal/products/{product_id}", headers=as_caller("risk"))).status_code == 403
