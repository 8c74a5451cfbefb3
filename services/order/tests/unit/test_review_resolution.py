"""An order held for review ends with risk's second RiskDecided: approved, it reserves stock (OrderApproved)
with a full payment window from the approval; rejected or expired, it is rejected with the reason. Nothing
is reserved while it waits, so a rejected one has no stock to give back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from faka_common.contracts import OrderApproved, OrderRejected, RiskDecided
from order.domain.model import Order, Status
from order.service_layer import handlers

from .test_service_layer import WINDOW, FakeUow, make_order, run


async def in_review(uow: FakeUow) -> Order:
    order, published = make_order(uow), len(uow.committed)
    held = RiskDecided(order_id=order.id, verdict="review")
    await run(handlers.on_risk_decided, held, uow, payment_window=WINDOW)
    assert uow.orders.rows[order.id].status is Status.REVIEW
    assert len(uow.committed) == published  # no OrderApproved: inventory reserves nothing in review
    return order


async def test_an_approved_review_reserves_stock_with_a_payment_window_from_the_approval() -> None:
    uow = FakeUow()
    order = await in_review(uow)
    before = datetime.now(UTC)
    approval = RiskDecided(
        order_id=order.id, verdict="approve", review_outcome="approved", reviewed_by="op@shop.example"
    )
    await run(handlers.on_risk_decided, approval, uow, payment_window=WINDOW)

    assert uow.orders.rows[order.id].status is Status.RESERVING
    [approved] = uow.committed
    assert isinstance(approved, OrderApproved) and approved.payment_expires_at >= before + WINDOW


async def test_a_rejected_or_expired_review_rejects_the_order_with_the_reason() -> None:
    uow = FakeUow()
    outcomes: list[tuple[str, Literal["rejected", "expired"]]] = [
        ("review rejected: fraud", "rejected"),
        ("review expired", "expired"),
    ]
    for reason, outcome in outcomes:
        order = await in_review(uow)
        final = RiskDecided(order_id=order.id, verdict="reject", reasons=[reason], review_outcome=outcome)
        await run(handlers.on_risk_decided, final, uow, payment_window=WINDOW)
        assert uow.orders.rows[order.id].status is Status.REJECTED
        assert uow.orders.rows[order.id].status_reason == f"risk: {reason}"
    rejections = [m.reasons for m in uow.committed if isinstance(m, OrderRejected)]
    assert rejections == [["review rejected: fraud"], ["review expired"]]
