"""The inventory unit of work: catalog, keys, reservations, stock changes, reveals and outgoing messages,
one transaction."""

from faka_common.db.uow import SessionFactory, UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.catalog import CategoryRepository, ProductRepository
from inventory.adapters.key_pools import KeyRepository, RevealRepository
from inventory.adapters.product_quality import ProductQualityRepository
from inventory.adapters.replacements import ReplacementRepository
from inventory.adapters.reservations import ReservationRepository
from inventory.adapters.stock import StockRepository


class InventoryUnitOfWork(UnitOfWork):
    categories: CategoryRepository
    products: ProductRepository
    keys: KeyRepository
    reservations: ReservationRepository
    reveals: RevealRepository
    stock: StockRepository
    replacements: ReplacementRepository
    quality: ProductQualityRepository

    def __init__(self, sessions: SessionFactory, producer: str = "inventory") -> None:
        super().__init__(sessions, producer)

    def bind(self, session: AsyncSession) -> None:
        self.categories = CategoryRepository(session)
        self.products = ProductRepository(session)
        self.keys = KeyRepository(session)
        self.reservations = ReservationRepository(session)
        self.reveals = RevealRepository(session)
        self.stock = StockRepository(session)
        self.replacements = ReplacementRepository(session)
        self.quality = ProductQualityRepository(session)
