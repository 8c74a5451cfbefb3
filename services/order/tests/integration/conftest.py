"""A fresh order database per test on the real PostgreSQL server at DATABASE_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from faka_common.db.engine import asyncpg_dsn, create_engine, session_factory
from faka_common.db.migrations import upgrade
from faka_common.db.uow import SessionFactory
from order.config import MIGRATIONS
from order.domain import credentials
from order.domain.model import Order, Status
from order.service_layer.unit_of_work import OrderUnitOfWork


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail(
            "DATABASE_URL is not set: point it at a PostgreSQL server, e.g. "
            "DATABASE_URL=postgresql://postgres@127.0.0.1:15432/postgres (see `make infra-up`)"
        )
    return url


def _with_database(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(asyncpg_dsn(server_url))._replace(path=f"/{name}"))


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
    server = _server_url()
    name = f"t_order_{uuid.uuid4().hex[:12]}"
    url = _with_database(server, name)
    await upgrade(url, MIGRATIONS)
    engine = create_engine(url)
    try:
        yield Db(url, session_factory(engine))
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(_with_database(server, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


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
