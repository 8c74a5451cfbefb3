"""Orders: the repository that inserts, locks and saves them with their audited transitions (and, in the same
statement, the transaction's outbox rows), and the reads of an order by number that other adapters share."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.contracts.order_watch import announcement
from faka_common.db.statements import Compiled, mapping
from faka_common.db.uow import execute, outbox_insert
from sqlalchemy import DateTime, Table, any_, bindparam, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import ColumnElement

from order.adapters.tables import order_transitions, orders
from order.domain.model import UNPAID_ENDS, WAITING_FOR_STOCK, Order, Status, Transition

_WAITING = sorted(status.value for status in WAITING_FOR_STOCK)

_MUTABLE = (
    "status",
    "expires_at",
    "paid_at",
    "delivered_at",
    "status_reason",
    "updated_at",
    "refunded_amount",
    "reconciled_at",
    "secret_version",
)


def _row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "shop_id": order.shop_id,
        "order_no": order.order_no,
        "status": order.status.value,
        "product_id": order.product_id,
        "product_title": order.product_title,
        "quantity": order.quantity,
        "unit_price": order.unit_price,
        "amount": order.amount,
        "currency": order.currency,
        "buyer_email": order.buyer_email,
        "buyer_ip": order.buyer_ip,
        "locale": order.locale,
        "password_hash": order.password_hash,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "delivered_at": order.delivered_at,
        "status_reason": order.status_reason,
        "updated_at": order.updated_at,
        "refunded_amount": order.refunded_amount,
        "reconciled_at": order.reconciled_at,
        "discount": order.discount,
        "coupon_code": order.coupon_code,
        "delivery_type": order.delivery_type,
        "face_value": order.face_value,
        "buyer_fields": order.buyer_fields,
        "buyer_phone": order.buyer_phone,
        "secret_version": order.secret_version,
    }


def _in_shop(table: Table, shop_id: UUID | None) -> list[ColumnElement[bool]]:
    """The condition that scopes a query to the shop; none for a platform-wide query (no shop)."""
    return [] if shop_id is None else [table.c.shop_id == shop_id]


#: The buyer's order page reads its order by number several times a sale: statements compiled once and run
#: on the driver (building one per read was a third of the read's CPU in SQLAlchemy, py-spy; running a
#: built one through the session still cost more than the driver's own work, see `Compiled`).
_BY_NO = select(orders).where(orders.c.order_no == bindparam("order_no"))
#: By whether the read names the shop (`_by_no`).
BY_NO_QUERIES = {False: _BY_NO, True: _BY_NO.where(orders.c.shop_id == bindparam("shop_id"))}
_BY_NO_RUNS = {in_shop: Compiled(query) for in_shop, query in BY_NO_QUERIES.items()}

#: Every handler that moves an order locks it first (four a sale), compiled once like the reads above.
_LOCK = Compiled(
    select(orders)
    .where(orders.c.id == bindparam("order_id"), orders.c.shop_id == bindparam("shop_id"))
    .with_for_update(key_share=True)
)

#: A payment notification finds its order by number and locks it in one read (every sale).
_LOCK_BY_NO = {
    in_shop: Compiled(query.with_for_update(key_share=True)) for in_shop, query in BY_NO_QUERIES.items()
}

#: Every consumer batch of the order service locks its orders first (`lock_in_order`): compiled once too.
#: The rows are kept for the batch's handlers (`lock` hands each out once).
_LOCK_MANY = Compiled(
    select(orders)
    .where(orders.c.id == any_(bindparam("ids", type_=ARRAY(PgUUID(as_uuid=True)))))
    .order_by(orders.c.id)
    .with_for_update(key_share=True)
)


#: An order is inserted once and saved at every move (about four times a sale): with statements built once
#: the values are parameters, and SQLAlchemy builds, keys and caches nothing per call (building them was a
#: fifth of placing an order and of applying its payment, py-spy at 10 orders/s).
_INSERT = Compiled(insert(orders), [column.name for column in orders.c])
_SAVE = Compiled(update(orders).where(orders.c.id == bindparam("saved_id")), _MUTABLE)
_TRANSITION_COLUMNS = ("shop_id", "order_id", "from_state", "to_state", "trigger", "at")
_INSERT_TRANSITION = insert(order_transitions)


def _with_transition(written: Insert | Update) -> Compiled:
    """`written` (the order's insert or save) and the one transition it audits (nearly every write) in one
    statement, one round trip fewer per move (six a sale). The transition is written only if the order's
    row was; its values are the parameters named `moved_<column>`."""
    order = written.returning(orders.c.id).cte("written")
    moved = select(
        *(bindparam(f"moved_{name}", type_=order_transitions.c[name].type) for name in _TRANSITION_COLUMNS)
    ).select_from(order)
    return Compiled(insert(order_transitions).from_select(list(_TRANSITION_COLUMNS), moved))


_INSERT_MOVED = _with_transition(insert(orders).values({c.name: bindparam(c.name) for c in orders.c}))
_SAVE_MOVED = _with_transition(
    update(orders)
    .where(orders.c.id == bindparam("saved_id"))
    .values({name: bindparam(name) for name in _MUTABLE})
)


def _and_outbox(moved: Compiled) -> str:
    """`moved` (an order's write with its transition) that also writes the transaction's outbox rows (the
    six arrays of `UnitOfWork.take_outbox`, numbered after its own parameters): a placement and its
    OrderPlaced in one statement, which needs no transaction around it (`UnitOfWork.alone`); a payment's
    save and its OrderPaid in one round trip."""
    return f"WITH outboxed AS ({outbox_insert(moved.parameters + 1)}), " + moved.sql.removeprefix("WITH ")


_WITH_OUTBOX = {_INSERT_MOVED: _and_outbox(_INSERT_MOVED), _SAVE_MOVED: _and_outbox(_SAVE_MOVED)}


#: A consumer run's saves, all in one statement (`OrderRepository.defer_saves`): each order's changed facts
#: by `unnest` of one array a column, then the audited transitions of the orders written, in their order.
#: Four saves a sale were four round trips in the runs of the order service's consumer.
_SAVE_MANY_CTES = """
WITH given AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                         $6::text[], $7::timestamptz[], $8::bigint[], $9::timestamptz[], $10::integer[])
        AS g(id, status, expires_at, paid_at, delivered_at, status_reason, updated_at, refunded_amount,
             reconciled_at, secret_version)
), written AS (
    UPDATE orders SET status = given.status, expires_at = given.expires_at, paid_at = given.paid_at,
        delivered_at = given.delivered_at, status_reason = given.status_reason, updated_at = given.updated_at,
        refunded_amount = given.refunded_amount, reconciled_at = given.reconciled_at,
        secret_version = given.secret_version
    FROM given WHERE orders.id = given.id
    RETURNING orders.id
)"""
_SAVE_MANY_TRANSITIONS = """
INSERT INTO order_transitions (shop_id, order_id, from_state, to_state, trigger, at)
SELECT moved.shop_id, moved.order_id, moved.from_state, moved.to_state, moved.trigger, moved.at
FROM unnest($11::uuid[], $12::uuid[], $13::text[], $14::text[], $15::text[], $16::timestamptz[])
    WITH ORDINALITY AS moved(shop_id, order_id, from_state, to_state, trigger, at, n)
