"""Delivery tables and repositories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.crypto import Sealed
from faka_common.db.statements import Compiled
from faka_common.db.uow import execute, fetch_records
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.domain.manual import ManualTask
from delivery.domain.model import Delivery, OrderOfAnotherShop
from delivery.domain.suppliers import Claim, Route, Score, Supplier

metadata = MetaData()
TS = DateTime(timezone=True)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("mode", Text, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("reason", Text),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("completed_at", TS),
    Column("latency_ms", Integer),
    Column("product_id", PgUUID(as_uuid=True)),
    Column("paid_at", TS),
    Column("requested_at", TS),
    Column("request", JSONB, nullable=False),
    Column("next_attempt_at", TS),
    Column("lease_until", TS),
    Column("sla_alerted_at", TS),
    CheckConstraint(
        "status IN ('pending', 'recharging', 'manual', 'succeeded', 'failed', 'cancelled')",
        name="deliveries_status",
    ),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("delivery_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("channel", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True)),
    Column("cost", BigInteger),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("latency_ms", Integer),
    Column("outcome", Text, nullable=False),
    Column("error_class", Text),
    Column("error", Text),
    Column("supplier_order_no", Text),
)

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("config", JSONB, nullable=False),
    Column("secret_key_id", Text, nullable=False),
    Column("secret_blob", LargeBinary, nullable=False),
    Column("timeout_seconds", Float, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("paused_at", TS),
    Column("paused_reason", Text),
    Column("resumed_at", TS),
    UniqueConstraint("shop_id", "name", name="suppliers_shop_name"),
    UniqueConstraint("shop_id", "id", name="suppliers_shop_id"),
)

supplier_routes = Table(
    "supplier_routes",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_sku", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    UniqueConstraint("product_id", "supplier_id", name="supplier_routes_product_supplier"),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_routes_shop_supplier",
    ),
)

manual_tasks = Table(
    "manual_tasks",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("delivery_id", PgUUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("claimed_by", Text),
    Column("claimed_at", TS),
    Column("resolved_by", Text),
    Column("resolved_at", TS),
    Column("reject_reason", Text),
)

delivery_contents = Table(
    "delivery_contents",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("delivery_id", PgUUID(as_uuid=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
)

content_reveals = Table(
    "content_reveals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("reader", Text, nullable=False),
    Column("revealed_at", TS, nullable=False, server_default=func.now()),
)

supplier_claims = Table(
    "supplier_claims",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("replacement_claim_id", PgUUID(as_uuid=True), unique=True),
    Column("batch_id", PgUUID(as_uuid=True)),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_claims_shop_supplier",
    ),
)

#: Per import batch of a card-key supplier: its keys delivered so far, as inventory counted them with the
#: latest KeyReplaced of the supplier (the denominator of its claim rate; figures only grow).
supplier_key_batches = Table(
    "supplier_key_batches",
    metadata,
    Column("batch_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("imported_at", TS, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("delivered >= 0", name="supplier_key_batches_delivered"),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_key_batches_shop_supplier",
    ),
    Index("supplier_key_batches_supplier", "shop_id", "supplier_id", "imported_at"),
)

#: What the shop holds for each supplier: deposits in (positive), claims deducted (negative, one entry per
#: claim). Entries only, never an updated total: the balance is their sum.
supplier_ledger = Table(
    "supplier_ledger",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("claim_id", PgUUID(as_uuid=True), unique=True),
    Column("note", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_ledger_shop_supplier",
    ),
)

DELIVERY_FIELDS = (
    "id",
    "shop_id",
    "order_id",
    "mode",
    "item_count",
    "status",
    "attempts",
    "reason",
    "created_at",
    "completed_at",
    "latency_ms",
    "product_id",
    "paid_at",
    "requested_at",
    "request",
    "next_attempt_at",
    "sla_alerted_at",
)
MUTABLE_DELIVERY_FIELDS = tuple(
    f for f in DELIVERY_FIELDS if f not in ("id", "shop_id", "order_id", "created_at")
)


def _delivery_values(delivery: Delivery, fields: Sequence[str]) -> dict[str, Any]:
    return {f: getattr(delivery, f) for f in fields}


def _to_delivery(row: Any) -> Delivery:
    return Delivery(**{f: row[f] for f in DELIVERY_FIELDS})


#: Every paid order's delivery is added, locked and saved (each once or more a sale): statements compiled
#: once and run on the driver (building them was a tenth of delivering keys, py-spy at 10 orders/s; running a
#: built one through the session still cost more than the driver's own work, see `Compiled`).
_ADD_DELIVERY = Compiled(
    insert(deliveries)
    .on_conflict_do_nothing(index_elements=[deliveries.c.order_id])
    .returning(*deliveries.c),
    DELIVERY_FIELDS,
)
_DELIVERY_OF = select(deliveries).where(
    deliveries.c.shop_id == bindparam("shop_id"), deliveries.c.order_id == bindparam("order_id")
)
_GET_DELIVERY = Compiled(_DELIVERY_OF)
_LOCK_DELIVERY = Compiled(_DELIVERY_OF.with_for_update())
_SAVE_DELIVERY = Compiled(
    update(deliveries).where(
        deliveries.c.id == bindparam("saved_id"), deliveries.c.shop_id == bindparam("saved_shop")
    ),
    MUTABLE_DELIVERY_FIELDS,
)


def _unnest(table: Table, fields: Sequence[str]) -> str:
    """`unnest` of one array parameter a field, from $1 in the fields' order, each cast to its column's type
    in `table` (as Postgres names it)."""
    types = [table.c[name].type.compile(dialect=postgresql.dialect()) for name in fields]
    return f"unnest({', '.join(f'${n}::{type_}[]' for n, type_ in enumerate(types, 1))})"


#: `add_paid`: a column array for each of DELIVERY_FIELDS (in their order), one SQL text whatever the batch's
#: size (a multi-row VALUES was compiled by SQLAlchemy on every call: 13 % of the service's CPU at 50/s).
_ADD_PAID = (
    f"INSERT INTO deliveries ({', '.join(DELIVERY_FIELDS)}) "  # noqa: S608 (constants)
    f"SELECT * FROM {_unnest(deliveries, DELIVERY_FIELDS)} "
    "ON CONFLICT (order_id) DO UPDATE SET paid_at = coalesce(deliveries.paid_at, excluded.paid_at), "
    "product_id = CASE WHEN deliveries.paid_at IS NULL "
    "THEN coalesce(deliveries.product_id, excluded.product_id) ELSE deliveries.product_id END "
    "WHERE deliveries.shop_id = excluded.shop_id RETURNING order_id"
)
#: `lock_many`: in one order whoever asks, so two runs sharing orders wait for each other, not deadlock.
_LOCK_DELIVERIES = (
    f"SELECT {', '.join(DELIVERY_FIELDS)} FROM deliveries WHERE order_id = ANY($1::uuid[]) "  # noqa: S608 (constants)
    "ORDER BY order_id FOR UPDATE"
)
#: `save_many`: each delivery's mutable fields by its id and shop, a column array a field.
_SAVE_DELIVERIES = (
    f"UPDATE deliveries SET {', '.join(f'{f} = saved.{f}' for f in MUTABLE_DELIVERY_FIELDS)} "  # noqa: S608 (constants)
    f"FROM {_unnest(deliveries, ('id', 'shop_id', *MUTABLE_DELIVERY_FIELDS))} "
    f"AS saved(id, shop_id, {', '.join(MUTABLE_DELIVERY_FIELDS)}) "
    "WHERE deliveries.id = saved.id AND deliveries.shop_id = saved.shop_id"
)
_REQUEST_COLUMN = DELIVERY_FIELDS.index("request")


class DeliveryRepository:
    """Deliveries by order, each read scoped by the shop it acts for: another shop's order is not found."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, shop_id: UUID, order_id: UUID) -> Delivery | None:
        row = await _GET_DELIVERY.first(self._session, {"shop_id": shop_id, "order_id": order_id})
        return _to_delivery(row) if row else None

    async def lock_or_create(self, fresh: Delivery) -> Delivery:
        """The order's delivery, locked for this transaction; `fresh` is stored first when there is none.
        Raises OrderOfAnotherShop when the order's delivery exists under another shop than `fresh`'s.

        The lock first: an order's delivery exists from its first message on (OrderPaid), so every later one
        (KeysAllocated) takes one round trip, not an insert that conflicts and then the lock. A new row is
        this transaction's (locked by its insert) and is returned as the insert stored it."""
        found = await self.lock(fresh.shop_id, fresh.order_id)
        if found is not None:
            return found
        stored = await _ADD_DELIVERY.first(self._session, _delivery_values(fresh, DELIVERY_FIELDS))
        if stored is not None:
            return _to_delivery(stored)
        found = await self.lock(fresh.shop_id, fresh.order_id)  # added meanwhile, or another shop's
        if found is None:
            raise OrderOfAnotherShop(
                f"order {fresh.order_id} has a delivery of another shop than {fresh.shop_id}"
            )
        return found

    async def add_paid(self, fresh: Sequence[Delivery]) -> set[UUID]:
        """What `record_payment` does to each order's delivery, for many orders in one statement: `fresh`
        stored where the order has no delivery yet; where it has one, its paid time (and product) set
        unless it was paid already. The orders whose delivery is `fresh`'s shop's (the others are left
        as they are: another shop's)."""
        columns = [[getattr(d, f) for d in fresh] for f in DELIVERY_FIELDS]
        columns[_REQUEST_COLUMN] = [json.dumps(request) for request in columns[_REQUEST_COLUMN]]
        return {row["order_id"] for row in await fetch_records(self._session, _ADD_PAID, *columns)}

    async def lock(self, shop_id: UUID, order_id: UUID) -> Delivery | None:
        row = await _LOCK_DELIVERY.first(self._session, {"shop_id": shop_id, "order_id": order_id})
        return _to_delivery(row) if row else None

    async def lock_many(self, orders: Sequence[tuple[UUID, UUID]]) -> dict[UUID, Delivery]:
        """`lock` of many (shop id, order id) in one statement, by order id: an order without a delivery,
        or whose delivery is another shop's, is left out."""
        shops = dict((order, shop) for shop, order in orders)
        rows = await fetch_records(self._session, _LOCK_DELIVERIES, list(shops))
        found = {}
        for row in rows:
            if row["shop_id"] == shops[row["order_id"]]:
                found[row["order_id"]] = Delivery(**row)
        return found

    async def save_many(self, saved: Sequence[Delivery]) -> None:
        """`save` of many deliveries in one statement."""
        columns = [[d.id for d in saved], [d.shop_id for d in saved]]
        columns += [[getattr(d, f) for d in saved] for f in MUTABLE_DELIVERY_FIELDS]
        request = 2 + MUTABLE_DELIVERY_FIELDS.index("request")
        columns[request] = [json.dumps(value) for value in columns[request]]
        await execute(self._session, _SAVE_DELIVERIES, *columns)

    async def save(self, delivery: Delivery) -> None:
        await _SAVE_DELIVERY.run(
            self._session,
            {
                "saved_id": delivery.id,
                "saved_shop": delivery.shop_id,
                **_delivery_values(delivery, MUTABLE_DELIVERY_FIELDS),
            },
        )

    async def lease_due_recharge(self, now: datetime, lease: timedelta) -> tuple[UUID, UUID] | None:
        """Take one recharge that is due and not leased by another worker (the lease outlives a crash), of
        any shop: its (shop id, order id). A delivery already in the manual queue comes back while a submit
        of it is still unresolved."""
        row = await _LEASE_DUE_RECHARGE.first(self._session, {"now": now, "lease_until": now + lease})
        return (row["shop_id"], row["order_id"]) if row else None

    async def release(self, shop_id: UUID, order_id: UUID, next_attempt_at: datetime | None) -> None:
        await self._session.execute(
            update(deliveries)
            .where(deliveries.c.shop_id == shop_id, deliveries.c.order_id == order_id)
            .values(lease_until=None, next_attempt_at=next_attempt_at)
        )

    async def overdue(self, cutoff: datetime, limit: int) -> list[Delivery]:
        """Paid before `cutoff`, still not delivered, not yet alerted, of any shop; locked, skipping busy
        rows."""
        rows = await self._session.execute(
            select(deliveries)
            .where(
                deliveries.c.status.in_(("pending", "recharging")),
                deliveries.c.sla_alerted_at.is_(None),
                func.coalesce(deliveries.c.paid_at, deliveries.c.created_at) < cutoff,
            )
            .order_by(deliveries.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_to_delivery(r._mapping) for r in rows]


@dataclass
class Attempt:
    id: UUID
    shop_id: UUID
    delivery_id: UUID
    order_id: UUID
    channel: str
    phase: str
    started_at: datetime
    outcome: str
    supplier_id: UUID | None = None
    cost: int | None = None
    finished_at: datetime | None = None
    latency_ms: int | None = None
    error_class: str | None = None
    error: str | None = None
    supplier_order_no: str | None = None


ATTEMPT_FIELDS = tuple(Attempt.__dataclass_fields__)
UNRESOLVED_OUTCOMES = ("in_flight", "ambiguous", "processing")
COUNTED_OUTCOMES = (
    "succeeded",
    "transient",
    "permanent",
    "ambiguous",
    "failed",
    "not_executed",
    "processing",
)


#: An attempt is added and saved once or more a sale: compiled once like the delivery's statements.
_ATTEMPT_MUTABLE = tuple(f for f in ATTEMPT_FIELDS if f not in ("id", "shop_id"))
_ADD_ATTEMPT = Compiled(insert(delivery_attempts), ATTEMPT_FIELDS)
_ADD_ATTEMPTS = (
    f"INSERT INTO delivery_attempts ({', '.join(ATTEMPT_FIELDS)}) "  # noqa: S608 (constants)
    f"SELECT * FROM {_unnest(delivery_attempts, ATTEMPT_FIELDS)}"
)
_SAVE_ATTEMPT = Compiled(
    update(delivery_attempts).where(
        delivery_attempts.c.id == bindparam("saved_id"),
        delivery_attempts.c.shop_id == bindparam("saved_shop"),
    ),
    _ATTEMPT_MUTABLE,
)


class AttemptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, attempt: Attempt) -> None:
        await _ADD_ATTEMPT.run(self._session, {f: getattr(attempt, f) for f in ATTEMPT_FIELDS})

    async def add_many(self, attempts: Sequence[Attempt]) -> None:
        """`add` of many attempts in one statement."""
        columns = [[getattr(attempt, f) for attempt in attempts] for f in ATTEMPT_FIELDS]
        await execute(self._session, _ADD_ATTEMPTS, *columns)

    async def save(self, attempt: Attempt) -> None:
        values = {f: getattr(attempt, f) for f in _ATTEMPT_MUTABLE}
        await _SAVE_ATTEMPT.run(
            self._session, {"saved_id": attempt.id, "saved_shop": attempt.shop_id, **values}
        )

    async def _of_order(self, shop_id: UUID, order_id: UUID, *where: Any) -> list[Attempt]:
        rows = await self._session.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.shop_id == shop_id, delivery_attempts.c.order_id == order_id, *where)
            .order_by(delivery_attempts.c.started_at, delivery_attempts.c.id)
        )
        return [Attempt(**{f: r._mapping[f] for f in ATTEMPT_FIELDS}) for r in rows]

    async def unresolved_submits(self, shop_id: UUID, order_id: UUID) -> list[Attempt]:
        """Submits whose effect at the supplier is not known yet: nothing else may be sent meanwhile."""
        return await self._of_order(
            shop_id,
            order_id,
            delivery_attempts.c.phase == "submit",
            delivery_attempts.c.outcome.in_(UNRESOLVED_OUTCOMES),
        )

    async def for_order(self, shop_id: UUID, order_id: UUID) -> list[Attempt]:
        return await self._of_order(shop_id, order_id)

    async def scores(self, shop_id: UUID, since: datetime) -> dict[UUID, Score]:
        """Per supplier of the shop over the window: finished submits and card keys delivered from its
        batches imported in the window (attempts; each key a success), successes, mean latency (of submits),
        claims."""
        a, c, s = delivery_attempts, supplier_claims, suppliers
        # an operator's resume starts the supplier's window afresh (what paused it does not count again)
        start = func.greatest(since, func.coalesce(s.c.resumed_at, since))
        counted = and_(
            a.c.shop_id == shop_id,
            a.c.supplier_id.is_not(None),
            a.c.phase == "submit",
            a.c.started_at >= start,
            a.c.outcome.in_(COUNTED_OUTCOMES),
        )
        rows = await self._session.execute(
            select(
                a.c.supplier_id,
                func.count(),
                func.sum(case((a.c.outcome == "succeeded", 1), else_=0)),
                func.avg(a.c.latency_ms),
            )
            .join(s, and_(s.c.shop_id == a.c.shop_id, s.c.id == a.c.supplier_id))
            .where(counted)
            .group_by(a.c.supplier_id)
        )
        kb = supplier_key_batches
        # a replaced key of a batch imported before the window counts with that batch, outside it
        older_batch = (
            select(kb.c.batch_id).where(kb.c.batch_id == c.c.batch_id, kb.c.imported_at < start).exists()
        )
        claim_rows = await self._session.execute(
            select(c.c.supplier_id, func.count())
            .join(s, and_(s.c.shop_id == c.c.shop_id, s.c.id == c.c.supplier_id))
            .where(c.c.shop_id == shop_id, c.c.created_at >= start, ~older_batch)
            .group_by(c.c.supplier_id)
        )
        claims: dict[UUID, int] = {sid: int(n) for sid, n in claim_rows}
        # card keys delivered from the supplier's batches imported in the window: sales, each a success
        key_rows = await self._session.execute(
            select(kb.c.supplier_id, func.sum(kb.c.delivered))
            .join(s, and_(s.c.shop_id == kb.c.shop_id, s.c.id == kb.c.supplier_id))
            .where(kb.c.shop_id == shop_id, kb.c.imported_at >= start)
            .group_by(kb.c.supplier_id)
        )
        keys: dict[UUID, int] = {sid: int(n or 0) for sid, n in key_rows}
        scores = {
            sid: Score(
                sid, int(n) + keys.get(sid, 0), int(ok or 0) + keys.get(sid, 0),
                float(lat) if lat is not None else None, int(claims.get(sid, 0)),
            )
            for sid, n, ok, lat in rows
        }  # fmt: skip
        for sid in claims.keys() | keys.keys():
            sold = keys.get(sid, 0)
            scores.setdefault(sid, Score(sid, sold, sold, None, claims.get(sid, 0)))
        return scores


