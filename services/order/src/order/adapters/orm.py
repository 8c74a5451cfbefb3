"""Order tables and repositories."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.contracts.order_watch import announcement
from faka_common.db.statements import Compiled, mapping
from faka_common.db.uow import execute, outbox_insert
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import ColumnElement
from uuid6 import uuid7

from order.domain.model import UNPAID_ENDS, WAITING_FOR_STOCK, Order, Status, Transition
from order.domain.payments import PaymentNotice
from order.domain.pricing import Coupon, PriceTier

metadata = MetaData()
_WAITING = sorted(status.value for status in WAITING_FOR_STOCK)


def _shop_id(primary_key: bool = False) -> Column[UUID]:
    """The shop a row belongs to (migration 0009): no default, so a write that does not name it fails."""
    return Column("shop_id", PgUUID(as_uuid=True), nullable=False, primary_key=primary_key)


orders = Table(
    "orders",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    _shop_id(),
    Column("order_no", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_title", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("buyer_email", Text, nullable=False),
    Column("buyer_ip", Text),
    Column("locale", Text, nullable=False),
    Column("password_hash", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("paid_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("status_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("refunded_amount", BigInteger, nullable=False, default=0),
    Column("reconciled_at", DateTime(timezone=True)),
    Column("discount", BigInteger, nullable=False, default=0),
    Column("coupon_code", Text),
    Column("delivery_type", Text, nullable=False, default="card_key"),
    Column("face_value", BigInteger),
    Column("buyer_fields", JSONB, nullable=False, default=dict),
    Column("buyer_phone", Text),
    Column("secret_version", Integer, nullable=False, default=0),
    Index("orders_expiry_sweep", "status", "expires_at"),
)
Index("orders_shop_created_id", orders.c.shop_id, orders.c.created_at.desc(), orders.c.id.desc())
Index("orders_shop_paid", orders.c.shop_id, orders.c.paid_at, postgresql_where=orders.c.paid_at.isnot(None))

payments = Table(
    "payments",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    _shop_id(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("collected_by", Text, nullable=False, server_default="platform"),
    #: `<provider>:<account>` when the notification or the provider's answer named who paid
    Column("payer_account", Text),
    #: one index for both uniqueness and the console's search by trade number within a shop (0017)
    UniqueConstraint("shop_id", "trade_no", "provider", name="payments_trade_no"),
    Index("payments_order_id", "order_id"),
    Index("payments_received_at", "shop_id", "received_at"),
)

order_transitions = Table(
    "order_transitions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _shop_id(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("from_state", Text),
    Column("to_state", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("order_transitions_order_id", "order_id", "id"),
)

payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    Column("provider", Text, primary_key=True),
    _shop_id(),
    Column("provider_ref", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("collected_by", Text, nullable=False, server_default="platform"),
)

payment_exceptions = Table(
    "payment_exceptions",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    _shop_id(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("shop_id", "provider", "trade_no", name="payment_exceptions_provider_trade_no"),
    Index("payment_exceptions_received_at", "shop_id", "received_at"),
)

payment_checks = Table(
    "payment_checks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _shop_id(),
    Column("provider", Text, nullable=False),
    Column("order_no", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("refund_no", Text, nullable=False, unique=True),
    _shop_id(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("provider_refund_id", Text),
    Column("error", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
)
Index("refunds_shop_requested", refunds.c.shop_id, refunds.c.requested_at)

auto_refunds = Table(
    "auto_refunds",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    _shop_id(),
    Column("refund_no", Text, nullable=False, unique=True),
    Column("reason", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

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


_PAYMENT_COLUMNS = (
    "id",
    "shop_id",
    "order_id",
    "provider",
    "trade_no",
    "amount",
    "currency",
    "received_at",
    "collected_by",
    "payer_account",
)
#: A payment is recorded once a sale, compiled once like the order's statements.
_ADD_PAYMENT = Compiled(
    insert(payments)
    .on_conflict_do_nothing(index_elements=["shop_id", "provider", "trade_no"])
    .returning(payments.c.id),
    _PAYMENT_COLUMNS,
)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order, notice: PaymentNotice, received_at: datetime) -> bool:
        """Record the order's payment; False when this provider's trade was recorded already (in its shop)."""
        added = await _ADD_PAYMENT.first(
            self._session,
            {
                "id": uuid7(),
                "shop_id": order.shop_id,
                "order_id": order.id,
                "provider": notice.provider,
                "trade_no": notice.trade_no,
                "amount": notice.amount,
                "currency": notice.currency,
                "received_at": received_at,
                "collected_by": notice.collected_by,
                "payer_account": notice.payer_account,
            },
        )
        return added is not None

    async def count_for(self, order_id: UUID) -> int:
        rows = (
            await self._session.execute(select(payments.c.id).where(payments.c.order_id == order_id))
        ).all()
        return len(rows)

    async def add_exception(self, order: Order, notice: PaymentNotice, reason: str, at: datetime) -> bool:
        """Keep a real payment we will not deliver on (wrong amount or currency); False when known already."""
        result = await self._session.execute(
            insert(payment_exceptions)
            .values(
                id=uuid7(),
                shop_id=order.shop_id,
                order_id=order.id,
                provider=notice.provider,
                trade_no=notice.trade_no,
                amount=notice.amount,
                currency=notice.currency,
                reason=reason[:500],
                received_at=at,
            )
            .on_conflict_do_nothing(index_elements=["shop_id", "provider", "trade_no"])
            .returning(payment_exceptions.c.id)
        )
        return result.first() is not None

    async def record_attempt(
        self,
        order: Order,
        provider: str,
        provider_ref: str | None,
        at: datetime,
        collected_by: str = "platform",
    ) -> None:
        statement = insert(payment_attempts).values(
            order_id=order.id,
            shop_id=order.shop_id,
            provider=provider,
            provider_ref=provider_ref,
            created_at=at,
            collected_by=collected_by,
        )
        excluded = statement.excluded
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["order_id", "provider"],
                set_={"provider_ref": excluded.provider_ref, "created_at": at, "collected_by": collected_by},
            )
        )

    async def attempts(self, order_id: UUID) -> dict[str, str | None]:
        query = select(payment_attempts.c.provider, payment_attempts.c.provider_ref).where(
            payment_attempts.c.order_id == order_id
        )
        return {r.provider: r.provider_ref for r in (await self._session.execute(query)).all()}

    async def for_order(self, order_id: UUID) -> list[PaymentNotice]:
        query = (
            select(
                payments.c.provider,
                payments.c.trade_no,
                payments.c.amount,
                payments.c.currency,
                payments.c.collected_by,
                payments.c.payer_account,
            )
            .where(payments.c.order_id == order_id)
            .order_by(payments.c.received_at, payments.c.id)
        )
        return [
            PaymentNotice(r.provider, "", r.trade_no, r.amount, r.currency, r.collected_by, r.payer_account)
            for r in (await self._session.execute(query)).all()
        ]

    async def received_between(self, shop_id: UUID, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = (
            select(
                payments.c.provider,
                payments.c.trade_no,
                payments.c.amount,
                payments.c.currency,
                payments.c.received_at,
                payments.c.collected_by,
                orders.c.order_no,
                orders.c.amount.label("order_amount"),
                orders.c.product_title,
            )
            .join(orders, orders.c.id == payments.c.order_id)
            .where(
                payments.c.shop_id == shop_id, payments.c.received_at >= start, payments.c.received_at < end
            )
            .order_by(payments.c.received_at)
        )
        return [dict(r._mapping) for r in (await self._session.execute(query)).all()]

    async def exceptions_between(self, shop_id: UUID, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = (
            select(
                payment_exceptions.c.provider,
                payment_exceptions.c.trade_no,
                payment_exceptions.c.amount,
                payment_exceptions.c.currency,
                payment_exceptions.c.reason,
                payment_exceptions.c.received_at,
                orders.c.order_no,
            )
            .join(orders, orders.c.id == payment_exceptions.c.order_id)
            .where(
                payment_exceptions.c.shop_id == shop_id,
                payment_exceptions.c.received_at >= start,
                payment_exceptions.c.received_at < end,
            )
            .order_by(payment_exceptions.c.received_at)
        )
        return [dict(r._mapping) for r in (await self._session.execute(query)).all()]


class PaymentCheckRepository:
    """Orders to ask a provider about because a notification failed verification transiently."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, shop_id: UUID, provider: str, order_no: str, reason: str, at: datetime) -> None:
        await self._session.execute(
            insert(payment_checks).values(
                shop_id=shop_id, provider=provider, order_no=order_no[:64], reason=reason[:500], created_at=at
            )
        )

    async def claim(self, limit: int, at: datetime) -> list[tuple[UUID, str, str]]:
        """Take up to `limit` open checks of any shop (marking them done): (shop, provider, order number)
        each; another worker skips the ones taken."""
        due = (
            select(payment_checks.c.id)
            .where(payment_checks.c.done_at.is_(None))
            .order_by(payment_checks.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self._session.execute(
            update(payment_checks)
            .where(payment_checks.c.id.in_(due))
            .values(done_at=at)
            .returning(payment_checks.c.shop_id, payment_checks.c.provider, payment_checks.c.order_no)
        )
        return [(r.shop_id, r.provider, r.order_no) for r in result.all()]


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, refund: dict[str, Any]) -> None:
        await self._session.execute(insert(refunds).values(**refund))

    async def pending_total(self, order_id: UUID) -> int:
        query = select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.order_id == order_id, refunds.c.status == "pending"
        )
        return int((await self._session.execute(query)).scalar_one())

    async def finish(
        self,
        refund_no: str,
        status: str,
        at: datetime,
        provider_refund_id: str | None = None,
        error: str | None = None,
    ) -> None:
        await self._session.execute(
            update(refunds)
            .where(refunds.c.refund_no == refund_no)
            .values(status=status, completed_at=at, provider_refund_id=provider_refund_id, error=error)
        )

    async def by_no(self, refund_no: str) -> dict[str, Any] | None:
        query = select(refunds).where(refunds.c.refund_no == refund_no)
        row = (await self._session.execute(query)).first()
        return dict(row._mapping) if row is not None else None

    async def for_order(self, order_id: UUID) -> list[dict[str, Any]]:
        query = (
            select(
                refunds.c.refund_no,
                refunds.c.provider,
                refunds.c.amount,
                refunds.c.currency,
                refunds.c.reason,
                refunds.c.status,
                refunds.c.error,
                refunds.c.requested_at,
                refunds.c.completed_at,
            )
            .where(refunds.c.order_id == order_id)
            .order_by(refunds.c.requested_at)
        )
        return [dict(r._mapping) for r in (await self._session.execute(query)).all()]


