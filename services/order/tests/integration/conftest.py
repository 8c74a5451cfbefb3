"""A fresh order database per test on the real PostgreSQL server at DATABASE_URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from faka_common.db.engine import create_engine, session_factory
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound
from faka_common.http import install_error_handlers
from faka_common.testing import asgi_client, migrated_database
from fastapi import FastAPI
from order.adapters.inventory import Product
from order.bootstrap import bootstrap
from order.config import MIGRATIONS, Settings
from order.domain import credentials
from order.domain.model import Order, Status
from order.entrypoints.buyer_links import buyer_links_router
from order.entrypoints.http import router
from order.entrypoints.pricing import pricing_router
from order.service_layer.unit_of_work import OrderUnitOfWork


class Db:
    def __init__(self, url: str, sessions: SessionFactory) -> None:
        self.url = url
        self.sessions = sessions

    def uow(self) -> OrderUnitOfWork:
        return OrderUnitOfWork(self.sessions, "order")

    async def awaiting_order(self, amount: int = 2500, **changes: object) -> Order:
        return await awaiting_payment_order(self, amount, **changes)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()


@pytest.fixture
async def db() -> AsyncIterator[Db]:
    async with migrated_database("t_order", MIGRATIONS) as url:
        engine = create_engine(url)
        try:
            yield Db(url, session_factory(engine))
        finally:
            await engine.dispose()


async def awaiting_payment_order(db: Db, amount: int = 2500, **changes: object) -> Order:
    """An order placed and already in awaiting_payment, stored through the repository."""
    now = datetime.now(UTC)
    order = Order.place(
        id=uuid.uuid4(),
        order_no=credentials.new_order_no(now),
        product_id=uuid.uuid4(),
        product_title="Integration key",
        quantity=1,
        unit_price=amount,
        currency="CNY",
        buyer_email="buyer@example.com",
        buyer_ip="127.0.0.1",
        locale="en",
        password_hash=None,
        now=now,
        payment_window=timedelta(minutes=10),
    )
    order.status = Status.AWAITING_PAYMENT
    for name, value in changes.items():
        setattr(order, name, value)
    async with db.uow() as uow:
        await uow.orders.add(order)
        await uow.commit()
    return order


class OneProductCatalog:
    """Inventory's catalog answering for one product (NotFound for any other)."""

    def __init__(self, product: Product) -> None:
        self.product_on_sale = product

    async def product(self, product_id: uuid.UUID) -> Product:
        if product_id != self.product_on_sale.product_id:
            raise NotFound(f"unknown product {product_id}")
        return self.product_on_sale

    async def aclose(self) -> None:
        pass


@asynccontextmanager
async def order_api(db: Db, catalog: object, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The order service's order, pricing and buyer-link routes over ASGI on `db`, `catalog` playing inventory
    (`settings` over the defaults)."""
    service = bootstrap(Settings(database_url=db.url, **settings))
    service.catalog = catalog  # type: ignore[assignment]
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router(service))
    app.include_router(pricing_router(service))
    app.include_router(buyer_links_router(service))
    async with asgi_client(app, "order") as client:
        yield client
    await service.runtime.engine.dispose()
    await service.provider_http.aclose()
