"""Payments against a real PostgreSQL: concurrent identical notifications pay an order exactly once, and
rejected notifications leave no trace. Needs DATABASE_URL (a server URL, e.g.
postgresql://postgres@127.0.0.1:15432/postgres); each test runs in a fresh database."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from faka_common.db.engine import asyncpg_dsn, create_engine, session_factory
from faka_common.db.migrations import upgrade
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound
from faka_common.sandbox_payment import signed_notification
from order.config import MIGRATIONS
from order.domain import credentials
from order.domain.model import Order, Status
from order.domain.payments import BadNotification
from order.service_layer import services
from order.service_layer.unit_of_work import OrderUnitOfWork

pytestmark = pytest.mark.integration

SECRET = "integration-sandbox-secret"


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


def notification(order: Order, trade_no: str = "T-1", **overrides: object) -> bytes:
    params = signed_notification(order.order_no, trade_no, order.amount, order.currency, SECRET)
    params.update(overrides)
    return json.dumps(params).encode()


async def counts(db: Db, order: Order) -> tuple[int, int]:
    payments = await db.fetch("SELECT 1 FROM payments WHERE order_id = $1", order.id)
    paid_events = await db.fetch("SELECT 1 FROM outbox WHERE type = 'OrderPaid' AND key = $1", str(order.id))
    return len(payments), len(paid_events)


async def status_of(db: Db, order: Order) -> tuple[str, str | None]:
    [row] = await db.fetch("SELECT status, status_reason FROM orders WHERE id = $1", order.id)
    return row["status"], row["status_reason"]


async def test_five_identical_concurrent_notifications_pay_exactly_once(db: Db) -> None:
    order = await awaiting_payment_order(db)
    body = notification(order)
    results = await asyncio.gather(
        *(services.receive_payment("sandbox", body, db.uow(), SECRET) for _ in range(5))
    )
    assert sorted(results) == ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert await counts(db, order) == (1, 1)
    assert await status_of(db, order) == ("paid", None)
    transitions = await db.fetch(
        "SELECT from_state, to_state, trigger FROM order_transitions WHERE order_id = $1 ORDER BY id",
        order.id,
    )
    assert [tuple(r) for r in transitions] == [
        (None, "pending_risk", "place"),
        ("awaiting_payment", "paid", "pay"),
    ]
    [event] = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderPaid'")
    payload = json.loads(event["value"])["payload"]
    assert (payload["order_no"], payload["trade_no"], payload["amount"]) == (order.order_no, "T-1", 2500)


async def test_concurrent_different_trades_pay_once_and_flag_the_rest(db: Db) -> None:
    order = await awaiting_payment_order(db)
    results = await asyncio.gather(
        *(
            services.receive_payment("sandbox", notification(order, f"T-{i}"), db.uow(), SECRET)
            for i in range(5)
        )
    )
    assert results == ["accepted"] * 5
    assert await counts(db, order) == (5, 1)
    assert await status_of(db, order) == ("paid", "duplicate_payment_needs_refund")


async def test_late_payment_of_an_expired_order_pays_it(db: Db) -> None:
    order = await awaiting_payment_order(db, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await services.expire_overdue(db.uow()) == 1
    assert await status_of(db, order) == ("expired", None)
    cancelled = await db.fetch("SELECT value FROM outbox WHERE type = 'OrderCancelled'")
    assert [json.loads(r["value"])["payload"]["reason"] for r in cancelled] == ["expired"]
    assert await services.receive_payment("sandbox", notification(order), db.uow(), SECRET) == "accepted"
    assert await counts(db, order) == (1, 1)
    assert await status_of(db, order) == ("paid", None)


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("forged signature", BadNotification),
        ("wrong amount", BadNotification),
        ("wrong currency", BadNotification),
        ("stale timestamp", BadNotification),
        ("unknown order", NotFound),
        ("malformed body", BadNotification),
    ],
)
async def test_rejected_notifications_leave_no_trace(db: Db, case: str, error: type[Exception]) -> None:
    order = await awaiting_payment_order(db)

    def signed(amount: int = order.amount, currency: str = "CNY", **kwargs: int) -> bytes:
        params = signed_notification(order.order_no, "T-1", amount, currency, SECRET, **kwargs)
        return json.dumps(params).encode()

    if case == "forged signature":
        body = notification(order, signature="0" * 64)
    elif case == "wrong amount":
        body = signed(amount=order.amount - 1)
    elif case == "wrong currency":
        body = signed(currency="USD")
    elif case == "stale timestamp":
        body = signed(timestamp=int(time.time()) - 301)
    elif case == "unknown order":
        body = json.dumps(signed_notification("F20990101000000ZZZZZZ", "T-1", 2500, "CNY", SECRET)).encode()
    else:
        body = b'{"order_no": '
    with pytest.raises(error) as caught:
        await services.receive_payment("sandbox", body, db.uow(), SECRET)
    assert caught.value.status_code in (400, 404)  # type: ignore[attr-defined]
    assert await db.fetch("SELECT 1 FROM payments") == []
    assert await db.fetch("SELECT 1 FROM outbox") == []
    assert await status_of(db, order) == ("awaiting_payment", None)