class AutoRefundRepository:
    """Automatic refunds owed by the late-payment policy: one per order, claimed with SKIP LOCKED."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order, refund_no: str, reason: str, at: datetime) -> bool:
        """Owe the order an automatic refund under `refund_no`; False when one is owed already."""
        result = await self._session.execute(
            insert(auto_refunds)
            .values(
                order_id=order.id,
                shop_id=order.shop_id,
                refund_no=refund_no,
                reason=reason,
                state="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing()
            .returning(auto_refunds.c.order_id)
        )
        return result.first() is not None

    async def claim_due(self, at: datetime) -> dict[str, Any] | None:
        """One pending automatic refund that is due, locked for this transaction; others skip it."""
        query = (
            select(auto_refunds, orders.c.order_no)
            .join(orders, orders.c.id == auto_refunds.c.order_id)
            .where(auto_refunds.c.state == "pending", auto_refunds.c.next_attempt_at <= at)
            .order_by(auto_refunds.c.next_attempt_at)
            .limit(1)
            .with_for_update(of=auto_refunds, skip_locked=True)
        )
        row = (await self._session.execute(query)).first()
        return dict(row._mapping) if row is not None else None

    async def update(self, order_id: UUID, at: datetime, **values: Any) -> None:
        await self._session.execute(
            update(auto_refunds).where(auto_refunds.c.order_id == order_id).values(updated_at=at, **values)
        )

    async def get(self, order_id: UUID) -> dict[str, Any] | None:
        row = (
            await self._session.execute(select(auto_refunds).where(auto_refunds.c.order_id == order_id))
        ).first()
        return dict(row._mapping) if row is not None else None


idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _shop_id(primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _idempotency_key(shop_id: UUID, key: str) -> ColumnElement[bool]:
    return and_(idempotency_keys.c.shop_id == shop_id, idempotency_keys.c.key == key)


class IdempotencyRepository:
    """Public Idempotency-Key records: claimed before the work, completed with its answer."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, shop_id: UUID, key: str, fingerprint: str, at: datetime, expired_before: datetime
    ) -> Any | None:
        """None when this request now owns the shop's `key`; otherwise the row another request holds."""
        mine = _idempotency_key(shop_id, key)
        await self._session.execute(
            delete(idempotency_keys).where(mine, idempotency_keys.c.created_at < expired_before)
        )
        inserted = await self._session.execute(
            insert(idempotency_keys)
            .values(shop_id=shop_id, key=key, fingerprint=fingerprint, created_at=at)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        )
        if inserted.first() is not None:
            return None
        return (await self._session.execute(select(idempotency_keys).where(mine))).first()

    async def complete(self, shop_id: UUID, key: str, status_code: int, response: dict[str, Any]) -> None:
        await self._session.execute(
            update(idempotency_keys)
            .where(_idempotency_key(shop_id, key))
            .values(status_code=status_code, response=response)
        )

    async def release(self, shop_id: UUID, key: str) -> None:
        await self._session.execute(delete(idempotency_keys).where(_idempotency_key(shop_id, key)))