WHERE moved.order_id IN (SELECT id FROM written)
ORDER BY moved.n
"""
_SAVE_MANY = _SAVE_MANY_CTES + _SAVE_MANY_TRANSITIONS
#: `_SAVE_MANY` that also writes the transaction's outbox rows (parameters 17-22, `UnitOfWork.take_outbox`):
#: a consumer run's saves and the messages they announce in one round trip. A data-modifying CTE runs once
#: whether or not the rest of the statement reads it. (A payment keeps its single-row save: on this
#: statement it cost Postgres more than the round trip it spared.)
_SAVE_MANY_AND_OUTBOX = f"{_SAVE_MANY_CTES}, outboxed AS ({outbox_insert(17)}){_SAVE_MANY_TRANSITIONS}"
#: The columns `_SAVE_MANY` sets, in its parameters' order (the saved facts of `_SAVE`).
assert _MUTABLE == (
    "status", "expires_at", "paid_at", "delivered_at", "status_reason", "updated_at", "refunded_amount",
    "reconciled_at", "secret_version",
)  # fmt: skip


def _announced(order: Order) -> str:
    """How the order's move is announced to the pages watching it (`faka_common.contracts.order_watch`)."""
    status = order.status
    if status is Status.DELIVERED:
        return announcement(status.value, order.delivered_at, order.secret_version)
    if status is Status.AWAITING_PAYMENT:
        return announcement(status.value, order.expires_at)
    return announcement(status.value, order.paid_at)


