"""The delivery unit of work: deliveries, attempts, the manual queue, suppliers, after-sales tickets and
outgoing messages."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.contents import ContentRepository
from delivery.adapters.deliveries import AttemptRepository, DeliveryRepository
from delivery.adapters.manual_tasks import ManualTaskRepository
from delivery.adapters.supplier_accounts import SupplierAccountRepository
from delivery.adapters.supplier_records import SupplierRepository
from delivery.adapters.tickets import (
    CannedReplyRepository,
    ReplacementClaimRepository,
    TicketRepository,
    TicketSlaRepository,
)


class DeliveryUnitOfWork(UnitOfWork):
    deliveries: DeliveryRepository
    attempts: AttemptRepository
    tasks: ManualTaskRepository
    contents: ContentRepository
    suppliers: SupplierRepository
    tickets: TicketRepository
    claims: ReplacementClaimRepository
    slas: TicketSlaRepository
    canned: CannedReplyRepository
    accounts: SupplierAccountRepository

    def bind(self, session: AsyncSession) -> None:
        self.deliveries = DeliveryRepository(session)
        self.attempts = AttemptRepository(session)
        self.tasks = ManualTaskRepository(session)
        self.contents = ContentRepository(session)
        self.suppliers = SupplierRepository(session)
        self.tickets = TicketRepository(session)
        self.claims = ReplacementClaimRepository(session)
        self.slas = TicketSlaRepository(session)
        self.canned = CannedReplyRepository(session)
        self.accounts = SupplierAccountRepository(session)
