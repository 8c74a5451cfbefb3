"""Pricing against the real PostgreSQL: a coupon limit holds under concurrency, per-buyer limits too,
tiers and coupons are kept, and what the order captured of its product survives the round trip."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound
from faka_common.testing import statements_run
from order.adapters.inventory import Product
from order.domain import credentials
from order.domain.pricing import CouponRejected, InvalidTiers, PriceTier, PurchaseLimitExceeded
from order.service_layer import pricing, services

from .conftest import ShopCatalog, add_coupon

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=10)
TOKENS = credentials.OrderTokens("token-secret", timedelta(days=90))


def Catalog(*products: Product) -> ShopCatalog:
    return ShopCatalog(*products)


async def place(
    db: Any, product: Product, email: str = "a@example.com", **extra: Any
) -> services.PlacedOrder:
    command = services.PlaceOrder(
        DEFAULT_SHOP_ID, product.product_id, extra.pop("quantity", 1), email, **extra
    )
    return await services.place_order(command, db.uow(), Catalog(product), TOKENS, WINDOW)


async def test_twenty_concurrent_orders_use_a_limit_five_coupon_exactly_five_times(db: Any) -> None:
    product = Product(uuid4(), "Game key", 1000, "CNY", True)
    await add_coupon(db, code="FLASH5", kind="percent", value=20, usage_limit=5)
    results = await asyncio.gather(
        *(place(db, product, f"buyer{i}@example.com", coupon_code="flash5") for i in range(20)),
        return_exceptions=True,
    )
    placed = [r for r in results if isinstance(r, services.PlacedOrder)]
    refused = [r for r in results if isinstance(r, CouponRejected)]
    assert len(placed) == 5 and len(refused) == 15, [r for r in results if isinstance(r, Exception)][:3]
    assert {r.code for r in refused} == {"coupon_used_up"}
    assert all(p.order.amount == 800 and p.order.discount == 200 for p in placed)
    [coupon] = await db.fetch("SELECT used_count FROM coupons WHERE code = 'FLASH5'")
    assert coupon["used_count"] == 5
    redemptions = await db.fetch("SELECT order_id FROM coupon_redemptions WHERE code = 'FLASH5'")
    assert {r["order_id"] for r in redemptions} == {p.order.id for p in placed}
    assert len(await db.fetch("SELECT 1 FROM orders")) == 5
    announced = await db.fetch("SELECT 1 FROM outbox WHERE type = 'OrderPlaced'")
    assert len(announced) == 5


async def test_concurrent_orders_of_one_buyer_stop_at_the_per_buyer_limit(db: Any) -> None:
    product = Product(uuid4(), "Game key", 1000, "CNY", True, max_per_buyer=3)
    results = await asyncio.gather(
        *(place(db, product, "Same@Example.com" if i % 2 else "same@example.com") for i in range(10)),
        return_exceptions=True,
    )
    placed = [r for r in results if isinstance(r, services.PlacedOrder)]
    assert len(placed) == 3
    assert all(isinstance(r, PurchaseLimitExceeded) for r in results if r not in placed)
    assert (await place(db, product, "other@example.com")).order.quantity == 1


async def test_a_coupons_per_buyer_limit_is_held_under_concurrency(db: Any) -> None:
    product = Product(uuid4(), "Game key", 1000, "CNY", True)
    await add_coupon(
        db,
        code="ONCE",
        kind="fixed",
        value=100,
        currency="CNY",
        per_buyer_limit=1,
    )
    results = await asyncio.gather(
        *(place(db, product, "a@example.com", coupon_code="ONCE") for _ in range(6)), return_exceptions=True
    )
    assert sum(isinstance(r, services.PlacedOrder) for r in results) == 1
    assert {r.code for r in results if isinstance(r, CouponRejected)} == {"coupon_buyer_limit"}


async def test_tiers_and_coupons_are_kept_and_a_disabled_coupon_is_refused(db: Any) -> None:
    product = Product(uuid4(), "Game key", 1000, "CNY", True)
    await pricing.set_price_tiers(
        DEFAULT_SHOP_ID,
        product.product_id,
        [PriceTier(10, 800), PriceTier(5, 900)],
        db.uow(),
        Catalog(product),
    )
    assert await pricing.price_tiers(DEFAULT_SHOP_ID, product.product_id, db.uow(), Catalog(product)) == [
        PriceTier(5, 900),
        PriceTier(10, 800),
    ]
    with pytest.raises(InvalidTiers):
        await pricing.set_price_tiers(
            DEFAULT_SHOP_ID,
            product.product_id,
            [PriceTier(5, 900), PriceTier(10, 950)],
            db.uow(),
            Catalog(product),
        )
    assert (await place(db, product, quantity=10)).order.amount == 8000
    assert (await place(db, product, quantity=4)).order.amount == 4000

    expires = datetime.now(UTC) + timedelta(days=7)
    created = await add_coupon(
        db,
        code="Week",
        kind="fixed",
        value=500,
        currency="CNY",
        expires_at=expires,
    )
    [listed] = await pricing.list_coupons(DEFAULT_SHOP_ID, db.uow())
    assert listed == created and listed.code == "WEEK" and listed.expires_at == expires
    assert (await place(db, product, quantity=5, coupon_code="week")).order.amount == 4000
    assert (await pricing.disable_coupon(DEFAULT_SHOP_ID, "week", db.uow())).active is False
    with pytest.raises(CouponRejected, match="disabled"):
        await place(db, product, coupon_code="WEEK")
    with pytest.raises(NotFound):
        await pricing.disable_coupon(DEFAULT_SHOP_ID, "nope", db.uow())
    await pricing.set_price_tiers(DEFAULT_SHOP_ID, product.product_id, [], db.uow(), Catalog(product))
    assert (await place(db, product, quantity=10)).order.amount == 10000


async def test_placing_reads_the_shop_and_tiers_then_writes_the_order_and_its_message_in_one_statement(
    db: Any,
) -> None:
    """A placement is two statements and no transaction around them (no BEGIN, no COMMIT): the shop with
    the product's price tiers, then the order, its first transition and its OrderPlaced, written together
    or not at all by one statement; the tiers still price it."""
    product = Product(uuid4(), "Game key", 1000, "CNY", True)
    tiers = [PriceTier(5, 900), PriceTier(10, 800)]
    await pricing.set_price_tiers(DEFAULT_SHOP_ID, product.product_id, tiers, db.uow(), Catalog(product))
    await place(db, product)  # the connection's codecs set up
    assert db.engine is not None
    async with statements_run(db.engine) as sent:
        placed = await place(db, product, quantity=10)

    assert [q.split()[0] for q in sent] == ["SELECT", "WITH"], sent
    assert "order_price_tiers" in sent[0] and "shops" in sent[0]
    assert all(f"INSERT INTO {table} " in sent[1] for table in ("orders", "order_transitions", "outbox"))
    assert placed.order.amount == 8000
    [kept] = await db.fetch("SELECT status FROM orders WHERE id = $1", placed.order.id)
    assert kept["status"] == "pending_risk"
    [announced] = await db.fetch(
        "SELECT o.type, t.to_state FROM outbox o JOIN order_transitions t ON t.order_id::text = o.key "
        "WHERE o.key = $1",
        str(placed.order.id),
    )
    assert (announced["type"], announced["to_state"]) == ("OrderPlaced", "pending_risk")


@pytest.mark.parametrize("counted", ["coupon", "limit per buyer"])
async def test_a_placement_that_counts_a_coupon_or_a_limit_writes_in_one_transaction(
    db: Any, counted: str
) -> None:
    """A coupon's use or a buyer's purchases are counted in the transaction that keeps the order: it begins
    after the shop's read, before the first count, and commits the order and its message with them."""
    limit = 3 if counted == "limit per buyer" else None
    product = Product(uuid4(), "Game key", 1000, "CNY", True, max_per_buyer=limit)
    extra = {}
    if counted == "coupon":
        await add_coupon(db, code="TEN", kind="fixed", value=100, currency="CNY")
        extra["coupon_code"] = "ten"
    await place(db, product, "warm@example.com")  # the connection's codecs set up
    assert db.engine is not None
    async with statements_run(db.engine) as sent:
        placed = await place(db, product, **extra)

    # (the driver's log comes a turn of the loop late: the order of its lines among SQLAlchemy's is not
    # the order they ran in)
    assert sent[0].startswith("SELECT") and "order_price_tiers" in sent[0]
    assert [q for q in sent if q.startswith(("BEGIN", "COMMIT"))] == ["BEGIN;", "COMMIT;"], sent
    assert sum("INSERT INTO outbox " in q for q in sent) == 1
    assert placed.order.amount == (900 if counted == "coupon" else 1000)


