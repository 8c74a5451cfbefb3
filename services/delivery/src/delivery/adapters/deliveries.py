"""Deliveries and their attempts: the repository that adds, locks and saves an order's delivery (one at a time
or many in one statement) and leases the recharges due, and the attempts made at a delivery, with the
suppliers' scores drawn from them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.db.statements import Compiled
from faka_common.db.uow import execute, fetch_records
from sqlalchemy import DateTime, Table, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import (
    deliveries,
    delivery_attempts,
    supplier_claims,
    supplier_key_batches,
    suppliers,
)
from delivery.domain.model import Delivery, OrderOfAnotherShop
from delivery.domain.suppliers import Score

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
        columns: list[list[Any]] = [[d.id for d in saved], [d.shop_id for d in saved]]
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
