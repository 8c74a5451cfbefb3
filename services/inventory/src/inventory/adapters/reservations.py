"""The reservations' repository: each order's reservation or stock refusal, the per-order advisory locks
every handler of an order takes, and the reads and moves of a sale compiled once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from faka_common.db.statements import Compiled, mapping
from faka_common.db.uow import execute, fetch_one
from sqlalchemy import any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.tables import reservations, stock_refusals
from inventory.domain.model import Reservation
from inventory.domain.reservations import ReservationStatus

_RESERVATION = select(reservations).where(reservations.c.order_id == bindparam("order_id"))
_RESERVATIONS = {
    locked: Compiled(_RESERVATION.with_for_update() if locked else _RESERVATION) for locked in (False, True)
}


#: A run's reservations, locked in order id order.
_RESERVATIONS_MANY = Compiled(
    select(reservations)
    .where(reservations.c.order_id == any_(bindparam("order_ids", type_=ARRAY(PgUUID(as_uuid=True)))))
    .order_by(reservations.c.order_id)
    .with_for_update()
)
_SET_RESERVATIONS_STATUS = (
    "UPDATE reservations SET status = $2::text, updated_at = now() WHERE order_id = ANY($1::uuid[])"
)

#: A reservation moves two or three times a sale: compiled once.
_SET_RESERVATION_STATUS = Compiled(
    update(reservations)
    .where(reservations.c.order_id == bindparam("order_id"))
    .values(status=bindparam("status"), updated_at=func.now())
)


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: UUID, for_update: bool = False) -> Reservation | None:
        row = await _RESERVATIONS[for_update].first(self._session, {"order_id": order_id})
        if row is None:
            return None
        return _reservation(row)

    async def add(
        self,
        order_id: UUID,
        shop_id: UUID,
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
                shop_id=shop_id,
                product_id=product_id,
                quantity=quantity,
                status=status.value,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing()
            .returning(reservations.c.order_id)
        )
        return result.first() is not None

    async def lock_orders(self, order_ids: Sequence[UUID]) -> None:
        """`lock_order` for many orders in one statement, in key order."""
        keys = sorted(int.from_bytes(order_id.bytes[:8], "big", signed=True) for order_id in order_ids)
        await fetch_one(
            self._session,
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k",
            keys,
        )

    async def answered(self, order_ids: Sequence[UUID]) -> set[UUID]:
        """The orders among these that already have a reservation or a refusal."""
        (found,) = await fetch_one(
            self._session,
            "SELECT array(SELECT order_id FROM reservations WHERE order_id = ANY($1::uuid[]) "
            "UNION SELECT order_id FROM stock_refusals WHERE order_id = ANY($1::uuid[]))",
            list(order_ids),
        )
        return set(found)

    async def add_many(self, shop_id: UUID, rows: Sequence[tuple[UUID, UUID, int, datetime | None]]) -> int:
        """Active reservations (order id, product id, quantity, expires at) of one shop's orders in one
        statement; returns how many were new."""
        (added,) = await fetch_one(
            self._session,
            "WITH added AS (INSERT INTO reservations "
            "(order_id, product_id, shop_id, quantity, status, expires_at) "
            "SELECT o, p, $5::uuid, q, 'active', e "
            "FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[]) AS r(o, p, q, e) "
            "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM added",
            [row[0] for row in rows],
            [row[1] for row in rows],
            [row[2] for row in rows],
            [row[3] for row in rows],
            shop_id,
        )
        return int(added)

    async def lock_order(self, order_id: UUID) -> None:
        """Serialize every handler of one order until commit (a redelivery racing the original waits and
        then sees what the original did)."""
        await fetch_one(
            self._session,
            "SELECT pg_advisory_xact_lock($1::bigint)",
            int.from_bytes(order_id.bytes[:8], "big", signed=True),
        )

    async def lapsed(self, grace_seconds: float, limit: int) -> list[Reservation]:
        """Active reservations past expires_at + grace, locked; ones another sweeper holds are skipped."""
        rows = await self._session.execute(
            select(reservations)
            .where(
                reservations.c.status == ReservationStatus.ACTIVE.value,
                reservations.c.expires_at.is_not(None),
                reservations.c.expires_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds),
            )
            .order_by(reservations.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_reservation(r) for r in rows]

    async def refused(self, order_id: UUID) -> bool:
        """Whether the order was already told there is no stock for it."""
        query = select(stock_refusals.c.order_id).where(stock_refusals.c.order_id == order_id)
        return (await self._session.execute(query)).first() is not None

    async def refuse(
        self, order_id: UUID, shop_id: UUID, product_id: UUID, requested: int, available: int, reason: str
    ) -> bool:
        """Record that the order (of shop `shop_id`) got no stock and why; False when it already was
        refused (a concurrent duplicate)."""
        result = await self._session.execute(
            insert(stock_refusals)
            .values(
                order_id=order_id,
                shop_id=shop_id,
                product_id=product_id,
                requested=requested,
                available=available,
                reason=reason,
            )
            .on_conflict_do_nothing()
            .returning(stock_refusals.c.order_id)
        )
        return result.first() is not None

    async def set_status(self, order_id: UUID, status: ReservationStatus) -> None:
        await _SET_RESERVATION_STATUS.run(self._session, {"order_id": order_id, "status": status.value})

    async def get_many(self, order_ids: Sequence[UUID]) -> dict[UUID, Reservation]:
        """The reservations of these orders, locked (`get(for_update=True)` of each), by order id."""
        rows = await _RESERVATIONS_MANY.rows(self._session, {"order_ids": list(order_ids)})
        return {found.order_id: found for found in map(_reservation, rows)}

    async def set_status_many(self, order_ids: Sequence[UUID], status: ReservationStatus) -> None:
        """`set_status` of many orders in one statement."""
        await execute(self._session, _SET_RESERVATIONS_STATUS, list(order_ids), status.value)


def _reservation(found: Any) -> Reservation:
    """The reservation of a row (`mapping`)."""
    row = mapping(found)
    return Reservation(
        row["order_id"],
        row["product_id"],
        row["shop_id"],
        row["quantity"],
        ReservationStatus(row["status"]),
        row["expires_at"],
    )
