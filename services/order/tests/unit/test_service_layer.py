"""Handlers and use cases against an in-memory unit of work (no database)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from faka_common.contracts import (
    AllocationFailed,
    DeliveryFailed,
    DeliverySucceeded,
    KeysAllocated,
    Message,
    OrderApproved,
    OrderCancelled,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
    RiskDecided,
    StockReserved,
    StockUnavailable,
)
from faka_common.contracts.delivery import ManualDeliveryRequested, RechargeRequested
from faka_common.contracts.order import OrderNeedsAttention
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Conflict, NotFound
from faka_common.sandbox_payment import signed_notification
from order.adapters.inventory import Product
from order.adapters.payments.base import RawNotification
from order.adapters.payments.registry import PaymentProviders
from order.adapters.payments.sandbox import MemoryLedger, SandboxProvider
from order.domain import credentials
from order.domain.fulfilment import InvalidBuyerFields
from order.domain.model import UNPAID_ENDS, Order, Status
from order.domain.payments import BadNotification, PaymentNotice
from order.domain.pricing import Coupon, CouponRejected, PriceTier, PurchaseLimitExceeded
from order.domain.shops import KnownShop
from order.service_layer import handlers, payments, services

WINDOW = timedelta(minutes=10)
SECRET = "sandbox-secret"
TOKENS = credentials.OrderTokens("token-secret", timedelta(days=90))


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[UUID, Order] = {}
        self.audit: list[tuple[Any, ...]] = []

    def _store(self, order: Order) -> None:
        self.audit += [(t.order_id, t.from_state, t.to_state, t.trigger) for t in order.pending_transitions]
        order.pending_transitions.clear()
        self.rows[order.id] = replace(order, pending_transitions=[])

    async def add(self, order: Order, outbox: list[list[Any]] | None = None) -> None:
        self._store(order)

    async def save(self, order: Order, outbox: list[list[Any]] | None = None) -> None:
        self._store(order)

    async def get_by_no(self, shop_id: UUID | None, order_no: str) -> Order | None:
        found = [o for o in self.rows.values() if o.order_no == order_no and shop_id in (None, o.shop_id)]
        return replace(found[0], pending_transitions=[]) if found else None

    async def lock(self, shop_id: UUID, order_id: UUID) -> Order | None:
        order = self.rows.get(order_id)
        return replace(order, pending_transitions=[]) if order and order.shop_id == shop_id else None

    async def lock_by_no(self, shop_id: UUID | None, order_no: str) -> Order | None:
        return await self.get_by_no(shop_id, order_no)

    async def lock_overdue(self, now: datetime, limit: int) -> list[Order]:
        due = [o for o in self.rows.values() if o.status is Status.AWAITING_PAYMENT and o.expires_at < now]
        return [replace(o, pending_transitions=[]) for o in due[:limit]]

    async def lock_buyer(self, shop_id: UUID, product_id: UUID, buyer_email: str) -> None:
        pass

    async def units_bought(self, shop_id: UUID, product_id: UUID, buyer_email: str) -> int:
        return sum(
            o.quantity
            for o in self.rows.values()
            if o.shop_id == shop_id
            and o.product_id == product_id
            and o.buyer_email.lower() == buyer_email.lower()
            and o.status not in UNPAID_ENDS
        )

    async def recent_for_buyer(
        self, shop_id: UUID | None, buyer_email: str, since: datetime, limit: int
    ) -> list[Order]:
        mine = [
            o
            for o in self.rows.values()
            if shop_id in (None, o.shop_id)
            and o.buyer_email.lower() == buyer_email.lower()
            and o.created_at >= since
        ]
        return sorted(mine, key=lambda o: o.created_at, reverse=True)[:limit]


class FakeTiers:
    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, UUID], list[PriceTier]] = {}

    async def for_product(self, shop_id: UUID, product_id: UUID) -> list[PriceTier]:
        return list(self.rows.get((shop_id, product_id), []))

    async def replace(self, shop_id: UUID, product_id: UUID, tiers: list[PriceTier]) -> None:
        self.rows[(shop_id, product_id)] = list(tiers)


class FakeCoupons:
    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, str], Coupon] = {}
        self.redemptions: list[tuple[UUID, str, UUID, str, int]] = []

    async def add(self, coupon: Coupon) -> bool:
        if (coupon.shop_id, coupon.code) in self.rows:
            return False
        self.rows[(coupon.shop_id, coupon.code)] = coupon
        return True

    async def get(self, shop_id: UUID, code: str) -> Coupon | None:
        return self.rows.get((shop_id, code))

    async def take_use(self, shop_id: UUID, code: str, now: datetime) -> bool:
        coupon = self.rows[(shop_id, code)]
        if coupon.usage_limit is not None and coupon.used_count >= coupon.usage_limit:
            return False
        self.rows[(shop_id, code)] = replace(coupon, used_count=coupon.used_count + 1)
        return True

    async def uses_by(self, shop_id: UUID, code: str, buyer_email: str) -> int:
        return sum(
            1 for r in self.redemptions if r[:2] == (shop_id, code) and r[3].lower() == buyer_email.lower()
        )

    async def record_redemption(self, order: Order, code: str, discount: int, at: datetime) -> None:
        self.redemptions.append((order.shop_id, code, order.id, order.buyer_email, discount))

    async def release(self, order_id: UUID, at: datetime) -> str | None:
        return None  # the real give-back is tested against PostgreSQL (test_coupon_release_db)

    async def reclaim(self, order_id: UUID) -> str | None:
        return None


class FakePayments:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], UUID] = {}
        self.exceptions: dict[tuple[str, str], str] = {}

    async def add_exception(self, order: Order, notice: PaymentNotice, reason: str, at: datetime) -> bool:
        key = (notice.provider, notice.trade_no)
        if key in self.exceptions:
            return False
        self.exceptions[key] = reason
        return True

    async def add(self, order: Order, notice: PaymentNotice, received_at: datetime) -> bool:
        if (notice.provider, notice.trade_no) in self.rows:
            return False
        self.rows[(notice.provider, notice.trade_no)] = order.id
        return True


class FakeChannels:
    """No shop has a payment channel of its own; orders are locked as `orders` locks them."""

    def __init__(self, orders: FakeOrders) -> None:
        self._orders = orders

    async def lock_order_with_collector(
        self, shop_id: UUID | None, order_no: str, provider: str
    ) -> tuple[Order, str | None, bool] | None:
        order = await self._orders.lock_by_no(shop_id, order_no)
        return None if order is None else (order, None, False)

    async def get(self, shop_id: UUID, provider: str) -> None:
        return None

    async def collector(self, order_id: UUID, shop_id: UUID, provider: str) -> tuple[str | None, bool]:
        return None, False

    async def enabled(self, shop_id: UUID) -> list[str]:
        return []


class FakeShops:
    """The shops read model: no shop known unless a test tells it one; a product's tiers as `tiers` has; the
    catalog read model holds no product (placements ask the fake catalog)."""

    def __init__(self, tiers: FakeTiers) -> None:
        self.rows: dict[UUID, KnownShop] = {}
        self._tiers = tiers

    async def with_price_tiers(
        self, shop_id: UUID, product_id: UUID
    ) -> tuple[KnownShop | None, list[PriceTier], None]:
        return await self.get(shop_id), await self._tiers.for_product(shop_id, product_id), None

    async def save(self, shop: KnownShop) -> None:
        self.rows[shop.shop_id] = shop

    async def get(self, shop_id: UUID) -> KnownShop | None:
        return self.rows.get(shop_id)


class FakeUow:
    """Commits copy staged state to `committed`; leaving without commit discards staged messages."""

    def __init__(self) -> None:
        self.orders = FakeOrders()
        self.payments = FakePayments()
        self.tiers = FakeTiers()
        self.coupons = FakeCoupons()
        self.shops = FakeShops(self.tiers)
        self.channels = FakeChannels(self.orders)
        self.staged: list[Message] = []
        self.committed: list[Message] = []

    def alone(self) -> FakeUow:
        return self

    async def begin(self) -> None:
        pass

    def take_outbox(self) -> list[list[Any]] | None:
        """The staged messages ride with a write; they are kept at commit, as the statement keeps them."""
        return [list(self.staged)] if self.staged else None

    async def __aenter__(self) -> FakeUow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.staged = []

    def publish(self, message: Message) -> None:
        self.staged.append(message)

    async def commit(self) -> None:
        self.committed += self.staged
        self.staged = []


class FakeCatalog:
    """The default shop's products (another shop's ask is NotFound, as the scoped inventory answers)."""

    def __init__(self, *products: Product) -> None:
        self.products = {p.product_id: p for p in products}

    async def product(self, product_id: UUID, shop_id: UUID) -> Product:
        if product_id not in self.products or shop_id != DEFAULT_SHOP_ID:
            raise NotFound(f"unknown product {product_id}")
        return self.products[product_id]


def make_order(uow: FakeUow, status: Status = Status.PENDING_RISK, **changes: Any) -> Order:
    now = datetime.now(UTC)
    order = Order.place(
        id=uuid4(),
        shop_id=DEFAULT_SHOP_ID,
        order_no=credentials.new_order_no(now),
        product_id=uuid4(),
        product_title="Key",
        quantity=2,
        unit_price=500,
        currency="CNY",
        buyer_email="a@example.com",
        buyer_ip=None,
        locale="zh-CN",
        password_hash=None,
        now=now,
        payment_window=WINDOW,
    )
    order.status = status
    for name, value in changes.items():
        setattr(order, name, value)
    order.pending_transitions.clear()
    uow.orders.rows[order.id] = order
    return order


async def run(handler: Any, event: Message, uow: FakeUow, **kwargs: Any) -> None:
    await handler(event, uow, **kwargs)
    await uow.commit()


# Consumers


async def test_risk_approval_moves_to_reserving_and_announces_the_window() -> None:
    uow = FakeUow()
    order = make_order(uow)
    await run(
        handlers.on_risk_decided,
        RiskDecided(order_id=order.id, verdict="approve"),
        uow,
        payment_window=WINDOW,
    )
    stored = uow.orders.rows[order.id]
    assert stored.status is Status.RESERVING
    assert stored.expires_at == order.created_at + WINDOW
    [approved] = uow.committed
    assert isinstance(approved, OrderApproved)
    assert approved.payment_expires_at == order.created_at + WINDOW
    assert (approved.product_id, approved.quantity) == (order.product_id, 2)
    assert uow.orders.audit == [(order.id, Status.PENDING_RISK, Status.RESERVING, "approve")]


async def test_risk_reject_and_review() -> None:
    uow = FakeUow()
    rejected, reviewed = make_order(uow), make_order(uow)
    await run(
        handlers.on_risk_decided,
        RiskDecided(order_id=rejected.id, verdict="reject", reasons=["ip"]),
        uow,
        payment_window=WINDOW,
    )
    await run(
        handlers.on_risk_decided,
        RiskDecided(order_id=reviewed.id, verdict="review"),
        uow,
        payment_window=WINDOW,
    )
    assert uow.orders.rows[rejected.id].status is Status.REJECTED
    assert uow.orders.rows[reviewed.id].status is Status.REVIEW
    [message] = uow.committed
    assert isinstance(message, OrderRejected) and message.reasons == ["ip"]


async def test_stock_events() -> None:
    uow = FakeUow()
    reserved, unavailable = make_order(uow, Status.RESERVING), make_order(uow, Status.RESERVING)
    await run(
        handlers.on_stock_reserved,
        StockReserved(order_id=reserved.id, product_id=reserved.product_id, quantity=2, expires_at=None),
        uow,
    )
    await run(
        handlers.on_stock_unavailable,
        StockUnavailable(
            order_id=unavailable.id, product_id=unavailable.product_id, requested=2, available=0
        ),
        uow,
    )
    assert uow.orders.rows[reserved.id].status is Status.AWAITING_PAYMENT
    assert uow.orders.rows[unavailable.id].status is Status.CANCELLED
    [cancelled] = uow.committed
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "out_of_stock"


async def test_fulfilment_path_to_delivered() -> None:
    uow = FakeUow()
    order = make_order(uow, Status.PAID)
    await run(
        handlers.on_keys_allocated,
        KeysAllocated(
            order_id=order.id, product_id=order.product_id, key_ids=[uuid4()], delivery_type="card_key"
        ),
        uow,
    )
    assert uow.orders.rows[order.id].status is Status.FULFILLING
    await run(
        handlers.on_delivery_succeeded,
        DeliverySucceeded(order_id=order.id, delivery_id=uuid4(), mode="card_key", item_count=2),
        uow,
    )
    stored = uow.orders.rows[order.id]
    assert stored.status is Status.DELIVERED and stored.delivered_at is not None
    [delivered] = uow.committed
    assert isinstance(delivered, OrderDelivered) and delivered.delivered_at == stored.delivered_at


async def test_failures_keep_reason() -> None:
    uow = FakeUow()
    paid, fulfilling = make_order(uow, Status.PAID), make_order(uow, Status.FULFILLING)
    await run(
        handlers.on_allocation_failed,
        AllocationFailed(order_id=paid.id, product_id=paid.product_id, reason="no stock left"),
        uow,
    )
    await run(
        handlers.on_delivery_failed,
        DeliveryFailed(order_id=fulfilling.id, delivery_id=uuid4(), reason="smtp down"),
        uow,
    )
    assert uow.orders.rows[paid.id].status is Status.DELIVERY_FAILED
    assert uow.orders.rows[paid.id].status_reason == "no stock left"
    assert uow.orders.rows[fulfilling.id].status_reason == "smtp down"
    [attention] = uow.committed  # the seller hears of the paid order left undelivered
    assert isinstance(attention, OrderNeedsAttention) and attention.order_id == paid.id


async def test_misfit_events_and_unknown_orders_are_ignored() -> None:
    uow = FakeUow()
    order = make_order(uow, Status.DELIVERED)
    await run(
        handlers.on_risk_decided,
        RiskDecided(order_id=order.id, verdict="approve"),
        uow,
        payment_window=WINDOW,
    )
    await run(
        handlers.on_stock_unavailable,
        StockUnavailable(order_id=order.id, product_id=order.product_id, requested=1, available=0),
        uow,
    )
    await run(
        handlers.on_delivery_succeeded,
        DeliverySucceeded(order_id=uuid4(), delivery_id=uuid4(), mode="card_key", item_count=1),
        uow,
    )
    assert uow.orders.rows[order.id].status is Status.DELIVERED
    assert uow.committed == [] and uow.orders.audit == []


# Use cases


async def test_place_order_prices_and_announces() -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Game key", 1299, "CNY", True)
    placed = await services.place_order(
        services.PlaceOrder(DEFAULT_SHOP_ID, product.product_id, 3, "a@example.com", "pw", "en", "10.0.0.1"),
        uow,
        FakeCatalog(product),
        TOKENS,
        WINDOW,
    )
    order = placed.order
    assert (order.status, order.amount, order.unit_price, order.currency) == (
        Status.PENDING_RISK,
        3897,
        1299,
        "CNY",
    )
    assert TOKENS.valid(order.order_no, 0, order.created_at, placed.token, datetime.now(UTC))
    assert credentials.password_valid(order.password_hash, "pw")
    [message] = uow.committed
    assert isinstance(message, OrderPlaced) and message.amount == 3897 and message.locale == "en"
    assert uow.orders.audit == [(order.id, None, Status.PENDING_RISK, "place")]


async def test_place_order_unknown_or_inactive_product() -> None:
    inactive = Product(uuid4(), "Old", 100, "CNY", False)
    with pytest.raises(NotFound):
        await services.place_order(
            services.PlaceOrder(DEFAULT_SHOP_ID, uuid4(), 1, "a@example.com"),
            FakeUow(),
            FakeCatalog(),
            TOKENS,
            WINDOW,
        )
    with pytest.raises(Conflict):
        await services.place_order(
            services.PlaceOrder(DEFAULT_SHOP_ID, inactive.product_id, 1, "a@example.com"),
            FakeUow(),
            FakeCatalog(inactive),
            TOKENS,
            WINDOW,
        )


async def test_a_product_paused_by_its_after_sales_rate_is_refused_saying_so_and_places_nothing() -> None:
    paused = Product(uuid4(), "Keys that failed", 100, "CNY", False, paused=True)
    uow = FakeUow()
    with pytest.raises(Conflict) as caught:
        await services.place_order(
            services.PlaceOrder(DEFAULT_SHOP_ID, paused.product_id, 1, "a@example.com"),
            uow,
            FakeCatalog(paused),
            TOKENS,
            WINDOW,
        )
    assert "not on sale: paused because buyers reported too many problems" in caught.value.message
    assert uow.committed == [] and uow.orders.rows == {}


async def test_find_order_by_token_or_password_and_same_404_otherwise() -> None:
    uow = FakeUow()
    order = make_order(uow, password_hash=credentials.hash_password("pw"))
    token = TOKENS.issue(order.order_no, 0, datetime.now(UTC))
    assert (
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=token)
    ).id == order.id
    assert (
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, password="pw")
    ).id == order.id
    messages = set()
    for kwargs in ({"token": "nope"}, {"password": "wrong"}, {}, {"token": token + "x"}):
        with pytest.raises(NotFound) as caught:
            await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, **kwargs)
        messages.add(caught.value.message)
    other = "F20990101000000ZZZZZZ"
    with pytest.raises(NotFound) as caught:
        token = TOKENS.issue(other, 0, datetime.now(UTC))
        await services.find_order(DEFAULT_SHOP_ID, other, uow, TOKENS, token=token)
    messages.add(caught.value.message)
    assert messages == {services.NO_SUCH_ORDER}


async def test_order_token_stops_working_after_its_lifetime() -> None:
    uow = FakeUow()
    order = make_order(uow)
    issued = datetime.now(UTC)
    token = TOKENS.issue(order.order_no, 0, issued)
    almost = issued + timedelta(days=90) - timedelta(seconds=5)
    assert (
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=token, now=almost)
    ).id == order.id
    with pytest.raises(NotFound):
        await services.find_order(
            DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=token, now=issued + timedelta(days=90)
        )


async def test_rotating_an_orders_secret_revokes_its_old_token_and_issues_a_working_one() -> None:
    uow = FakeUow()
    order = make_order(uow)
    old = TOKENS.issue(order.order_no, 0, datetime.now(UTC))
    other = make_order(uow)
    other_token = TOKENS.issue(other.order_no, 0, datetime.now(UTC))
    rotated = await services.rotate_secret(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS)
    assert rotated.order.secret_version == 1
    with pytest.raises(NotFound):
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=old)
    assert (
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=rotated.token)
    ).id == order.id
    assert (
        await services.find_order(DEFAULT_SHOP_ID, other.order_no, uow, TOKENS, token=other_token)
    ).id == other.id
    with pytest.raises(NotFound):
        await services.rotate_secret(DEFAULT_SHOP_ID, "F20990101000000ZZZZZZ", uow, TOKENS)


async def test_a_token_issued_before_tokens_expired_works_for_the_lifetime_until_rotated() -> None:
    uow = FakeUow()
    order = make_order(uow)
    legacy = credentials.legacy_token(TOKENS.secret, order.order_no)
    assert (
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=legacy)
    ).id == order.id
    late = order.created_at + timedelta(days=91)
    with pytest.raises(NotFound):
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=legacy, now=late)
    await services.rotate_secret(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS)
    with pytest.raises(NotFound):
        await services.find_order(DEFAULT_SHOP_ID, order.order_no, uow, TOKENS, token=legacy)


async def test_email_lookup_hashes_once_whatever_the_number_of_orders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Game key", 1299, "CNY", True)
    for _ in range(5):
        await place(uow, product, email="b@example.com", query_password="pw-123456")
    hashes: list[str] = []
    real = credentials._scrypt

    def counted(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        hashes.append(password)
        return real(password, salt, n, r, p)

    monkeypatch.setattr(credentials, "_scrypt", counted)
    assert (
        len(await services.find_buyer_orders(DEFAULT_SHOP_ID, "b@example.com", "pw-123456", uow, TOKENS)) == 5
    )
    assert (
        len(await services.find_buyer_orders(DEFAULT_SHOP_ID, "b@example.com", "wrong-pw", uow, TOKENS)) == 0
    )
    assert (
        await services.find_buyer_orders(DEFAULT_SHOP_ID, "nobody@example.com", "pw-123456", uow, TOKENS)
        == []
    )
    assert len(hashes) == 3


PROVIDERS = PaymentProviders({"sandbox": SandboxProvider(SECRET, "http://127.0.0.1:8000", MemoryLedger())})


async def receive(provider: str, body: bytes, uow: Any) -> str:
    return await payments.receive_payment(DEFAULT_SHOP_ID, provider, RawNotification(body), uow, PROVIDERS)


def notify(order: Order, trade_no: str = "T1", **overrides: Any) -> bytes:
    params = signed_notification(order.order_no, trade_no, order.amount, order.currency, SECRET)
    params.update(overrides)
    return json.dumps(params).encode()


async def test_payment_pays_once_and_replays_are_duplicates() -> None:
    uow = FakeUow()
    order = make_order(uow, Status.AWAITING_PAYMENT)
    assert await receive("sandbox", notify(order), uow) == "accepted"
    assert await receive("sandbox", notify(order), uow) == "duplicate"
    assert uow.orders.rows[order.id].status is Status.PAID
    assert [type(m) for m in uow.committed] == [OrderPaid]
    assert uow.committed[0].trade_no == "T1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.CANCELLED])
async def test_late_payment_still_pays(status: Status) -> None:
    uow = FakeUow()
    order = make_order(uow, status)
    assert await receive("sandbox", notify(order), uow) == "accepted"
    assert uow.orders.rows[order.id].status is Status.PAID
    assert [type(m) for m in uow.committed] == [OrderPaid]


async def test_second_trade_on_a_paid_order_is_flagged_not_paid_again() -> None:
    uow = FakeUow()
    order = make_order(uow, Status.AWAITING_PAYMENT)
    await receive("sandbox", notify(order, "T1"), uow)
    assert await receive("sandbox", notify(order, "T2"), uow) == "accepted"
    stored = uow.orders.rows[order.id]
    assert stored.status is Status.PAID and stored.status_reason == "duplicate_payment_needs_refund"
    assert len(uow.payments.rows) == 2
    assert [type(m) for m in uow.committed] == [OrderPaid]


async def test_bad_payments_change_nothing() -> None:
    uow = FakeUow()
    order = make_order(uow, Status.AWAITING_PAYMENT)
    with pytest.raises(NotFound):
        await receive("paypal", notify(order), uow)
    with pytest.raises(BadNotification, match="amount"):
        body = signed_notification(order.order_no, "T1", order.amount + 1, order.currency, SECRET)
        await receive("sandbox", json.dumps(body).encode(), uow)
    with pytest.raises(NotFound):
        body = signed_notification("F20990101000000ZZZZZZ", "T1", 1, "CNY", SECRET)
        await receive("sandbox", json.dumps(body).encode(), uow)
    with pytest.raises(BadNotification):
        await receive("sandbox", b"nope", uow)
    assert uow.payments.rows == {} and uow.committed == []
    stored = uow.orders.rows[order.id]
    assert stored.status is Status.AWAITING_PAYMENT
    # the real payment of the wrong amount is kept for a refund and flags the order; it never pays it
    assert stored.status_reason == "payment_amount_mismatch_needs_refund"
    assert list(uow.payments.exceptions) == [("sandbox", "T1")]


async def test_expiry_expires_only_overdue_awaiting_orders() -> None:
    uow = FakeUow()
    now = datetime.now(UTC)
    overdue = make_order(uow, Status.AWAITING_PAYMENT, expires_at=now - timedelta(seconds=1))
    fresh = make_order(uow, Status.AWAITING_PAYMENT, expires_at=now + timedelta(seconds=60))
    reserving = make_order(uow, Status.RESERVING, expires_at=now - timedelta(seconds=1))
    assert await services.expire_overdue(uow, now) == 1
    assert uow.orders.rows[overdue.id].status is Status.EXPIRED
    assert uow.orders.rows[fresh.id].status is Status.AWAITING_PAYMENT
    assert uow.orders.rows[reserving.id].status is Status.RESERVING
    [cancelled] = uow.committed
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "expired"
    assert cancelled.order_id == overdue.id


# Pricing at placement


async def place(uow: FakeUow, product: Product, quantity: int = 1, **extra: Any) -> services.PlacedOrder:
    command = services.PlaceOrder(
        DEFAULT_SHOP_ID, product.product_id, quantity, extra.pop("email", "a@example.com"), **extra
    )
    return await services.place_order(command, uow, FakeCatalog(product), TOKENS, WINDOW)


def add_coupon(uow: FakeUow, **changes: Any) -> Coupon:
    values: dict[str, Any] = {
        "shop_id": DEFAULT_SHOP_ID,
        "code": "SPRING15",
        "kind": "percent",
        "value": 15,
        "currency": None,
        "product_id": None,
        "category_id": None,
        "usage_limit": None,
        "per_buyer_limit": None,
        "expires_at": None,
        "now": datetime.now(UTC),
    }
    values.update(changes)
    coupon = Coupon.new(**values)
    uow.coupons.rows[(coupon.shop_id, coupon.code)] = coupon
    return coupon


async def test_tier_and_coupon_price_the_order_and_orderplaced_carries_the_discount() -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Game key", 1999, "CNY", True)
    uow.tiers.rows[(DEFAULT_SHOP_ID, product.product_id)] = [PriceTier(3, 1333)]
    add_coupon(uow, product_id=product.product_id)
    placed = await place(uow, product, 3, coupon_code="spring15")
    order = placed.order
    # 3 x 13.33 = 39.99; 15% = 5.9985 -> 6.00 off (half up)
    assert (order.unit_price, order.discount, order.amount) == (1333, 600, 3399)
    assert order.coupon_code == "SPRING15"
    [message] = uow.committed
    assert isinstance(message, OrderPlaced)
    assert (message.amount, message.discount, message.coupon_code, message.unit_price) == (
        3399,
        600,
        "SPRING15",
        1333,
    )
    assert uow.coupons.rows[(DEFAULT_SHOP_ID, "SPRING15")].used_count == 1
    assert uow.coupons.redemptions == [(DEFAULT_SHOP_ID, "SPRING15", order.id, "a@example.com", 600)]


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "coupon_expired", "expired"),
        ({"usage_limit": 1, "used_count": 1}, "coupon_used_up", "used up"),
        ({"product_id": uuid4()}, "coupon_not_applicable", "not for this product"),
    ],
)
async def test_a_bad_coupon_is_a_clear_4xx_and_places_nothing(
    changes: dict[str, Any], code: str, words: str
) -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Game key", 1000, "CNY", True)
    coupon = add_coupon(uow)
    uow.coupons.rows[(coupon.shop_id, coupon.code)] = replace(coupon, **changes)
    with pytest.raises(CouponRejected, match=words) as caught:
        await place(uow, product, coupon_code="SPRING15")
    assert caught.value.code == code and 400 <= caught.value.status_code < 500
    with pytest.raises(CouponRejected, match="no coupon 'NOPE'") as unknown:
        await place(uow, product, coupon_code="nope")
    assert unknown.value.code == "coupon_unknown"
    assert uow.orders.rows == {} and uow.committed == []


async def test_a_coupon_category_comes_from_the_product_view() -> None:
    uow = FakeUow()
    category = uuid4()
    listed = Product(uuid4(), "Key", 1000, "CNY", True, category_id=category)
    unlisted = Product(uuid4(), "Key", 1000, "CNY", True)
    add_coupon(uow, category_id=category, kind="fixed", value=300, currency="CNY")
    assert (await place(uow, listed, coupon_code="SPRING15")).order.amount == 700
    with pytest.raises(CouponRejected, match="category"):
        await place(uow, unlisted, coupon_code="SPRING15")


async def test_per_buyer_coupon_limit() -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Key", 1000, "CNY", True)
    add_coupon(uow, per_buyer_limit=1)
    await place(uow, product, coupon_code="SPRING15", email="a@example.com")
    with pytest.raises(CouponRejected) as caught:
        await place(uow, product, coupon_code="SPRING15", email="A@Example.com")
    assert caught.value.code == "coupon_buyer_limit"
    assert (await place(uow, product, coupon_code="SPRING15", email="b@example.com")).order.discount == 150


async def test_purchase_limits_per_order_and_per_buyer_email() -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Key", 1000, "CNY", True, max_per_order=2, max_per_buyer=3)
    with pytest.raises(PurchaseLimitExceeded, match="per order"):
        await place(uow, product, 3)
    first = await place(uow, product, 2)
    with pytest.raises(PurchaseLimitExceeded, match="1 left"):
        await place(uow, product, 2, email="A@EXAMPLE.COM")
    uow.orders.rows[first.order.id].status = Status.EXPIRED  # an order that ended unpaid does not count
    await place(uow, product, 2)
    assert (await place(uow, product, 2, email="other@example.com")).order.quantity == 2


async def test_recharge_product_keeps_delivery_type_and_buyer_fields_and_needs_an_account() -> None:
    uow = FakeUow()
    product = Product(uuid4(), "Top-up 50", 4900, "CNY", True, delivery_type="recharge", face_value=5000)
    with pytest.raises(InvalidBuyerFields, match="account"):
        await place(uow, product)
    order = (await place(uow, product, buyer_fields={"account": "13800138000"})).order
    assert (order.delivery_type, order.face_value, order.buyer_fields) == (
        "recharge",
        5000,
        {"account": "13800138000"},
    )


async def test_payment_of_a_recharge_order_requests_the_recharge_in_the_same_commit() -> None:
    uow = FakeUow()
    order = make_order(
        uow, Status.AWAITING_PAYMENT, delivery_type="recharge", buyer_fields={"account": "13800138000"}
    )
    assert await receive("sandbox", notify(order), uow) == "accepted"
    paid, recharge = uow.committed
    assert isinstance(paid, OrderPaid) and isinstance(recharge, RechargeRequested)
    assert (recharge.account, recharge.amount, recharge.order_id) == ("13800138000", 1000, order.id)


async def test_payment_of_a_manual_order_requests_an_operator_and_key_orders_request_nothing() -> None:
    uow = FakeUow()
    manual = make_order(uow, Status.AWAITING_PAYMENT, delivery_type="manual", buyer_fields={"id": "p1"})
    keys = make_order(uow, Status.AWAITING_PAYMENT)
    await receive("sandbox", notify(manual, "T1"), uow)
    await receive("sandbox", notify(keys, "T2"), uow)
    assert [type(m) for m in uow.committed] == [OrderPaid, ManualDeliveryRequested, OrderPaid]
    assert uow.committed[1].buyer_fields == {"id": "p1"}  # type: ignore[attr-defined]


# Buyer lookup by email and query password


async def test_buyer_finds_recent_orders_with_the_right_password_only() -> None:
    uow = FakeUow()
    hashed = credentials.hash_password("pw-123456")
    now = datetime.now(UTC)
    mine = make_order(uow, password_hash=hashed, buyer_email="Buyer@example.com")
    older = make_order(uow, password_hash=hashed, buyer_email="buyer@example.com")
    older.created_at = now - timedelta(days=30)
    stale = make_order(uow, password_hash=hashed, buyer_email="buyer@example.com")
    stale.created_at = now - timedelta(days=91)
    make_order(uow, password_hash=credentials.hash_password("other-pw"), buyer_email="buyer@example.com")
    make_order(uow, buyer_email="buyer@example.com")
    found = await services.find_buyer_orders(DEFAULT_SHOP_ID, "BUYER@example.com", "pw-123456", uow, TOKENS)
    assert [o.id for o in found] == [mine.id, older.id]
    assert await services.find_buyer_orders(DEFAULT_SHOP_ID, "buyer@example.com", "wrong", uow, TOKENS) == []
    assert (
        await services.find_buyer_orders(DEFAULT_SHOP_ID, "nobody@example.com", "pw-123456", uow, TOKENS)
        == []
    )
