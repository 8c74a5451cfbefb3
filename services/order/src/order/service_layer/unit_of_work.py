"""The order unit of work: orders, payments, their audit trail and outgoing messages in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.orm import (
    AutoRefundRepository,
    CouponRepository,
    IdempotencyRepository,
    OrderRepository,
    PaymentCheckRepository,
    PaymentRepository,
    PriceTierRepository,
    RefundRepository,
)


class OrderUnitOfWork(UnitOfWork):
    orders: OrderRepository
    payments: PaymentRepository
    checks: PaymentCheckRepository
    refunds: RefundRepository
    auto_refunds: AutoRefundRepository
    idempotency: IdempotencyRepository
    tiers: PriceTierRepository
    coupons: CouponRepository

    def bind(self, session: AsyncSession) -> None:
        self.orders = OrderRepository(session)
        self.payments = PaymentRepository(session)
        self.checks = PaymentCheckRepository(session)
        self.refunds = RefundRepository(session)
        self.auto_refunds = AutoRefundRepository(session)
        self.idempotency = IdempotencyRepository(session)
        self.tiers = PriceTierRepository(session)
        self.coupons = CouponRepository(session)
