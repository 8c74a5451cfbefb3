"""A paid order's keys are revealed over HTTP only to the key readers (gateway, notification), each
authenticated by its own credential, and the audit names the caller that authenticated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from faka_common.db.uow import SessionFactory
from faka_common.http import install_error_handlers
from faka_common.testing import as_caller
from fastapi import FastAPI
from inventory.bootstrap import bootstrap
from inventory.config import Settings
from inventory.entrypoints.http import router
from inventory.service_layer import handlers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import approved, card_product, paid, run, scalar

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
    await run(sessions, order, handlers.reserve_stock)
    await run(sessions, paid(order), handlers.allocate_keys)
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
    await run(sessions, order, handlers.reserve_stock)
    path = f"/internal/orders/{order.order_id}/keys"
    unpaid = await api.get(path, headers=as_caller("gateway"))  # reserved, not yet allocated: no keys
    assert unpaid.status_code == 404 and "AUDIT-" not in unpaid.text
    await run(sessions, paid(order), handlers.allocate_keys)
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