async def first_by_no(
    session: AsyncSession, queries: dict[bool, Compiled], shop_id: UUID | None, order_no: str, **params: Any
) -> Mapping[str, Any] | None:
    """The row of the order numbered `order_no` that `queries` (one of `BY_NO_QUERIES`, extended, by
    whether it names the shop) reads, with `params` for the rest of its parameters."""
    params["order_no"] = order_no
    if shop_id is not None:
        params["shop_id"] = shop_id
    return await queries[shop_id is not None].first(session, params)


def order_of_row(row: Any) -> Order:
    """The order of a row (`mapping`)."""
    values = dict(mapping(row))
    values["status"] = Status(values["status"])
    values["buyer_fields"] = dict(values.get("buyer_fields") or {})
    return Order(**values)


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        #: (order_no, announcement) of every transition written in this transaction, announced after commit
        self.changed: list[tuple[str, str]] = []
        #: every transition written in this transaction with its order, counted after commit
        self.moved: list[tuple[Order, Transition]] = []
        #: rows `lock_in_order` read locked in this transaction and no handler has taken yet (`lock`)
        self._held: dict[UUID, Any] = {}
        #: orders saved since the last write while saves are deferred (`defer_saves`), else None
        self._deferred: dict[UUID, Order] | None = None

    async def add(self, order: Order, outbox: list[list[Any]] | None = None) -> None:
        """Insert the order and audit its transitions; with `outbox` (the six arrays of
        `UnitOfWork.take_outbox`), its messages in the same statement (an order of one transition)."""
        self._held.pop(order.id, None)
        if outbox is not None or len(order.pending_transitions) == 1:
            await self._write_moved(_INSERT_MOVED, order, _row(order), outbox)
            return
        await _INSERT.run(self._session, _row(order))
        await self._write_transitions(order)

    async def save(self, order: Order, outbox: list[list[Any]] | None = None) -> None:
        """Write the order's changed facts and its not yet audited transitions (at `flush` while saves are
        deferred); with `outbox`, as `add`."""
        self._held.pop(order.id, None)  # a held row would be older than this write
        if self._deferred is not None:
            if outbox is not None:
                raise ValueError("kept saves write their messages at flush")
            self._deferred[order.id] = order
            return
        row = {"saved_id": order.id, **_row(order)}
        if outbox is not None or len(order.pending_transitions) == 1:
            await self._write_moved(_SAVE_MOVED, order, row, outbox)
            return
        await _SAVE.run(self._session, row)
        await self._write_transitions(order)

    async def _write_moved(
        self, moved: Compiled, order: Order, row: dict[str, Any], outbox: list[list[Any]] | None
    ) -> None:
        """The order's write and its one transition in one statement, with the outbox rows when given."""
        if len(order.pending_transitions) != 1:
            raise ValueError("outbox rows ride with a write of one transition only")
        params = {**row, **self._moved(order)}
        if outbox is None:
            await moved.run(self._session, params)
        else:
            await execute(self._session, _WITH_OUTBOX[moved], *moved.args(params), *outbox)

    def defer_saves(self) -> None:
        """From now until the transaction ends, `save` keeps the order (and `lock` hands that order out
        again, its row being locked by this transaction) and `flush` writes every kept order in one
        statement: a consumer run's moves of many orders in one round trip instead of one each. Every
        other read of this repository flushes first, so it sees the saves; the unit of work flushes
        before it commits. Statements of other repositories do not see a kept save until then: only for
        transactions that, like the consumer's runs, touch orders through `lock` and `save` alone."""
        if self._deferred is None:
            self._deferred = {}

    @property
    def deferred(self) -> bool:
        """Whether saves are kept for `flush` to write."""
        return bool(self._deferred)

    async def flush(self, outbox: list[list[Any]] | None = None) -> None:
        """Write the saves `defer_saves` kept (nothing when none are kept), and in the same statement the
        `outbox` rows when given (the six arrays of `UnitOfWork.take_outbox`)."""
        if not self._deferred:
            if outbox is not None:
                raise ValueError("outbox rows ride with kept saves only")
            return
        kept, self._deferred = list(self._deferred.values()), {}
        rows = [_row(order) for order in kept]
        moved = [row for order in kept for row in self._transitions(order)]
        await execute(
            self._session,
            _SAVE_MANY if outbox is None else _SAVE_MANY_AND_OUTBOX,
            [order.id for order in kept],
            *([row[name] for row in rows] for name in _MUTABLE),
            *([row[name] for row in moved] for name in _TRANSITION_COLUMNS),
            *(outbox or ()),
        )

    def _moved(self, order: Order) -> dict[str, Any]:
        (written,) = self._transitions(order)
        return {f"moved_{name}": value for name, value in written.items()}

    async def _write_transitions(self, order: Order) -> None:
        """Several transitions of one write (a write with one takes it in its own statement)."""
        if order.pending_transitions:
            await self._session.execute(_INSERT_TRANSITION, self._transitions(order))

    def _transitions(self, order: Order) -> list[dict[str, Any]]:
        """The rows of the order's transitions not yet audited, taken from it (and kept to be announced and
        counted after commit). A write that places the order is not announced: nobody can watch an order
        whose number the placement has not answered yet (one Redis round trip a sale)."""
        if all(t.from_state is not None for t in order.pending_transitions):
            self.changed.append((order.order_no, _announced(order)))
        self.moved += [(order, t) for t in order.pending_transitions]
        written = [
            {
                "shop_id": order.shop_id,
                "order_id": t.order_id,
                "from_state": t.from_state.value if t.from_state else None,
                "to_state": t.to_state.value,
                "trigger": t.trigger,
                "at": t.at,
            }
            for t in order.pending_transitions
        ]
        order.pending_transitions.clear()
        return written

    async def get_by_no(self, shop_id: UUID | None, order_no: str) -> Order | None:
        """The shop's order with this number, None for another shop's; with no shop (a route that serves the
        whole platform), the order of any shop (order numbers are unique across shops)."""
        return await self._by_no(_BY_NO_RUNS, shop_id, order_no)

    async def lock(self, shop_id: UUID, order_id: UUID) -> Order | None:
        """The shop's order, its row locked until the transaction ends. FOR NO KEY UPDATE: it excludes every
        other writer but not the FOR KEY SHARE lock a payments foreign-key insert takes, so two payments for
        one order cannot deadlock. An order `lock_in_order` locked in this transaction is not read again: its
        row is handed out once (a consumer batch's handler takes its order without a round trip), then read
        again as any other."""
        kept = self._deferred.get(order_id) if self._deferred else None
        if kept is not None:
            return kept if kept.shop_id == shop_id else None
        held = self._held.pop(order_id, None)
        if held is not None:
            return order_of_row(held) if held["shop_id"] == shop_id else None
        row = await _LOCK.first(self._session, {"order_id": order_id, "shop_id": shop_id})
        return order_of_row(row) if row else None

    async def lock_by_no(self, shop_id: UUID | None, order_no: str) -> Order | None:
        """`get_by_no` with the row locked as `lock` locks it: one round trip for a read and its lock."""
        return await self._by_no(_LOCK_BY_NO, shop_id, order_no)

    async def _by_no(
        self, queries: dict[bool, Compiled], shop_id: UUID | None, order_no: str
    ) -> Order | None:
        """The order by number with `queries`' statement for naming the shop (`shop_id`) or not."""
        await self.flush()
        row = await first_by_no(self._session, queries, shop_id, order_no)
        return order_of_row(row) if row else None

    async def lock_in_order(self, order_ids: Collection[UUID]) -> None:
        """Lock the rows of `order_ids` (as `lock` does) in the order of their ids: transactions that lock
        several orders this way before anything else wait for each other instead of deadlocking."""
        await self.flush()
        if order_ids:
            rows = await _LOCK_MANY.rows(self._session, {"ids": sorted(set(order_ids))})
            self._held = {row["id"]: row for row in rows}

    def forget_held(self) -> None:
        """The transaction ended: its locks are gone, and the rows read under them with them (and saves
        kept unwritten, which a commit flushed first)."""
        self._held = {}
        self._deferred = None

    async def count_waiting(self, placed_after: datetime, placed_before: datetime) -> int:
        """Orders of every shop placed between `placed_after` and `placed_before` and still not told their
        stock (`WAITING_FOR_STOCK`), found through the expiry sweep's index on the status."""
        await self.flush()
        query = (
            select(func.count())
            .select_from(orders)
            .where(
                orders.c.status.in_(_WAITING),
                orders.c.created_at > placed_after,
                orders.c.created_at < placed_before,
            )
        )
        return int(await self._session.scalar(query) or 0)

    async def lock_overdue(self, now: datetime, limit: int) -> list[Order]:
        """Awaiting-payment orders past their window, skipping rows another worker holds."""
        await self.flush()
        query = (
            select(orders)
            .where(orders.c.status == Status.AWAITING_PAYMENT.value, orders.c.expires_at < now)
            .order_by(orders.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )
        return [order_of_row(row) for row in (await self._session.execute(query)).all()]

    async def claim_for_reconciliation(
        self, now: datetime, lead: timedelta, lookback: timedelta, every: timedelta, limit: int
    ) -> list[Order]:
        """Unpaid orders whose window ends within `lead` or ended within `lookback`, not asked about in the
        last `every`, nor, once expired, in the last half of the time since their window ended (asked
        about roughly 1, 2, 4, 8 and 16 minutes past it rather than every `every` for `lookback`:
        most unpaid orders are abandoned, and each ask is a query at the provider); stamped as asked, so
        replicas share the work."""
        await self.flush()
        at = literal(now, DateTime(timezone=True))
        due = (
            select(orders.c.id)
            .where(
                orders.c.status.in_([Status.AWAITING_PAYMENT.value, Status.EXPIRED.value]),
                orders.c.expires_at <= now + lead,
                orders.c.expires_at >= now - lookback,
                or_(
                    orders.c.reconciled_at.is_(None),
                    orders.c.reconciled_at
                    < at - func.greatest(literal(every), (at - orders.c.expires_at) / 2),
                ),
            )
            .order_by(orders.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
            .scalar_subquery()
        )
        result = await self._session.execute(
            update(orders).where(orders.c.id.in_(due)).values(reconciled_at=now).returning(*orders.c)
        )
        return [order_of_row(row) for row in result.all()]

    async def unpaid_created_between(
        self, shop_id: UUID, start: datetime, end: datetime, limit: int
    ) -> list[Order]:
        await self.flush()
        query = (
            select(orders)
            .where(
                orders.c.shop_id == shop_id,
                orders.c.created_at >= start,
                orders.c.created_at < end,
                orders.c.status.in_(
                    [Status.AWAITING_PAYMENT.value, Status.EXPIRED.value, Status.CANCELLED.value]
                ),
            )
            .order_by(orders.c.created_at)
            .limit(limit)
        )
        return [order_of_row(row) for row in (await self._session.execute(query)).all()]

    async def transitions(self, order_id: UUID) -> list[tuple[str | None, str, str]]:
        await self.flush()
        query = (
            select(order_transitions.c.from_state, order_transitions.c.to_state, order_transitions.c.trigger)
            .where(order_transitions.c.order_id == order_id)
            .order_by(order_transitions.c.id)
        )
        return [(r.from_state, r.to_state, r.trigger) for r in (await self._session.execute(query)).all()]

    async def lock_buyer(self, shop_id: UUID, product_id: UUID, buyer_email: str) -> None:
        """Serialise placements of one buyer for one product until the transaction ends, so a purchase
        limit counted next cannot be passed by two concurrent orders."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"order-buyer:{shop_id}:{product_id}:{buyer_email.strip().lower()}"},
        )

    async def units_bought(self, shop_id: UUID, product_id: UUID, buyer_email: str) -> int:
        """Units of `product_id` in the buyer's orders in the shop that did not end unpaid (email
        case-insensitive)."""
        await self.flush()
        query = select(func.coalesce(func.sum(orders.c.quantity), 0)).where(
            orders.c.shop_id == shop_id,
            func.lower(orders.c.buyer_email) == buyer_email.strip().lower(),
            orders.c.product_id == product_id,
            orders.c.status.not_in([s.value for s in UNPAID_ENDS]),
        )
        return int((await self._session.execute(query)).scalar_one())

    async def recent_for_buyer(
        self, shop_id: UUID | None, buyer_email: str, since: datetime, limit: int
    ) -> list[Order]:
        """The buyer's orders in the shop (no shop: in every shop), newest first."""
        await self.flush()
        query = (
            select(orders)
            .where(
                *_in_shop(orders, shop_id),
                func.lower(orders.c.buyer_email) == buyer_email.strip().lower(),
                orders.c.created_at >= since,
            )
            .order_by(orders.c.created_at.desc())
            .limit(limit)
        )
        return [order_of_row(row) for row in (await self._session.execute(query)).all()]
