"""The inventory at scale against the real Postgres and Redis: streamed imports (duplicates, BOM, CRLF,
non-UTF-8 lines, CSV, a 50 MB file, nothing half-imported), 1,000 buyers for 500 keys, multi-quantity
under contention, the reservation-expiry safety net, redelivered messages, stock folds with the Redis
projection and low-stock alerts, void / replace / export / re-encryption. Needs DATABASE_URL (a server
URL) and REDIS_URL; each run creates and drops its own database."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import multiprocessing
import os
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from faka_common.contracts import Envelope, Message, OrderApproved, OrderCancelled, OrderPaid
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing, Sealed
from faka_common.db.resealing import reseal
from faka_common.db.uow import SessionFactory
from faka_common.errors import Conflict
from faka_common.http import install_error_handlers
from faka_common.messaging.consumer import Delivery, EventConsumer
from faka_common.testing import as_caller, required_env
from fastapi import FastAPI
from inventory.adapters.sealing import SEALING, Sealing, sealing_pool
from inventory.adapters.stock_projection import RedisStockProjection
from inventory.adapters.tables import SEALED
from inventory.bootstrap import bootstrap
from inventory.config import Settings
from inventory.domain.keys import ImportFormat, loop_key_context
from inventory.entrypoints.http import router
from inventory.service_layer import catalog, key_pools, reservations
from inventory.service_layer import stock as stock_ops
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import loop_key_product

pytestmark = pytest.mark.integration
GATEWAY = as_caller("gateway")

KEYRING = KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET)
M = TypeVar("M", bound=Message)


async def run(
    sessions: SessionFactory, message: M, handler: Callable[[M, InventoryUnitOfWork], Awaitable[None]]
) -> None:
    async with InventoryUnitOfWork(sessions) as uow:
        await handler(message, uow)
        await uow.commit()


async def card_product(sessions: SessionFactory, keys: list[str], **fields: Any) -> uuid.UUID:
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog.create_product(
            DEFAULT_SHOP_ID,
            catalog.NewProduct(
                title="Steam 50", price=4800, currency="CNY", delivery_type="card_key", **fields
            ),
            uow,
            KEYRING,
        )
    if keys:
        async with InventoryUnitOfWork(sessions) as uow:
            await key_pools.import_keys(DEFAULT_SHOP_ID, product.id, "\n".join(keys), uow, KEYRING)
    return product.id


def approved(
    product_id: uuid.UUID, quantity: int = 1, expires_in: timedelta = timedelta(minutes=15)
) -> OrderApproved:
    return OrderApproved(
        order_id=uuid.uuid4(),
        order_no=f"F{uuid.uuid4().hex[:20].upper()}",
        product_id=product_id,
        quantity=quantity,
        payment_expires_at=datetime.now(UTC) + expires_in,
    )


def paid(event: OrderApproved) -> OrderPaid:
    return OrderPaid(
        order_id=event.order_id,
        order_no=event.order_no,
        product_id=event.product_id,
        quantity=event.quantity,
        amount=4800 * event.quantity,
        currency="CNY",
        provider="sandbox",
        trade_no=f"SBX{uuid.uuid4().hex}",
        paid_at=datetime.now(UTC),
    )


async def published(engine: AsyncEngine, key: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT value FROM outbox WHERE key = :key ORDER BY id"), {"key": str(key)}
        )
        envelopes = [Envelope.from_bytes(bytes(value)) for (value,) in rows]
    return [(e.type, e.payload) for e in envelopes]


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()


async def counts(sessions: SessionFactory, product_id: uuid.UUID) -> tuple[int | None, int, int]:
    async with InventoryUnitOfWork(sessions) as uow:
        _, stock = await catalog.get_product(DEFAULT_SHOP_ID, product_id, uow)
    return stock.available, stock.reserved, stock.sold


async def recount(sessions: SessionFactory, product_id: uuid.UUID) -> tuple[int | None, int, int]:
    async with InventoryUnitOfWork(sessions) as uow:
        stock = await uow.stock.recount(product_id)
    return stock.available, stock.reserved, stock.sold


async def import_bytes(
    sessions: SessionFactory,
    product_id: uuid.UUID,
    *chunks: bytes,
    sealing: Sealing = SEALING,
    **options: Any,
) -> key_pools.ImportResult:
    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async with InventoryUnitOfWork(sessions) as uow:
        return await key_pools.import_key_stream(
            DEFAULT_SHOP_ID,
            product_id,
            stream(),
            key_pools.ImportOptions(**options),
            uow,
            KEYRING,
            sealing=sealing,
        )


# --- imports ---------------------------------------------------------------------------------------


async def test_import_reports_duplicates_blank_lines_bom_and_crlf(sessions: SessionFactory) -> None:
    product_id = await card_product(sessions, ["ALREADY-1"])
    result = await import_bytes(
        sessions, product_id, b"\xef\xbb", b"\xbfA-1\r\nB-2\r", b"\n\r\n   \r\nA-1\nALREADY-1\r\nC-3", b"\r\n"
    )
    assert (result.imported, result.duplicates, result.invalid) == (3, 2, 0)
    assert await counts(sessions, product_id) == (4, 0, 0)


async def test_reencrypt_moves_every_key_to_the_active_key_id(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"ROT-{i}" for i in range(7)])
    loop_id = await loop_key_product(sessions, "LOOP-SECRET")
    rotated = KeyRing.parse(
        DEV_KEYRING + ",k2:" + base64.b64encode(os.urandom(32)).decode(), DEV_FINGERPRINT_SECRET
    )
    resealed = await reseal(sessions, rotated, SEALED, batch=3)
    assert resealed.resealed >= 7 and resealed.unreadable == 0
    assert await scalar(engine, "SELECT count(*) FROM card_keys WHERE key_id <> 'k2'") == 0
    assert await scalar(engine, "SELECT count(*) FROM products WHERE loop_key_key_id <> 'k2'") == 0
    assert (await reseal(sessions, rotated, SEALED)).resealed == 0
    blob = await scalar(engine, "SELECT loop_key_sealed FROM products WHERE id = :p", p=loop_id)
    assert rotated.open(Sealed("k2", bytes(blob)), loop_key_context(loop_id)) == "LOOP-SECRET"
    async with InventoryUnitOfWork(sessions) as uow:
        exported = [line async for line in key_pools.export_unsold(DEFAULT_SHOP_ID, product_id, uow, rotated)]
    assert sorted(line.strip() for line in exported) == sorted(f"ROT-{i}" for i in range(7))


async def test_non_utf8_and_control_characters_are_per_line_reasons_not_a_failed_batch(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])
    body = b"GOOD-1\nBAD-\xff\xfe\nGOOD-2\nlatin1-caf\xe9\nctl\x07x\n" + b"y" * 1001 + b"\nGOOD-3\n"
    result = await import_bytes(sessions, product_id, body)
    assert (result.imported, result.duplicates, result.invalid) == (3, 0, 4)
    assert [(i.line, i.reason) for i in result.invalid_lines] == [
        (2, "not UTF-8 (bad byte 0xff at column 5)"),
        (4, "not UTF-8 (bad byte 0xe9 at column 11)"),
        (5, "control character U+0007 at column 4"),
        (6, "longer than 1000 characters"),
    ]
    stored = await scalar(
        engine, "SELECT invalid_lines::text FROM key_batches WHERE id = :b", b=result.batch_id
    )
    assert '"line": 2' in stored and "not UTF-8" in stored


async def test_csv_columns_key_and_secret_with_header(sessions: SessionFactory) -> None:
    product_id = await card_product(sessions, [])
    body = b'key,secret\nCARD-1,PIN-1\n"CARD,2", PIN-2\nCARD-3\nA,B,C\n'
    result = await import_bytes(sessions, product_id, body, format=ImportFormat.CSV, cost_price=3100)
    assert (result.imported, result.invalid) == (3, 1)
    assert result.invalid_lines[0].line == 5
    event = approved(product_id, quantity=3)
    await run(sessions, event, reservations.reserve_stock)
    await run(sessions, paid(event), reservations.allocate_keys)
    async with InventoryUnitOfWork(sessions) as uow:
        revealed = await key_pools.reveal_keys(DEFAULT_SHOP_ID, event.order_id, "test", uow, KEYRING)
    assert [k.content for k in revealed.keys] == ["CARD-1 PIN-1", "CARD,2 PIN-2", "CARD-3"]


async def test_a_failure_mid_upload_imports_nothing(engine: AsyncEngine, sessions: SessionFactory) -> None:
    product_id = await card_product(sessions, [])

    async def broken() -> AsyncIterator[bytes]:
        for i in range(30):
            yield "".join(f"K-{i}-{j}\n" for j in range(2_000)).encode()
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        async with InventoryUnitOfWork(sessions) as uow:
            await key_pools.import_key_stream(
                DEFAULT_SHOP_ID, product_id, broken(), key_pools.ImportOptions(), uow, KEYRING
            )
    assert await scalar(engine, "SELECT count(*) FROM card_keys WHERE product_id = :p", p=product_id) == 0
    assert await scalar(engine, "SELECT count(*) FROM key_batches WHERE product_id = :p", p=product_id) == 0
    assert await counts(sessions, product_id) == (0, 0, 0)


async def test_a_multi_block_upload_sealed_in_worker_processes_reports_as_one(
    sessions: SessionFactory,
) -> None:
    used_pool: list[bool] = []
    sealing = Sealing(
        lines=40,  # 10 blocks, so the worker processes seal them
        first_block_lines=40,
        pool=lambda: used_pool.append(True) or sealing_pool(),
    )
    product_id = await card_product(sessions, ["OLD-7"])
    lines = [f"K-{n}" for n in range(1, 401)]
    lines[99] = "K-3"  # line 100 repeats line 3, two blocks earlier
    lines[250] = "OLD-7"  # line 251: the product holds it already
    lines[300] = "bad\x07"  # line 301: invalid
    lines[301] = "  "  # line 302: blank
    lines[399] = "K-399"  # line 400 repeats line 399, same block
    body = ("\r\n".join(lines) + "\r\n").encode()
    result = await import_bytes(
        sessions, product_id, *(body[i : i + 777] for i in range(0, len(body), 777)), sealing=sealing
    )

    assert used_pool
    assert (result.imported, result.duplicates, result.invalid) == (395, 3, 1)
    assert [(i.line, i.reason) for i in result.invalid_lines] == [
        (301, "control character U+0007 at column 4")
    ]
    assert await counts(sessions, product_id) == (396, 0, 0)
    async with InventoryUnitOfWork(sessions) as uow:
        exported = [
            line.rstrip("\n")
            async for line in key_pools.export_unsold(DEFAULT_SHOP_ID, product_id, uow, KEYRING)
        ]
    kept = [key for n, key in enumerate(lines, 1) if n not in (100, 251, 301, 302, 400)]
    assert exported == ["OLD-7", *kept]  # every key opens in its row, FIFO follows the lines


def die(job: object) -> None:
    assert multiprocessing.parent_process() is not None, "meant for a worker process only"
    os._exit(3)  # a worker process killed mid-import


async def test_a_worker_process_dying_fails_the_import_whole_and_the_next_one_works(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    sealing = Sealing(lines=100, first_block_lines=100)
    product_id = await card_product(sessions, [])
    body = "".join(f"W-{n}\n" for n in range(1_000)).encode()
    with pytest.raises(BrokenProcessPool):
        await import_bytes(sessions, product_id, body, sealing=dataclasses.replace(sealing, seal=die))
    assert await scalar(engine, "SELECT count(*) FROM card_keys WHERE product_id = :p", p=product_id) == 0
    result = await import_bytes(sessions, product_id, body, sealing=sealing)
    assert (result.imported, result.duplicates, result.invalid) == (1_000, 0, 0)


def http_app(database_url: str, max_import_bytes: int) -> FastAPI:
    settings = Settings(database_url=database_url, max_import_bytes=max_import_bytes)
    service = bootstrap(settings)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router(service))
    return app


async def test_a_50_mb_upload_streams_through_http_within_bounded_memory(
    database_url: str, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])
    line = 500
    chunk_lines = 2_000
    chunks = 50 * 1024 * 1024 // (line * chunk_lines) + 1

    async def body() -> AsyncIterator[bytes]:
        for c in range(chunks):
            yield b"".join(
                f"{c:05d}-{i:05d}-".encode().ljust(line - 2, b"x") + b"\r\n" for i in range(chunk_lines)
            )

    app = http_app(database_url, 64 * 1024 * 1024)
    tracemalloc.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://inventory"
        ) as client:
            response = await client.post(
                f"/internal/products/{product_id}/keys",
                content=body(),
                headers={**GATEWAY, "Content-Type": "text/plain"},
                timeout=120,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert chunks * line * chunk_lines > 50 * 1024 * 1024
    assert response.json()["imported"] == chunks * chunk_lines
    assert peak < 40 * 1024 * 1024, f"import held {peak / 2**20:.0f} MiB in memory"
    assert await counts(sessions, product_id) == (chunks * chunk_lines, 0, 0)


async def test_an_upload_over_the_cap_is_413_and_imports_nothing(
    database_url: str, engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the cap is found while streaming
        for i in range(20):
            yield f"KEY-{i}\n".encode() * 10

    app = http_app(database_url, 1000)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://inventory"
    ) as client:
        streamed = await client.post(f"/internal/products/{product_id}/keys", content=body(), headers=GATEWAY)
        declared = await client.post(
            f"/internal/products/{product_id}/keys",
            content=b"K\n" * 600,
            headers=GATEWAY,
        )
        csv_upload = await client.post(
            f"/internal/products/{product_id}/keys",
            files={"file": ("keys.csv", b"CODE-1,PIN-1\nCODE-2,PIN-2\n", "text/csv")},
            params={"cost_price": "120", "expires_at": "2099-01-01T00:00:00+08:00"},
            headers=GATEWAY,
        )
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"] == "payload_too_large"
    assert declared.status_code == 413
    assert csv_upload.status_code == 200, csv_upload.text
    assert csv_upload.json()["imported"] == 2
    assert csv_upload.json()["cost_price"] == 120
    assert await scalar(engine, "SELECT count(*) FROM card_keys WHERE product_id = :p", p=product_id) == 2


# --- reservations under contention -----------------------------------------------------------------


async def test_a_thousand_buyers_for_five_hundred_keys(engine: AsyncEngine, sessions: SessionFactory) -> None:
    product_id = await card_product(sessions, [f"HOT-{i:04d}-{uuid.uuid4().hex[:6]}" for i in range(500)])
    buyers = [approved(product_id) for _ in range(1000)]

    results = await asyncio.gather(
        *(run(sessions, b, reservations.reserve_stock) for b in buyers), return_exceptions=True
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    kinds = [[kind for kind, _ in await published(engine, b.order_id)] for b in buyers]
    assert all(len(k) == 1 for k in kinds)
    assert sum(k == ["StockReserved"] for k in kinds) == 500
    assert sum(k == ["StockUnavailable"] for k in kinds) == 500
    assert await counts(sessions, product_id) == (0, 500, 0)

    winners = [b for b, k in zip(buyers, kinds, strict=True) if k == ["StockReserved"]]
    results = await asyncio.gather(
        *(run(sessions, paid(b), reservations.allocate_keys) for b in winners), return_exceptions=True
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    sold = await scalar(
        engine, "SELECT count(*) FROM card_keys WHERE product_id = :p AND status = 'sold'", p=product_id
    )
    distinct = await scalar(
        engine,
        "SELECT count(DISTINCT id) FROM card_keys "
        "WHERE product_id = :p AND status = 'sold' AND order_id IS NOT NULL",
        p=product_id,
    )
    owners = await scalar(
        engine, "SELECT count(DISTINCT order_id) FROM card_keys WHERE product_id = :p AND status = 'sold'",
        p=product_id,
    )  # fmt: skip
    assert (sold, distinct, owners) == (500, 500, 500)
    assert await counts(sessions, product_id) == (0, 0, 500) == await recount(sessions, product_id)


async def test_multi_quantity_orders_get_all_or_nothing_under_contention(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"MQ-{i}-{uuid.uuid4().hex[:6]}" for i in range(20)])
    orders = [approved(product_id, quantity=3) for _ in range(40)]
    await asyncio.gather(*(run(sessions, o, reservations.reserve_stock) for o in orders))

    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT order_id, count(*) FROM card_keys WHERE product_id = :p AND status = 'reserved' "
                "GROUP BY order_id"
            ),
            {"p": product_id},
        )
        held = {order_id: count for order_id, count in rows}
    assert held, "nobody got keys"
    assert set(held.values()) == {3}, "an order holds part of its quantity"
    assert len(held) <= 6
    reserved_orders = {
        o.order_id for o in orders if (await published(engine, o.order_id))[0][0] == "StockReserved"
    }
    assert reserved_orders == set(held)
    assert await counts(sessions, product_id) == (20 - 3 * len(held), 3 * len(held), 0)
    assert await recount(sessions, product_id) == await counts(sessions, product_id)


async def test_redelivered_reserve_and_allocate_change_nothing_more(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, ["R-1", "R-2", "R-3"])
    event = approved(product_id, quantity=2)
    consumer = EventConsumer(
        "inventory",
        lambda: InventoryUnitOfWork(sessions),
        {OrderApproved: reservations.reserve_stock, OrderPaid: reservations.allocate_keys},
    )

    def record(message: Message) -> Delivery:
        return Delivery(
            "order.events", 0, 0, str(event.order_id).encode(), Envelope.wrap(message, "order").to_bytes()
        )

    same_reserve = record(event)
    outcomes = await asyncio.gather(
        *(consumer.consume(same_reserve) for _ in range(5)),  # the same envelope five times
        *(consumer.consume(record(event)) for _ in range(5)),  # five new envelopes of the same fact
    )
    assert outcomes.count("handled") >= 6 and set(outcomes) <= {"handled", "duplicate"}
    same_pay = record(paid(event))
    await asyncio.gather(*(consumer.consume(same_pay) for _ in range(5)))
    await asyncio.gather(*(consumer.consume(record(paid(event))) for _ in range(5)))

    assert [k for k, _ in await published(engine, event.order_id)] == ["StockReserved", "KeysAllocated"]
    assert await counts(sessions, product_id) == (1, 0, 2) == await recount(sessions, product_id)


# --- the expiry safety net -------------------------------------------------------------------------


async def test_lapsed_reservations_are_released_exactly_once_by_concurrent_sweeps(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"E-{i}" for i in range(5)])
    lapsed = approved(product_id, quantity=2, expires_in=timedelta(minutes=-10))
    fresh = approved(product_id, quantity=1)
    await run(sessions, lapsed, reservations.reserve_stock)
    await run(sessions, fresh, reservations.reserve_stock)
    assert await counts(sessions, product_id) == (2, 3, 0)

    async def sweep() -> int:
        async with InventoryUnitOfWork(sessions) as uow:
            return await reservations.expire_reservations(uow, grace_seconds=60)

    released = await asyncio.gather(*(sweep() for _ in range(8)))
    assert sorted(released)[-1] >= 1
    assert await counts(sessions, product_id) == (4, 1, 0) == await recount(sessions, product_id)
    kinds = [k for k, _ in await published(engine, lapsed.order_id)]
    assert kinds == ["StockReserved", "ReservationExpired"]
    assert [k for k, _ in await published(engine, fresh.order_id)] == ["StockReserved"]

    await run(sessions, OrderCancelled(order_id=lapsed.order_id, order_no=lapsed.order_no, reason="expired"),
              reservations.release_stock)  # fmt: skip
    assert await counts(sessions, product_id) == (4, 1, 0)

    await run(sessions, paid(lapsed), reservations.allocate_keys)  # the late payment re-reserves
    assert [k for k, _ in await published(engine, lapsed.order_id)][-1] == "KeysAllocated"
    assert await counts(sessions, product_id) == (2, 1, 2) == await recount(sessions, product_id)


async def test_a_late_payment_with_nothing_left_is_flagged_for_refund(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, ["ONLY-ONE"])
    lapsed = approved(product_id, expires_in=timedelta(minutes=-10))
    await run(sessions, lapsed, reservations.reserve_stock)
    async with InventoryUnitOfWork(sessions) as uow:
        assert await reservations.expire_reservations(uow, grace_seconds=0) >= 1
    await run(sessions, approved(product_id), reservations.reserve_stock)
    await run(sessions, paid(lapsed), reservations.allocate_keys)
    messages = await published(engine, lapsed.order_id)
    assert [k for k, _ in messages] == ["StockReserved", "ReservationExpired", "AllocationFailed"]
    assert messages[-1][1]["reason"] == "out_of_stock_after_expiry"


# --- counts, projection, alerts --------------------------------------------------------------------


async def test_fold_projects_exact_counts_to_redis_and_alerts_low_stock_once_per_crossing(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    projection = RedisStockProjection(
        required_env("REDIS_URL", "redis://127.0.0.1:16379/0"), prefix=f"t{uuid.uuid4().hex}."
    )
    product_id = await card_product(sessions, [f"L-{i}" for i in range(5)], low_stock_threshold=2)

    async def fold() -> None:
        async with InventoryUnitOfWork(sessions) as uow:
            await stock_ops.fold_stock(uow, projection)

    try:
        await fold()
        assert await projection.read(product_id) == {
            "available": "5", "reserved": "0", "sold": "0", "in_stock": "1", "version": "1",
        }  # fmt: skip
        buyers = [approved(product_id) for _ in range(5)]
        for buyer in buyers[:3]:
            await run(sessions, buyer, reservations.reserve_stock)
        await fold()
        await run(sessions, buyers[3], reservations.reserve_stock)
        await fold()
        assert [k for k, _ in await published(engine, product_id)].count("LowStock") == 1

        await run(sessions, buyers[4], reservations.reserve_stock)
        await run(sessions, paid(buyers[0]), reservations.allocate_keys)
        await fold()
        projected = await projection.read(product_id)
        assert (projected["available"], projected["reserved"], projected["sold"]) == ("0", "4", "1")
        assert projected["in_stock"] == "0"
        async with InventoryUnitOfWork(sessions) as uow:
            product, _ = await catalog.get_product(DEFAULT_SHOP_ID, product_id, uow)
        assert product.in_stock is False

        cancel = OrderCancelled(order_id=buyers[1].order_id, order_no=buyers[1].order_no, reason="x")
        await run(sessions, cancel, reservations.release_stock)
        await import_bytes(sessions, product_id, b"NEW-1\nNEW-2\nNEW-3\n")
        await fold()
        await run(sessions, approved(product_id, quantity=3), reservations.reserve_stock)
        await fold()
        messages = await published(engine, product_id)
        assert [k for k, _ in messages].count("LowStock") == 2, "re-armed by the refill, announced again"
        assert [p["in_stock"] for k, p in messages if k == "ProductChanged"] == [False, True, False, True]
        assert (await projection.read(product_id))["available"] == "1"
        assert await counts(sessions, product_id) == (1, 6, 1) == await recount(sessions, product_id)
    finally:
        await projection.aclose()


# --- key pool administration -----------------------------------------------------------------------


async def test_void_replace_export_and_issue_order(engine: AsyncEngine, sessions: SessionFactory) -> None:
    product_id = await card_product(sessions, [])
    await import_bytes(sessions, product_id, b"LATE-1\nLATE-2\n")
    await import_bytes(sessions, product_id, b"SOON-1\n", expires_at=datetime.now(UTC) + timedelta(days=1))
    await import_bytes(sessions, product_id, b"GONE-1\n", expires_at=datetime.now(UTC) - timedelta(seconds=1))

    async def export() -> list[str]:
        async with InventoryUnitOfWork(sessions) as uow:
            return [
                line.rstrip("\n")
                async for line in key_pools.export_unsold(DEFAULT_SHOP_ID, product_id, uow, KEYRING)
            ]

    assert await export() == ["GONE-1", "SOON-1", "LATE-1", "LATE-2"]
    async with InventoryUnitOfWork(sessions) as uow:
        assert await stock_ops.expire_keys(uow) >= 1
    assert await export() == ["SOON-1", "LATE-1", "LATE-2"]
    first = approved(product_id)
    await run(sessions, first, reservations.reserve_stock)
    await run(sessions, paid(first), reservations.allocate_keys)
    async with InventoryUnitOfWork(sessions) as uow:
        assert [
            k.content
            for k in (await key_pools.reveal_keys(DEFAULT_SHOP_ID, first.order_id, "t", uow, KEYRING)).keys
        ] == ["SOON-1"]

    late_1 = await scalar(
        engine,
        "SELECT id FROM card_keys WHERE product_id = :p AND status = 'available' ORDER BY position LIMIT 1",
        p=product_id,
    )
    async with InventoryUnitOfWork(sessions) as uow:
        new_id = await key_pools.replace_key(DEFAULT_SHOP_ID, product_id, late_1, "FRESH-1", uow, KEYRING)
    assert await export() == ["LATE-2", "FRESH-1"]
    async with InventoryUnitOfWork(sessions) as uow:
        with pytest.raises(Conflict):
            await key_pools.void_key(DEFAULT_SHOP_ID, product_id, late_1, uow)
    async with InventoryUnitOfWork(sessions) as uow:
        with pytest.raises(Conflict):
            await key_pools.replace_key(DEFAULT_SHOP_ID, product_id, new_id, "LATE-2", uow, KEYRING)
    async with InventoryUnitOfWork(sessions) as uow:
        await key_pools.void_key(DEFAULT_SHOP_ID, product_id, new_id, uow)
    assert await export() == ["LATE-2"]
    assert await counts(sessions, product_id) == (1, 0, 1) == await recount(sessions, product_id)
