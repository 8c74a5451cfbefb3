"""Coupon uses against the real PostgreSQL: an order that ends unpaid (expired, rejected, out of stock) gives
its coupon use back exactly once, however often the ending event is redelivered or raced; a paid order keeps
its use, and a late payment of an order that had given its use back takes it again."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import uuid4

import pytest
from faka_common.contracts import RiskDecided, StockReserved, StockUnavailable
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Conflict
from order.adapters.inventory import Product
from order.domain import credentials
from order.domain.model import Order
from order.domain.payments import VerifiedPayment
from order.service_layer import handlers, payments, services

from .conftest import ShopCatalog, add_coupon

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=10)
TOKENS = credentials.OrderTokens("token-secret", timedelta(days=90))
PRODUCT = Product(uuid4(), "Game key", 1000, "CNY", True)


CATALOG = ShopCatalog(PRODUCT)


async def place(db: Any, email: str = "a@example.com", code: str | None = "ONE") -> Order:
    command = services.PlaceOrder(DEFAULT_SHOP_ID, PRODUCT.product_id, 1, email, coupon_code=code)
    return (await services.place_order(command, db.uow(), CATALOG, TOKENS, WINDOW)).order


async def handle(db: Any, handler: Any, event: Any) -> None:
    """One delivery of `event`, in its own transaction (as the consumer runs it)."""
    async with db.uow() as uow:
        await handler(event, uow)
        await uow.commit()


async def handlers_on_risk(db: Any, order: Order, verdict: Literal["approve", "reject"]) -> None:
    async with db.uow() as uow:
        await handlers.on_risk_decided(RiskDecided(order_id=order.id, verdict=verdict), uow, WINDOW)
        await uow.commit()


def reserved(order: Order) -> StockReserved:
    return StockReserved(order_id=order.id, product_id=order.product_id, quantity=1, expires_at=None)


def unavailable(order: Order) -> StockUnavailable:
    return StockUnavailable(order_id=order.id, product_id=order.product_id, requested=1, available=0)


async def coupon(db: Any, code: str = "ONE") -> tuple[int, int]:
    """(used_count, redemptions still counting)."""
    [row] = await db.fetch("SELECT used_count FROM coupons WHERE code = $1", code)
    counting = await db.fetch(
        "SELECT 1 FROM coupon_redemptions WHERE code = $1 AND released_at IS NULL", code
    )
    return row["used_count"], len(counting)


async def status(db: Any, order: Order) -> str:
    [row] = await db.fetch("SELECT status FROM orders WHERE id = $1", order.id)
    return str(row["status"])


async def end_expired(db: Any, order: Order) -> None:
    await handlers_on_risk(db, order, "approve")
    await handle(db, handlers.on_stock_reserved, reserved(order))
    await services.expire_overdue(db.uow(), now=datetime.now(UTC) + 2 * WINDOW)


async def end_rejected(db: Any, order: Order) -> None:
    await handlers_on_risk(db, order, "reject")


async def end_out_of_stock(db: Any, order: Order) -> None:
    await handlers_on_risk(db, order, "approve")
    await handle(db, handlers.on_stock_unavailable, unavailable(order))


async def end_cancelled_by_buyer(db: Any, order: Order) -> None:
    await handlers_on_risk(db, order, "approve")
    await handle(db, handlers.on_stock_reserved, reserved(order))
    token = TOKENS.issue(order.order_no, order.secret_version, datetime.now(UTC))
    with contextlib.suppress(Conflict):  # the second time the order is no longer awaiting payment
        await services.cancel_order(DEFAULT_SHOP_ID, order.order_no, db.uow(), TOKENS, token)


ENDINGS = {
    "expired": (end_expired, "expired"),
    "cancelled_by_buyer": (end_cancelled_by_buyer, "cancelled"),
    "rejected": (end_rejected, "rejected"),
    "out_of_stock": (end_out_of_stock, "cancelled"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_an_order_ending_unpaid_gives_its_coupon_use_back_exactly_once(db: Any, ending: str) -> None:
    await add_coupon(
        db,
        code="ONE",
        kind="fixed",
        value=100,
        currency="CNY",
        usage_limit=1,
        per_buyer_limit=1,
    )
    order = await place(db)
    assert await coupon(db) == (1, 1)
    end, final = ENDINGS[ending]
    await end(db, order)
    assert await status(db, order) == final
    assert await coupon(db) == (0, 0)
    # The ending again (a redelivered event, another sweep, a second transition): nothing more is given back.
    await end(db, order)
    await handlers_on_risk(db, order, "reject")
    await handle(db, handlers.on_stock_unavailable, unavailable(order))
    await services.expire_overdue(db.uow(), now=datetime.now(UTC) + 3 * WINDOW)
    assert await coupon(db) == (0, 0)
    # The use is free again, for the same buyer (per-buyer limit 1) as for anyone.
    again = await place(db)
    assert again.discount == 100 and await coupon(db) == (1, 1)


async def test_a_paid_order_keeps_its_use(db: Any) -> None:
    await add_coupon(db, code="ONE", kind="fixed", value=100, currency="CNY", usage_limit=1)
    order = await place(db)
    await handlers_on_risk(db, order, "approve")
    await handle(db, handlers.on_stock_reserved, reserved(order))
    notice = VerifiedPayment("sandbox", order.order_no, "T-1", order.amount, "CNY")
    assert await payments.apply_payment(DEFAULT_SHOP_ID, notice, db.uow(), datetime.now(UTC)) == "accepted"
    await services.expire_overdue(db.uow(), now=datetime.now(UTC) + 2 * WINDOW)
    await handle(db, handlers.on_stock_unavailable, unavailable(order))
    assert await status(db, order) == "paid"
    assert await coupon(db) == (1, 1)


async def test_a_late_payment_takes_the_given_back_use_again_even_past_the_limit(db: Any) -> None:
    await add_coupon(db, code="ONE", kind="fixed", value=100, currency="CNY", usage_limit=1)
    late = await place(db, "late@example.com")
    await end_expired(db, late)
    assert await coupon(db) == (0, 0)
    await place(db, "other@example.com")  # someone else takes the freed use
    assert await coupon(db) == (1, 1)
    notice = VerifiedPayment("sandbox", late.order_no, "T-late", late.amount, "CNY")
    assert await payments.apply_payment(DEFAULT_SHOP_ID, notice, db.uow(), datetime.now(UTC)) == "accepted"
    assert await status(db, late) == "paid"
    assert await coupon(db) == (2, 2)  # the buyer paid the discounted price: the use is theirs
    assert await payments.apply_payment(DEFAULT_SHOP_ID, notice, db.uow(), datetime.now(UTC)) == "duplicate"
    assert await coupon(db) == (2, 2)


async def test_racing_releases_of_one_order_give_back_one_use(db: Any) -> None:
    await add_coupon(db, code="ONE", kind="percent", value=10)
    first, _second = await place(db, "a@example.com"), await place(db, "b@example.com")
    assert await coupon(db) == (2, 2)

    async def release() -> str | None:
        async with db.uow() as uow:
            code = await uow.coupons.release(first.id, datetime.now(UTC))
            await uow.commit()
            return code

    results = await asyncio.gather(*(release() for _ in range(8)))
    assert results.count("ONE") == 1 and results.count(None) == 7
    assert await coupon(db) == (1, 1)
