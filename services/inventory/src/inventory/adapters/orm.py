"""Inventory tables and repositories. Card-key plaintext never reaches these tables: only sealed blobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from faka_common.crypto import Sealed
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.domain.model import Product, Reservation, Stock, StoredKey
from inventory.domain.reservations import ReservationStatus

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("delivery_type", Text, nullable=False),
    Column("loop_key_sealed", LargeBinary),
    Column("loop_key_key_id", Text),
    Column("usage_instructions", Text, nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("delivery_type IN ('card_key', 'loop_key')", name="products_delivery_type"),
    CheckConstraint("price >= 0", name="products_price_not_negative"),
    CheckConstraint(
        "delivery_type <> 'loop_key' OR (loop_key_sealed IS NOT NULL AND loop_key_key_id IS NOT NULL)",
        name="products_loop_key_present",
    ),
)

key_batches = Table(
    "key_batches",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), ForeignKey("products.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("imported", Integer, nullable=False, server_default="0"),
    Column("duplicates", Integer, nullable=False, server_default="0"),
    Column("invalid", Integer, nullable=False, server_default="0"),
    Index("key_batches_product", "product_id"),
)

card_keys = Table(
    "card_keys",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), ForeignKey("products.id"), nullable=False),
    Column("batch_id", PgUUID(as_uuid=True), ForeignKey("key_batches.id"), nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("status", Text, nullable=False, server_default="available"),
    Column("order_id", PgUUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("product_id", "fingerprint", name="card_keys_product_fingerprint"),
    CheckConstraint("status IN ('available', 'reserved', 'sold', 'void')", name="card_keys_status"),
    Index("card_keys_order", "order_id", postgresql_where=text("order_id IS NOT NULL")),
    CheckConstraint(
        "(status IN ('reserved', 'sold')) = (order_id IS NOT NULL)", name="card_keys_owner_matches_status"
    ),
    Index("card_keys_product_status", "product_id", "status"),
    Index("card_keys_batch", "batch_id"),
)

available_keys = Table(
    "available_keys",
    metadata,
    Column("key_id", PgUUID(as_uuid=True), ForeignKey("card_keys.id"), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("seq", BigInteger, Identity(), nullable=False),
    Index("available_keys_product_seq", "product_id", "seq"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('active', 'released', 'allocated')", name="reservations_status"),
    CheckConstraint("quantity >= 1", name="reservations_quantity_positive"),
    Index("reservations_product_status", "product_id", "status"),
)

stock_refusals = Table(
    "stock_refusals",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("requested", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

key_reveals = Table(
    "key_reveals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("key_id", PgUUID(as_uuid=True)),
    Column("reader", Text, nullable=False),
    Column("revealed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("key_reveals_order", "order_id"),
)

IMPORT_CHUNK = 1000


def claim_statement(product_id: UUID, quantity: int) -> Select[UUID]:
    """The claim: the oldest `quantity` available keys of a product that no other transaction holds.
    It reads only available_keys through (product_id, seq), so sold keys are never walked past."""
    return (
        select(available_keys.c.key_id)
        .where(available_keys.c.product_id == product_id)
        .order_by(available_keys.c.seq)
        .limit(quantity)
        .with_for_update(skip_locked=True)
    )


def _product(row: Row[tuple[object, ...]]) -> Product:
    loop_key = None
    if row.loop_key_sealed is not None and row.loop_key_key_id is not None:
        loop_key = Sealed(row.loop_key_key_id, bytes(row.loop_key_sealed))
    return Product(
        id=row.id,
        title=row.title,
        description=row.description,
        price=row.price,
        currency=row.currency,
        delivery_type=row.delivery_type,
        usage_instructions=row.usage_instructions,
        active=row.active,
        created_at=row.created_at,
        loop_key=loop_key,
    )


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, product: Product) -> None:
        await self._session.execute(
            insert(products).values(
                id=product.id,
                title=product.title,
                description=product.description,
                price=product.price,
                currency=product.currency,
                delivery_type=product.delivery_type,
                loop_key_sealed=product.loop_key.blob if product.loop_key else None,
                loop_key_key_id=product.loop_key.key_id if product.loop_key else None,
                usage_instructions=product.usage_instructions,
                active=product.active,
                created_at=product.created_at,
            )
        )

    async def get(self, product_id: UUID) -> Product | None:
        row = (await self._session.execute(select(products).where(products.c.id == product_id))).first()
        return _product(row) if row else None

    async def list(self) -> list[Product]:
        rows = await self._session.execute(select(products).order_by(products.c.created_at, products.c.id))
        return [_product(row) for row in rows]

    async def stock(self, items: Sequence[Product]) -> dict[UUID, Stock]:
        """Stock counts of each product: card keys by status, loop keys by reservation units."""
        card = [p.id for p in items if p.delivery_type == "card_key"]
        loop = [p.id for p in items if p.delivery_type == "loop_key"]
        counts: dict[UUID, dict[str, int]] = defaultdict(dict)
        if card:
            rows = await self._session.execute(
                select(card_keys.c.product_id, card_keys.c.status, func.count())
                .where(card_keys.c.product_id.in_(card))
                .group_by(card_keys.c.product_id, card_keys.c.status)
            )
            for product_id, status, count in rows.tuples():
                counts[product_id][status] = count
        if loop:
            rows = await self._session.execute(
                select(reservations.c.product_id, reservations.c.status, func.sum(reservations.c.quantity))
                .where(reservations.c.product_id.in_(loop))
                .group_by(reservations.c.product_id, reservations.c.status)
            )
            for product_id, status, units in rows.tuples():
                counts[product_id][status] = int(units)
        result: dict[UUID, Stock] = {}
        for p in items:
            c = counts.get(p.id, {})
            if p.delivery_type == "loop_key":
                result[p.id] = Stock(None, c.get("active", 0), c.get("allocated", 0))
            else:
                result[p.id] = Stock(c.get("available", 0), c.get("reserved", 0), c.get("sold", 0))
        return result


class KeyRepository:
    """Card keys and the available_keys queue claims are taken from."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_batch(
        self, batch_id: UUID, product_id: UUID, keys: Sequence[tuple[UUID, bytes, Sealed]]
    ) -> int:
        """Insert (key id, fingerprint, sealed) rows of one import; keys whose fingerprint the product
        already holds are skipped. The new keys join the available queue in upload order. Returns how
        many were inserted."""
        await self._session.execute(insert(key_batches).values(id=batch_id, product_id=product_id))
        inserted = 0
        for start in range(0, len(keys), IMPORT_CHUNK):
            chunk = keys[start : start + IMPORT_CHUNK]
            result = await self._session.execute(
                insert(card_keys)
                .values(
                    [
                        {
                            "id": key_id,
                            "product_id": product_id,
                            "batch_id": batch_id,
                            "fingerprint": fingerprint,
                            "key_id": sealed.key_id,
                            "sealed": sealed.blob,
                            "status": "available",
                        }
                        for key_id, fingerprint, sealed in chunk
                    ]
                )
                .on_conflict_do_nothing(index_elements=["product_id", "fingerprint"])
                .returning(card_keys.c.id)
            )
            inserted += len(result.all())
        await self._session.execute(
            insert(available_keys).from_select(
                ["key_id", "product_id"],
                select(card_keys.c.id, card_keys.c.product_id)
                .where(card_keys.c.batch_id == batch_id)
                .order_by(card_keys.c.id),
            )
        )
        return inserted

    async def record_batch(self, batch_id: UUID, imported: int, duplicates: int, invalid: int) -> None:
        await self._session.execute(
            update(key_batches)
            .where(key_batches.c.id == batch_id)
            .values(imported=imported, duplicates=duplicates, invalid=invalid)
        )

    async def claim(self, product_id: UUID, quantity: int) -> list[UUID]:
        """Lock up to `quantity` available keys (skipping ones other transactions hold); nothing changes
        until `take` is called, and unneeded locks go away with the transaction."""
        rows = await self._session.execute(claim_statement(product_id, quantity))
        return list(rows.scalars())

    async def take(self, key_ids: Iterable[UUID], order_id: UUID, status: str) -> list[UUID]:
        """Move claimed keys out of the available queue into `status` for the order."""
        ids = sorted(key_ids)
        await self._session.execute(delete(available_keys).where(available_keys.c.key_id.in_(ids)))
        await self._lock(ids)
        await self._session.execute(
            update(card_keys)
            .where(card_keys.c.id.in_(ids), card_keys.c.status == "available")
            .values(status=status, order_id=order_id)
        )
        return ids

    async def sell_reserved(self, order_id: UUID) -> list[UUID]:
        """The order's reserved keys become sold; returns their ids in id order."""
        ids = await self._locked_for_order(order_id, "reserved")
        if ids:
            await self._session.execute(
                update(card_keys).where(card_keys.c.id.in_(ids)).values(status="sold")
            )
        return ids

    async def release(self, order_id: UUID) -> list[UUID]:
        """The order's reserved keys go back to the available queue."""
        rows = await self._session.execute(
            select(card_keys.c.id, card_keys.c.product_id)
            .where(card_keys.c.order_id == order_id, card_keys.c.status == "reserved")
            .order_by(card_keys.c.id)
            .with_for_update()
        )
        keys = rows.all()
        if not keys:
            return []
        ids = [key.id for key in keys]
        await self._session.execute(
            update(card_keys).where(card_keys.c.id.in_(ids)).values(status="available", order_id=None)
        )
        await self._session.execute(
            insert(available_keys), [{"key_id": key.id, "product_id": key.product_id} for key in keys]
        )
        return ids

    async def sold_to(self, order_id: UUID) -> list[StoredKey]:
        rows = await self._session.execute(
            select(card_keys.c.id, card_keys.c.product_id, card_keys.c.key_id, card_keys.c.sealed)
            .where(card_keys.c.order_id == order_id, card_keys.c.status == "sold")
            .order_by(card_keys.c.id)
        )
        return [StoredKey(r.id, r.product_id, Sealed(r.key_id, bytes(r.sealed))) for r in rows]

    async def _lock(self, ids: Sequence[UUID]) -> None:
        """Row locks on card keys, always taken in key-id order so two transactions cannot deadlock."""
        await self._session.execute(
            select(card_keys.c.id).where(card_keys.c.id.in_(ids)).order_by(card_keys.c.id).with_for_update()
        )

    async def _locked_for_order(self, order_id: UUID, status: str) -> list[UUID]:
        rows = await self._session.execute(
            select(card_keys.c.id)
            .where(card_keys.c.order_id == order_id, card_keys.c.status == status)
            .order_by(card_keys.c.id)
            .with_for_update()
        )
        return list(rows.scalars())


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: UUID, for_update: bool = False) -> Reservation | None:
        query = select(reservations).where(reservations.c.order_id == order_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        return Reservation(
            row.order_id, row.product_id, row.quantity, ReservationStatus(row.status), row.expires_at
        )

    async def add(
        self,
        order_id: UUID,
        product_id: UUID,
        quantity: int,
        status: ReservationStatus,
        expires_at: datetime | None,
    ) -> bool:
        """Record the order's reservation; False when it already has one (a concurrent duplicate)."""
        result = await self._session.execute(
            insert(reservations)
            .values(
                order_id=order_id,
                product_id=product_id,
                quantity=quantity,
                status=status.value,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing()
            .returning(reservations.c.order_id)
        )
        return result.first() is not None

    async def refused(self, order_id: UUID) -> bool:
        """Whether the order was already told there is no stock for it."""
        query = select(stock_refusals.c.order_id).where(stock_refusals.c.order_id == order_id)
        return (await self._session.execute(query)).first() is not None

    async def refuse(self, order_id: UUID, product_id: UUID, requested: int, available: int) -> bool:
        """Record that the order got no stock; False when it already was refused (a concurrent duplicate)."""
        result = await self._session.execute(
            insert(stock_refusals)
            .values(order_id=order_id, product_id=product_id, requested=requested, available=available)
            .on_conflict_do_nothing()
            .returning(stock_refusals.c.order_id)
        )
        return result.first() is not None

    async def set_status(self, order_id: UUID, status: ReservationStatus) -> None:
        await self._session.execute(
            update(reservations)
            .where(reservations.c.order_id == order_id)
            .values(status=status.value, updated_at=func.now())
        )


class RevealRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self, order_id: UUID, product_id: UUID, key_ids: Sequence[UUID | None], reader: str
    ) -> None:
        """One audit row per revealed key (per unit for a loop key, with no key id)."""
        if key_ids:
            await self._session.execute(
                insert(key_reveals),
                [
                    {"order_id": order_id, "product_id": product_id, "key_id": key_id, "reader": reader}
                    for key_id in key_ids
                ],
            )