def _to_task(row: Any) -> ManualTask:
    return ManualTask(**{f: row[f] for f in ManualTask.__dataclass_fields__})


#: The recharge worker's look for due work, twice a second when idle and after every recharge: compiled once
#: (building it was most of its CPU, a CPU-time profile at 15 orders/s).
_NOW = bindparam("now", type_=DateTime(timezone=True))
_LEASE_DUE_RECHARGE = Compiled(
    update(deliveries)
    .where(
        deliveries.c.id
        == select(deliveries.c.id)
        .where(
            or_(
                deliveries.c.status == "recharging",
                and_(
                    deliveries.c.status == "manual",
                    exists().where(
                        delivery_attempts.c.order_id == deliveries.c.order_id,
                        delivery_attempts.c.phase == "submit",
                        or_(*(delivery_attempts.c.outcome == outcome for outcome in UNRESOLVED_OUTCOMES)),
                    ),
                ),
            ),
            or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= _NOW),
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < _NOW),
        )
        .order_by(deliveries.c.next_attempt_at.nulls_first())
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(lease_until=bindparam("lease_until", type_=DateTime(timezone=True)))
    .returning(deliveries.c.shop_id, deliveries.c.order_id)
)


#: Every keyed delivery looks for a manual task of its order to resolve (one a sale).
_LOCK_TASK = Compiled(
    select(manual_tasks)
    .where(manual_tasks.c.shop_id == bindparam("shop_id"), manual_tasks.c.order_id == bindparam("order_id"))
    .with_for_update()
)


