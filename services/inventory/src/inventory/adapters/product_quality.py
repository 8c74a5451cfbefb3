"""Product quality: hourly rollups per product (deliveries, failures, after-sales cases, delivery times), the
shop's pause threshold, a product's pause, and per import batch of a supplier how many of its delivered keys
buyers reported invalid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from faka_common.db.statements import Compiled
from sqlalchemy import Column, DateTime, Float, Integer, Table, any_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.tables import card_keys, key_batches, metadata, products
from inventory.domain.quality import QualityPolicy, Tally

TS = DateTime(timezone=True)

product_quality_policies = Table(
    "product_quality_policies",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), primary_key=True),
    Column("window_days", Integer, nullable=False),
    Column("min_deliveries", Integer, nullable=False),
    Column("pause_rate", Float, nullable=False),
)

product_quality_hours = Table(
    "product_quality_hours",
    metadata,
    Column("product_id", PgUUID(as_uuid=True), primary_key=True),
    Column("hour", TS, primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("delivered_orders", Integer, nullable=False, server_default="0"),
    Column("delivered_items", Integer, nullable=False, server_default="0"),
    Column("failed_orders", Integer, nullable=False, server_default="0"),
    Column("cases", Integer, nullable=False, server_default="0"),
)

product_delivery_times = Table(
    "product_delivery_times",
    metadata,
    Column("product_id", PgUUID(as_uuid=True), primary_key=True),
    Column("hour", TS, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("deliveries", Integer, nullable=False),
)

TALLIED = ("delivered_orders", "delivered_items", "failed_orders", "cases")


def _counted() -> Compiled:
    h = product_quality_hours
    statement = insert(h)
    return Compiled(
        statement.on_conflict_do_update(
            index_elements=[h.c.product_id, h.c.hour],
            set_={name: h.c[name] + statement.excluded[name] for name in TALLIED},
        ),
        ["product_id", "hour", "shop_id", *TALLIED],
    )


def _timed() -> Compiled:
    t = product_delivery_times
    statement = insert(t)
    return Compiled(
        statement.on_conflict_do_update(
            index_elements=[t.c.product_id, t.c.hour, t.c.bucket],
            set_={"deliveries": t.c.deliveries + statement.excluded.deliveries},
        ),
        ["product_id", "hour", "bucket", "shop_id", "deliveries"],
    )


#: Every delivery counts for its product and is judged (a sale: the counts, the time, the policy and the
#: window's tally): statements compiled once and run on the driver (building them through the session was
#: most of their CPU, a CPU-time profile at 15 orders/s). A count adds to all four tallies (zero to those
#: it does not count).
_COUNT = _counted()
_TIME = _timed()
_TALLY = Compiled(
    select(
        *(func.coalesce(func.sum(product_quality_hours.c[name]), 0).label(name) for name in TALLIED)
    ).where(
        product_quality_hours.c.product_id == any_(bindparam("ids", type_=ARRAY(PgUUID(as_uuid=True)))),
        product_quality_hours.c.hour >= bindparam("since", type_=TS),
    )
)
_POLICY = Compiled(
    select(product_quality_policies).where(product_quality_policies.c.shop_id == bindparam("shop_id"))
)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class BatchQuality:
    batch_id: UUID
    product_id: UUID
    imported: int
    delivered: int
    reported_invalid: int
    cost_price: int | None
    created_at: datetime
    withdrawn: int = 0  # held back from sale while the supplier is paused

    @property
    def invalid_rate(self) -> float:
        return self.reported_invalid / self.delivered if self.delivered else 0.0


class ProductQualityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def count(self, shop_id: UUID, product_id: UUID, at: datetime, **counts: int) -> None:
        """Add to the product's counts of the hour of `at` (one row per product and hour)."""
        unknown = set(counts) - set(TALLIED)
        if unknown:
            raise ValueError(f"not a product quality count: {sorted(unknown)}")
        values = {"product_id": product_id, "hour": hour_of(at), "shop_id": shop_id}
        await _COUNT.run(self._session, values | {name: counts.get(name, 0) for name in TALLIED})

    async def time(
        self, shop_id: UUID, product_id: UUID, at: datetime, bucket: int, deliveries: int = 1
    ) -> None:
        """Add `deliveries` to the product's deliveries of the hour of `at` that took `bucket`."""
        await _TIME.run(
            self._session,
            {
                "product_id": product_id,
                "hour": hour_of(at),
                "bucket": bucket,
                "shop_id": shop_id,
                "deliveries": deliveries,
            },
        )

    async def tally(self, product_id: UUID, since: datetime) -> Tally:
        return await self.tally_of([product_id], since)

    async def tally_of(self, product_ids: Sequence[UUID], since: datetime) -> Tally:
        """The products' counts summed since `since`."""
        row = await _TALLY.first(self._session, {"ids": list(product_ids), "since": since})
        assert row is not None  # an aggregate without GROUP BY: one row
        return Tally(*(int(row[name]) for name in TALLIED))

    async def times(self, product_ids: Sequence[UUID], since: datetime) -> dict[int, int]:
        """The products' deliveries since `since` per delivery-time bucket, summed."""
        t = product_delivery_times
        rows = await self._session.execute(
            select(t.c.bucket, func.sum(t.c.deliveries))
            .where(t.c.product_id.in_(list(product_ids)), t.c.hour >= since)
            .group_by(t.c.bucket)
        )
        return {int(bucket): int(n) for bucket, n in rows}

    async def family(self, shop_id: UUID, product_id: UUID, main_id: UUID | None) -> list[UUID]:
        """The product's main product (`main_id`, or the product itself) and every variant of it: the options
        its storefront page offers together (by the variants index)."""
        main = main_id or product_id
        rows = await self._session.execute(
            select(products.c.id).where(
                products.c.shop_id == shop_id, or_(products.c.id == main, products.c.variant_of == main)
            )
        )
        return sorted(rows.scalars())

    async def policy(self, shop_id: UUID) -> QualityPolicy:
        row = await _POLICY.first(self._session, {"shop_id": shop_id})
        if row is None:
            return QualityPolicy()
        return QualityPolicy(row["window_days"], row["min_deliveries"], row["pause_rate"])

    async def put_policy(self, shop_id: UUID, policy: QualityPolicy) -> None:
        p = product_quality_policies
        values = {
            "window_days": policy.window_days,
            "min_deliveries": policy.min_deliveries,
            "pause_rate": policy.pause_rate,
        }
        await self._session.execute(
            insert(p)
            .values(shop_id=shop_id, **values)
            .on_conflict_do_update(index_elements=[p.c.shop_id], set_=values)
        )

    async def pause(self, product_id: UUID, reason: str, now: datetime) -> bool:
        """Pause the product; False when it is paused already (so it is announced once)."""
        result = await self._session.execute(
            update(products)
            .where(products.c.id == product_id, products.c.paused_at.is_(None))
            .values(paused_at=now, paused_reason=reason)
            .returning(products.c.id)
        )
        return result.first() is not None

    async def resume(self, shop_id: UUID, product_id: UUID, now: datetime) -> bool:
        """Put the paused product back on sale; False when the shop has no such paused product."""
        result = await self._session.execute(
            update(products)
            .where(
                products.c.id == product_id, products.c.shop_id == shop_id, products.c.paused_at.is_not(None)
            )
            .values(paused_at=None, paused_reason=None, resumed_at=now)
            .returning(products.c.id)
        )
        return result.first() is not None

    async def batches_of_supplier(
        self, shop_id: UUID, supplier_id: UUID, since: datetime | None = None
    ) -> list[BatchQuality]:
        """The shop's import batches from the supplier (imported since `since`, when given), each with its
        keys delivered (sold now, or sold and then voided when a buyer reported them invalid) and reported
        invalid, and its keys withdrawn while the supplier is paused. An admin read, or a replacement's: it
        counts the batches' sold and withdrawn keys (by the batch index), never on a buyer's purchase."""
        b, k = key_batches, card_keys
        sold = select(func.count()).where(k.c.batch_id == b.c.id, k.c.status == "sold").scalar_subquery()
        withdrawn = (
            select(func.count()).where(k.c.batch_id == b.c.id, k.c.status == "withdrawn").scalar_subquery()
        )
        query = (
            select(
                b.c.id, b.c.product_id, b.c.imported, b.c.reported_invalid, b.c.cost_price, b.c.created_at,
                sold.label("sold"), withdrawn.label("withdrawn"),
            )
            .where(b.c.shop_id == shop_id, b.c.supplier_id == supplier_id)
            .order_by(b.c.created_at, b.c.id)
        )  # fmt: skip
        if since is not None:
            query = query.where(b.c.created_at >= since)
        rows = await self._session.execute(query)
        return [
            BatchQuality(
                r.id,
                r.product_id,
                r.imported,
                int(r.sold) + r.reported_invalid,
                r.reported_invalid,
                r.cost_price,
                r.created_at,
                int(r.withdrawn),
            )
            for r in rows
        ]
