"""The inventory unit of work: catalog, keys, reservations, reveals and outgoing messages, one transaction."""

from faka_common.db.uow import SessionFactory, UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.orm import KeyRepository, ProductRepository, ReservationRepository, RevealRepository


class InventoryUnitOfWork(UnitOfWork):
    products: ProductRepository
    keys: KeyRepository
    reservations: ReservationRepository
    reveals: RevealRepository

    def __init__(self, sessions: SessionFactory, producer: str = "inventory") -> None:
        super().__init__(sessions, producer)

    def bind(self, session: AsyncSession) -> None:
        self.products = ProductRepository(session)
        self.keys = KeyRepository(session)
        self.reservations = ReservationRepository(session)
        self.reveals = RevealRepository(session)