_LOCK_TASKS = (
    f"SELECT {', '.join(ManualTask.__dataclass_fields__)} FROM manual_tasks "  # noqa: S608 (constants)
    "WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE"
)


class ManualTaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, shop_id: UUID, order_id: UUID) -> ManualTask | None:
        row = await _LOCK_TASK.first(self._session, {"shop_id": shop_id, "order_id": order_id})
        return _to_task(row) if row else None

    async def lock_many(self, orders: Sequence[tuple[UUID, UUID]]) -> list[ManualTask]:
        """`lock` of many (shop id, order id) in one statement: the tasks found (another shop's left out)."""
        shops = dict((order, shop) for shop, order in orders)
        rows = await fetch_records(self._session, _LOCK_TASKS, list(shops))
        return [_to_task(row) for row in rows if row["shop_id"] == shops[row["order_id"]]]

    async def save(self, task: ManualTask) -> None:
        values = {f: getattr(task, f) for f in ManualTask.__dataclass_fields__}
        statement = insert(manual_tasks).values(**values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[manual_tasks.c.order_id],
                set_={
                    k: v
                    for k, v in values.items()
                    if k not in ("id", "shop_id", "order_id", "delivery_id", "created_at")
                },
                where=manual_tasks.c.shop_id == statement.excluded.shop_id,
            )
        )

    async def in_statuses(self, shop_id: UUID, statuses: Sequence[str], limit: int) -> list[ManualTask]:
        rows = await self._session.execute(
            select(manual_tasks)
            .where(manual_tasks.c.shop_id == shop_id, manual_tasks.c.status.in_(list(statuses)))
            .order_by(manual_tasks.c.created_at)
            .limit(limit)
        )
        return [_to_task(r._mapping) for r in rows]


class ContentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(
        self, shop_id: UUID, order_id: UUID, delivery_id: UUID, source: str, sealed: Sealed
    ) -> None:
        await self._session.execute(
            insert(delivery_contents)
            .values(
                shop_id=shop_id,
                order_id=order_id,
                delivery_id=delivery_id,
                source=source,
                key_id=sealed.key_id,
                blob=sealed.blob,
            )
            .on_conflict_do_nothing(index_elements=[delivery_contents.c.order_id])
        )

    async def get(self, shop_id: UUID, order_id: UUID) -> tuple[str, Sealed] | None:
        c = delivery_contents
        row = (
            await self._session.execute(
                select(c.c.source, c.c.key_id, c.c.blob).where(
                    c.c.shop_id == shop_id, c.c.order_id == order_id
                )
            )
        ).first()
        return (row.source, Sealed(row.key_id, row.blob)) if row else None

    async def record_reveal(self, shop_id: UUID, order_id: UUID, reader: str) -> None:
        await self._session.execute(
            insert(content_reveals).values(shop_id=shop_id, order_id=order_id, reader=reader)
        )


def _to_supplier(row: Any) -> Supplier:
    return Supplier(**{f: row[f] for f in Supplier.__dataclass_fields__})


class SupplierRepository:
    """A shop's suppliers, their routes and claims; another shop's supplier is not found."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, supplier: Supplier) -> bool:
        """Register the supplier; False when its shop has one of that name."""
        result = await self._session.execute(
            insert(suppliers)
            .values(**{f: getattr(supplier, f) for f in Supplier.__dataclass_fields__})
            .on_conflict_do_nothing(constraint="suppliers_shop_name")
            .returning(suppliers.c.id)
        )
        return result.first() is not None

    async def get(self, shop_id: UUID, supplier_id: UUID) -> Supplier | None:
        row = (
            await self._session.execute(
                select(suppliers).where(suppliers.c.shop_id == shop_id, suppliers.c.id == supplier_id)
            )
        ).first()
        return _to_supplier(row._mapping) if row else None

    async def all(self, shop_id: UUID) -> list[Supplier]:
        rows = await self._session.execute(
            select(suppliers).where(suppliers.c.shop_id == shop_id).order_by(suppliers.c.name)
        )
        return [_to_supplier(r._mapping) for r in rows]

    async def set_active(self, shop_id: UUID, supplier_id: UUID, active: bool) -> bool:
        result = await self._session.execute(
            update(suppliers)
            .where(suppliers.c.shop_id == shop_id, suppliers.c.id == supplier_id)
            .values(active=active)
            .returning(suppliers.c.id)
        )
        return result.first() is not None

    async def put_route(self, route: Route) -> None:
        """Create or change the route; the database refuses a supplier of another shop (foreign key)."""
        values = {
            "id": route.id,
            "shop_id": route.shop_id,
            "product_id": route.product_id,
            "supplier_id": route.supplier_id,
            "supplier_sku": route.supplier_sku,
            "priority": route.priority,
            "cost": route.cost,
            "currency": route.currency,
            "active": True,
        }
        await self._session.execute(
            insert(supplier_routes)
            .values(**values)
            .on_conflict_do_update(
                constraint="supplier_routes_product_supplier",
                set_={k: values[k] for k in ("supplier_sku", "priority", "cost", "currency", "active")},
            )
        )

    async def remove_route(self, shop_id: UUID, product_id: UUID, supplier_id: UUID) -> bool:
        r = supplier_routes
        result = await self._session.execute(
            update(r)
            .where(r.c.shop_id == shop_id, r.c.product_id == product_id, r.c.supplier_id == supplier_id)
            .values(active=False)
            .returning(r.c.id)
        )
        return result.first() is not None

    async def routes(self, shop_id: UUID, product_id: UUID) -> list[Route]:
        """The product's active routes in the shop to active suppliers that are not paused."""
        r, s = supplier_routes, suppliers
        rows = await self._session.execute(
            select(r, s.c.name.label("supplier_name"))
            .join(s, and_(s.c.shop_id == r.c.shop_id, s.c.id == r.c.supplier_id))
            .where(
                r.c.shop_id == shop_id,
                r.c.product_id == product_id,
                r.c.active.is_(True),
                s.c.active.is_(True),
                s.c.paused_at.is_(None),
            )
        )
        return [
            Route(
                id=row.id,
                shop_id=row.shop_id,
                product_id=row.product_id,
                supplier_id=row.supplier_id,
                supplier_name=row.supplier_name,
                supplier_sku=row.supplier_sku,
                priority=row.priority,
                cost=row.cost,
                currency=row.currency,
            )
            for row in rows
        ]

    async def add_claim(self, claim: Claim) -> bool:
        """Record the claim and deduct it from what the shop holds for the supplier (one ledger entry, in
        the same transaction); False, and nothing written, when its replacement was claimed before."""
        result = await self._session.execute(
            insert(supplier_claims)
            .values(**{f: getattr(claim, f) for f in Claim.__dataclass_fields__})
            .on_conflict_do_nothing(index_elements=[supplier_claims.c.replacement_claim_id])
            .returning(supplier_claims.c.id)
        )
        if result.first() is None:
            return False
        await self._session.execute(
            insert(supplier_ledger).values(
                id=claim.id,
                shop_id=claim.shop_id,
                supplier_id=claim.supplier_id,
                kind="claim",
                amount=-claim.amount,
                currency=claim.currency,
                claim_id=claim.id,
                note=claim.reason,
                recorded_by=claim.recorded_by,
            )
        )
        return True

    async def claims(self, shop_id: UUID, supplier_id: UUID) -> list[tuple[Claim, datetime]]:
        rows = await self._session.execute(
            select(supplier_claims)
            .where(supplier_claims.c.shop_id == shop_id, supplier_claims.c.supplier_id == supplier_id)
            .order_by(supplier_claims.c.created_at)
        )
        return [
            (Claim(**{f: r._mapping[f] for f in Claim.__dataclass_fields__}), r._mapping["created_at"])
            for r in rows
        ]