async def test_the_order_keeps_its_product_facts_and_buyer_fields(db: Any) -> None:
    product = Product(uuid4(), "Top-up", 4900, "CNY", True, delivery_type="recharge", face_value=5000)
    placed = await place(db, product, buyer_fields={"account": "13800138000", "note": "你好"}, quantity=2)
    async with db.uow() as uow:
        stored = await uow.orders.get_by_no(DEFAULT_SHOP_ID, placed.order.order_no)
    assert stored is not None
    assert (stored.delivery_type, stored.face_value, stored.buyer_fields) == (
        "recharge",
        5000,
        {"account": "13800138000", "note": "你好"},
    )
    assert (stored.discount, stored.coupon_code, stored.amount) == (0, None, 9800)


async def test_buyer_lookup_by_email_and_password(db: Any) -> None:
    product = Product(uuid4(), "Game key", 1000, "CNY", True)
    first = await place(db, product, "Buyer@Example.com", query_password="pw-123456")
    second = await place(db, product, "buyer@example.com", query_password="pw-123456")
    await place(db, product, "buyer@example.com", query_password="different")
    await db.fetch(
        "UPDATE orders SET created_at = created_at - interval '91 days' WHERE id = $1", first.order.id
    )
    found = await services.find_buyer_orders(
        DEFAULT_SHOP_ID, "BUYER@example.com", "pw-123456", db.uow(), TOKENS
    )
    assert [o.order_no for o in found] == [second.order.order_no]
    assert (
        await services.find_buyer_orders(DEFAULT_SHOP_ID, "buyer@example.com", "wrong-pw", db.uow(), TOKENS)
        == []
    )
