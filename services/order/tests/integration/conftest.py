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
from faka_common.contracts.envelope import Envelope
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.engine import create_engine, session_factory
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound
from faka_common.messaging.consumer import Delivery
from faka_common.testing import asgi_client, migrated_database
from order.adapters.inventory import Product
from order.bootstrap import Service, bootstrap
from order.config import MIGRATIONS, Settings
from order.domain import credentials
from order.domain.model import Order, Status
from order.domain.pricing import Coupon
from order.entrypoints.api import order_app
from order.service_layer import pricing
from order.service_layer.unit_of_work import OrderUnitOfWork
from sqlalchemy.ext.asyncio import AsyncEngine


class Db:
    def __init__(self, url: str, sessions: SessionFactory, engine: AsyncEngine | None = None) -> None:
        self.url = url
        self.sessions = sessions
        self.engine = engine
        """The sessions' engine, when the test built them (`statements_run` counts what it sends)."""

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
            yield Db(url, session_factory(engine), engine)
        finally:
            await engine.dispose()


def placed_order(amount: int = 2500, shop_id: uuid.UUID = DEFAULT_SHOP_ID) -> Order:
    """An order just placed in `shop_id` (pending risk, its placement's transition not yet written)."""
    now = datetime.now(UTC)
    return Order.place(
        id=uuid.uuid4(),
        shop_id=shop_id,
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


async def awaiting_payment_order(
    db: Db, amount: int = 2500, shop_id: uuid.UUID = DEFAULT_SHOP_ID, **changes: object
) -> Order:
    """An order placed in `shop_id` and already in awaiting_payment, stored through the repository."""
    order = placed_order(amount, shop_id)
    order.status = Status.AWAITING_PAYMENT
    for name, value in changes.items():
        setattr(order, name, value)
    async with db.uow() as uow:
        await uow.orders.add(order)
        await uow.commit()
    return order


async def add_coupon(db: Db, shop_id: uuid.UUID = DEFAULT_SHOP_ID, **values: Any) -> Coupon:
    """A coupon created in `shop_id` the way an operator creates one."""
    return await pricing.create_coupon(db.uow(), shop_id=shop_id, **values)


class ShopCatalog:
    """Inventory's catalog as the scoped inventory answers: each product belongs to one shop, and asking
    for it as another shop (or for any other product) is NotFound."""

    def __init__(self, *products: Product, shop_id: uuid.UUID = DEFAULT_SHOP_ID) -> None:
        self.products: dict[tuple[uuid.UUID, uuid.UUID], Product] = {}
        self.add(shop_id, *products)

    def add(self, shop_id: uuid.UUID, *products: Product) -> ShopCatalog:
        self.products.update({(shop_id, p.product_id): p for p in products})
        return self

    async def product(self, product_id: uuid.UUID, shop_id: uuid.UUID) -> Product:
        found = self.products.get((shop_id, product_id))
        if found is None:
            raise NotFound(f"unknown product {product_id}")
        return found

    async def aclose(self) -> None:
        pass


@asynccontextmanager
async def order_service(db: Db, catalog: object, **settings: Any) -> AsyncIterator[Service]:
    """The order service on `db`, `catalog` playing inventory (`settings` over the defaults)."""
    service = bootstrap(Settings(database_url=db.url, **settings))
    service.catalog = catalog  # type: ignore[assignment]
    try:
        yield service
    finally:
        await service.runtime.engine.dispose()
        await service.provider_http.aclose()


@asynccontextmanager
async def order_api(db: Db, catalog: object, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The order service's app (every route it serves) over ASGI: see `order_service`."""
    async with (
        order_service(db, catalog, **settings) as service,
        asgi_client(order_app(service), "order") as client,
    ):
        yield client


def record(envelope: Envelope) -> Delivery:
    """The envelope as the broker hands it to a consumer: a record of its topic, keyed as published."""
    message = envelope.open()
    return Delivery(message.topic, 0, 0, message.key.encode(), envelope.to_bytes())


async def tell(service: Service, *envelopes: Envelope) -> list[str]:
    """Hand the events to the service's own consumer, one record each, as the broker would."""
    return [await service.consumer().consume(record(envelope)) for envelope in envelopes]