order_price_tiers = Table(
    "order_price_tiers",
    metadata,
    _shop_id(primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), primary_key=True),
    Column("min_quantity", Integer, primary_key=True),
    Column("unit_price", BigInteger, nullable=False),
)

coupons = Table(
    "coupons",
    metadata,
    _shop_id(primary_key=True),
    Column("code", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("currency", Text),
    Column("product_id", PgUUID(as_uuid=True)),
    Column("category_id", PgUUID(as_uuid=True)),
    Column("usage_limit", Integer),
    Column("per_buyer_limit", Integer),
    Column("expires_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False, default=True),
    Column("used_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("coupons_shop_created", coupons.c.shop_id, coupons.c.created_at.desc())

coupon_redemptions = Table(
    "coupon_redemptions",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    _shop_id(),
    Column("code", Text, nullable=False),
    Column("buyer_email", Text, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("redeemed_at", DateTime(timezone=True), nullable=False),
    #: Set when the order ended unpaid and its use was given back; cleared if a late payment takes it again.
    Column("released_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["shop_id", "code"], ["coupons.shop_id", "coupons.code"]),
)


#: Read for every order placed: compiled once (building it per read was a quarter of placing's CPU, py-spy).
_TIERS = Compiled(
    select(order_price_tiers.c.min_quantity, order_price_tiers.c.unit_price)
    .where(
        order_price_tiers.c.shop_id == bindparam("shop_id"),
        order_price_tiers.c.product_id == bindparam("product_id"),
    )
    .order_by(order_price_tiers.c.min_quantity)
)


class PriceTierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_product(self, shop_id: UUID, product_id: UUID) -> list[PriceTier]:
        rows = await _TIERS.rows(self._session, {"shop_id": shop_id, "product_id": product_id})
        return [PriceTier(r["min_quantity"], r["unit_price"]) for r in rows]

    async def replace(self, shop_id: UUID, product_id: UUID, tiers: list[PriceTier]) -> None:
        await self._session.execute(
            delete(order_price_tiers).where(
                order_price_tiers.c.shop_id == shop_id, order_price_tiers.c.product_id == product_id
            )
        )
        if tiers:
            await self._session.execute(
                insert(order_price_tiers),
                [
                    {
                        "shop_id": shop_id,
                        "product_id": product_id,
                        "min_quantity": t.min_quantity,
                        "unit_price": t.unit_price,
                    }
                    for t in tiers
                ],
            )


def _coupon(row: Any) -> Coupon:
    return Coupon(**dict(row._mapping))


def _coupon_code(shop_id: UUID, code: str) -> ColumnElement[bool]:
    return and_(coupons.c.shop_id == shop_id, coupons.c.code == code)


class CouponRepository:
    """Coupons by (shop, code): a code names a coupon within its shop only."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, coupon: Coupon) -> bool:
        """False when the coupon's shop has a coupon with this code."""
        result = await self._session.execute(
            insert(coupons)
            .values(**{name: getattr(coupon, name) for name in coupons.c.keys()})  # noqa: SIM118
            .on_conflict_do_nothing()
            .returning(coupons.c.code)
        )
        return result.first() is not None

    async def get(self, shop_id: UUID, code: str) -> Coupon | None:
        row = (await self._session.execute(select(coupons).where(_coupon_code(shop_id, code)))).first()
        return _coupon(row) if row else None

    async def recent(self, shop_id: UUID, limit: int) -> list[Coupon]:
        query = (
            select(coupons)
            .where(coupons.c.shop_id == shop_id)
            .order_by(coupons.c.created_at.desc())
            .limit(limit)
        )
        return [_coupon(row) for row in (await self._session.execute(query)).all()]

    async def disable(self, shop_id: UUID, code: str) -> Coupon | None:
        result = await self._session.execute(
            update(coupons).where(_coupon_code(shop_id, code)).values(active=False).returning(*coupons.c)
        )
        row = result.first()
        return _coupon(row) if row else None

    async def take_use(self, shop_id: UUID, code: str, now: datetime) -> bool:
        """Count one use, atomically: the conditional UPDATE re-checks the limit on the row's latest version
        under its lock, so a limit of N is taken exactly N times however many orders race. The row stays
        locked until the transaction ends (which also serialises the per-buyer count)."""
        result = await self._session.execute(
            update(coupons)
            .where(
                _coupon_code(shop_id, code),
                coupons.c.active.is_(True),
                or_(coupons.c.usage_limit.is_(None), coupons.c.used_count < coupons.c.usage_limit),
                or_(coupons.c.expires_at.is_(None), coupons.c.expires_at > now),
            )
            .values(used_count=coupons.c.used_count + 1)
            .returning(coupons.c.code)
        )
        return result.first() is not None

    async def uses_by(self, shop_id: UUID, code: str, buyer_email: str) -> int:
        """The buyer's uses of the shop's coupon that count: orders that did not end unpaid."""
        query = select(func.count()).where(
            coupon_redemptions.c.shop_id == shop_id,
            coupon_redemptions.c.code == code,
            func.lower(coupon_redemptions.c.buyer_email) == buyer_email.strip().lower(),
            coupon_redemptions.c.released_at.is_(None),
        )
        return int((await self._session.execute(query)).scalar_one())

    async def record_redemption(self, order: Order, code: str, discount: int, at: datetime) -> None:
        await self._session.execute(
            insert(coupon_redemptions).values(
                order_id=order.id,
                shop_id=order.shop_id,
                code=code,
                buyer_email=order.buyer_email,
                discount=discount,
                redeemed_at=at,
            )
        )

    async def release(self, order_id: UUID, at: datetime) -> str | None:
        """Give back the use of the order's coupon, once: the conditional UPDATE of the redemption row takes
        its lock and re-checks `released_at` on the latest version, so of two transitions (or redeliveries)
        racing only one gives anything back. The coupon code given back, else None."""
        return await self._move_use(order_id, released_at=at)

    async def reclaim(self, order_id: UUID) -> str | None:
        """A late payment completed an order whose use was given back: count it again, once, even past the
        coupon's limit (the buyer paid the discounted price). The coupon code taken again, else None."""
        return await self._move_use(order_id, released_at=None)

    async def _move_use(self, order_id: UUID, released_at: datetime | None) -> str | None:
        """Release (`released_at` set) or reclaim (None) the order's redemption if it is not so already, and
        count its coupon's use down or up with it."""
        released = coupon_redemptions.c.released_at
        result = await self._session.execute(
            update(coupon_redemptions)
            .where(
                coupon_redemptions.c.order_id == order_id,
                released.is_(None) if released_at is not None else released.is_not(None),
            )
            .values(released_at=released_at)
            .returning(coupon_redemptions.c.shop_id, coupon_redemptions.c.code)
        )
        redeemed = result.first()
        if redeemed is None:
            return None
        used = coupons.c.used_count
        await self._session.execute(
            update(coupons)
            .where(_coupon_code(redeemed.shop_id, redeemed.code))
            .values(used_count=func.greatest(used - 1, 0) if released_at is not None else used + 1)
        )
        return str(redeemed.code)
