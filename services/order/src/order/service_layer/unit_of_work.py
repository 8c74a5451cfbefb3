"""The order unit of work: orders, payments, their audit trail, the shops read model and outgoing messages in
one transaction."""

from faka_common.contracts.envelope import Envelope, Message
from faka_common.db.uow import SessionFactory, UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.catalog import CatalogRepository
from order.adapters.idempotency import IdempotencyRepository
from order.adapters.metrics import count_transitions
from order.adapters.order_changes import OrderChanges
from order.adapters.order_history import OrderHistory
from order.adapters.orders import OrderRepository
from order.adapters.payment_channels import PaymentChannelRepository
from order.adapters.payment_records import PaymentCheckRepository, PaymentRepository
from order.adapters.pricing import CouponRepository, PriceTierRepository
from order.adapters.refunds import AutoRefundRepository, RefundRepository
from order.adapters.releases import ReleaseRepository
from order.adapters.shop_figures import ShopFigures
from order.adapters.shops import ShopRepository


class OrderUnitOfWork(UnitOfWork):
    """After a commit, the orders whose status changed are announced to their watchers (if any)."""

    orders: OrderRepository
    payments: PaymentRepository
    checks: PaymentCheckRepository
    refunds: RefundRepository
    releases: ReleaseRepository
    auto_refunds: AutoRefundRepository
    idempotency: IdempotencyRepository
    tiers: PriceTierRepository
    coupons: CouponRepository
    shops: ShopRepository
    catalog: CatalogRepository
    channels: PaymentChannelRepository
    history: OrderHistory
    figures: ShopFigures

    def __init__(self, sessions: SessionFactory, producer: str, changes: OrderChanges | None = None) -> None:
        super().__init__(sessions, producer)
        self._changes = changes

    def publish(self, message: Message) -> Envelope:
        """Stage a message; one about a shop's order must name the order's shop (left out, the contract would
        file it under the default shop, which is only right for messages produced before shops)."""
        if "shop_id" in type(message).model_fields and "shop_id" not in message.model_fields_set:
            raise TypeError(f"{message.type_name} for the outbox does not name its shop_id")
        return super().publish(message)

    async def commit(self) -> None:
        # kept saves carry the messages staged with them in their statement: one round trip fewer
        await self.orders.flush(self.take_outbox() if self.orders.deferred else None)
        self.orders.forget_held()
        await super().commit()
        moved, self.orders.moved = self.orders.moved, []
        count_transitions(moved)
        changed, self.orders.changed = self.orders.changed, []
        if changed and self._changes is not None:
            await self._changes.announce(changed)

    async def rollback(self) -> None:
        self.orders.forget_held()
        await super().rollback()

    def bind(self, session: AsyncSession) -> None:
        self.orders = OrderRepository(session)
        self.payments = PaymentRepository(session)
        self.checks = PaymentCheckRepository(session)
        self.refunds = RefundRepository(session)
        self.releases = ReleaseRepository(session)
        self.auto_refunds = AutoRefundRepository(session)
        self.idempotency = IdempotencyRepository(session)
        self.tiers = PriceTierRepository(session)
        self.coupons = CouponRepository(session)
        self.shops = ShopRepository(session)
        self.catalog = CatalogRepository(session)
        self.channels = PaymentChannelRepository(session)
        self.history = OrderHistory(session)
        self.figures = ShopFigures(session)
