"""The key pools' repositories: card keys and their import batches, the available queue claims are taken
from (a card-key reservation in one statement, sales, releases, expiry), the supplier holds that withdraw a
paused supplier's keys, and the reveals that read a paid order's keys with their audit rows."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from faka_common.crypto import Sealed
from faka_common.db.statements import Compiled
from faka_common.db.uow import fetch_one, fetch_records, fetch_rows
from sqlalchemy import Select, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.catalog import product_of
from inventory.adapters.sealing import STAGING, STAGING_COLUMNS, STAGING_TABLE
from inventory.adapters.tables import INFINITY, available_keys, card_keys, key_batches, supplier_holds
from inventory.domain.keys import key_position
from inventory.domain.model import PoolKey, Product, StoredKey
from inventory.domain.reservations import ReservationStatus
from inventory.domain.stock import IssueOrder, StockChange

# One block of an import, from the staging table into the pool: new fingerprints only (ON CONFLICT also
# drops a repeat within the block), FIFO position = batch seq << 32 | line. $1 product, $2 batch id,
# $3 batch seq, $4 expires_at or NULL, $5 the product's shop, $6 whether the batch's supplier is paused
# (its keys go in `withdrawn`, outside the queue).
LOAD_STAGED = f"""
    WITH inserted AS (
        INSERT INTO card_keys (id, product_id, shop_id, batch_id, fingerprint, key_id, sealed, status,
                               position, rank, expires_at)
        SELECT s.id, $1::uuid, $5::uuid, $2::uuid, s.fingerprint, s.key_id, s.sealed,
               CASE WHEN $6::boolean THEN 'withdrawn' ELSE 'available' END,
               ($3::bigint << 32) | s.line, (random() * 9e18)::bigint,
               coalesce($4::timestamptz, 'infinity'::timestamptz)
        FROM {STAGING} s
        ON CONFLICT (product_id, fingerprint) DO NOTHING
        RETURNING id, product_id, shop_id, position, rank, expires_at
    ), queued AS (
        INSERT INTO available_keys (key_id, product_id, shop_id, seq, rank, expires_at)
        SELECT id, product_id, shop_id, position, rank, expires_at FROM inserted WHERE NOT $6::boolean
    )
    SELECT (SELECT count(*) FROM {STAGING}), (SELECT count(*) FROM inserted)
"""  # noqa: S608 (STAGING is a constant)

# A supplier's pause lands: its batches' keys still in the queue (of the shop $1, supplier $2) leave it and
# become `withdrawn`; a key a reservation holds right now is waited for and then gone from the queue, so it
# is skipped. Reserved and sold keys are not touched. The stock change per product goes in with it.
# Returns (product, how many).
WITHDRAW_SUPPLIER_KEYS = """
WITH taken AS (
    DELETE FROM available_keys a USING card_keys c, key_batches b
    WHERE a.key_id = c.id AND c.batch_id = b.id AND b.shop_id = $1::uuid AND b.supplier_id = $2::uuid
    RETURNING a.key_id
), marked AS (
    UPDATE card_keys SET status = 'withdrawn'
    WHERE id IN (SELECT key_id FROM taken) AND status = 'available'
    RETURNING product_id
), counted AS (
    SELECT product_id, count(*) AS n FROM marked GROUP BY product_id
), changed AS (
    INSERT INTO stock_changes (product_id, shop_id, available) SELECT product_id, $1::uuid, -n FROM counted
)
SELECT product_id, n FROM counted
"""

# The supplier is resumed: its batches' withdrawn keys go back into the queue at their old place in issue
# order (an expired one is then expired by the key expiry sweep), with the stock change per product.
OFFER_SUPPLIER_KEYS = """
WITH back AS (
    UPDATE card_keys c SET status = 'available' FROM key_batches b
    WHERE c.batch_id = b.id AND b.shop_id = $1::uuid AND b.supplier_id = $2::uuid AND c.status = 'withdrawn'
    RETURNING c.id, c.product_id, c.shop_id, c.position, c.rank, c.expires_at
), queued AS (
    INSERT INTO available_keys (key_id, product_id, shop_id, seq, rank, expires_at)
    SELECT id, product_id, shop_id, position, rank, expires_at FROM back
), counted AS (
    SELECT product_id, count(*) AS n FROM back GROUP BY product_id
), changed AS (
    INSERT INTO stock_changes (product_id, shop_id, available) SELECT product_id, $1::uuid, n FROM counted
)
SELECT product_id, n FROM counted
"""


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def claim_statement(product_id: UUID, quantity: int, order: IssueOrder = IssueOrder.FIFO) -> Select[UUID]:
    """The claim: the first `quantity` unexpired available keys of a product in its issue order that no
    other transaction holds. It reads only available_keys through the index of that order (FIFO:
    (product_id, expires_at, seq); random: (product_id, rank)), so sold keys are never walked past."""
    query = select(available_keys.c.key_id).where(
        available_keys.c.product_id == product_id, available_keys.c.expires_at > func.now()
    )
    if order is IssueOrder.RANDOM:
        query = query.order_by(available_keys.c.rank)
    else:
        query = query.order_by(available_keys.c.expires_at, available_keys.c.seq)
    return query.limit(quantity).with_for_update(skip_locked=True)


# A whole card-key reservation in one statement (one round trip): read the product's delivery type, issue
# order and shop and the order's prior answer (a reservation, a refusal); when the product holds card keys,
# belongs to the order's shop ($8) and the order has no answer yet, claim `quantity` keys in issue order
# (FOR UPDATE SKIP LOCKED, through the same indexes as `claim_statement`: the gate is a one-time filter, so
# the other order's scan never runs); only when all `quantity` were claimed, insert the reservation (ON
# CONFLICT DO NOTHING: the idempotency guard), move the keys out of the queue, mark them reserved for the
# order and append the stock change. All of it or none of it: every write hangs off the reservation
# insert. Run it under `lock_order`, so the order's prior answer read here is the latest (the lock is taken
# before this statement's snapshot).
RESERVE_KEYS = """
WITH product AS MATERIALIZED (
    SELECT delivery_type, issue_order, shop_id FROM products WHERE id = $2::uuid
), prior AS MATERIALIZED (
    SELECT (SELECT status FROM reservations WHERE order_id = $1::uuid) AS reservation,
           EXISTS (SELECT FROM stock_refusals WHERE order_id = $1::uuid) AS refused
), gate AS MATERIALIZED (
    SELECT p.delivery_type = 'card_key' AND p.shop_id = $8::uuid AND o.reservation IS NULL
           AND NOT o.refused AND $3::int >= 1 AS open,
           p.issue_order
    FROM product p, prior o
), fifo AS MATERIALIZED (
    SELECT key_id FROM available_keys
    WHERE product_id = $2::uuid AND expires_at > now()
      AND (SELECT open AND issue_order <> 'random' FROM gate)
    ORDER BY expires_at, seq LIMIT $3::int FOR UPDATE SKIP LOCKED
), shuffled AS MATERIALIZED (
    SELECT key_id FROM available_keys
    WHERE product_id = $2::uuid AND (SELECT open AND issue_order = 'random' FROM gate)
      AND expires_at > now()
    ORDER BY rank LIMIT $3::int FOR UPDATE SKIP LOCKED
), claimed AS MATERIALIZED (
    SELECT key_id FROM fifo UNION ALL SELECT key_id FROM shuffled
), reserved AS (
    INSERT INTO reservations (order_id, product_id, shop_id, quantity, status, expires_at)
    SELECT $1::uuid, $2::uuid, $8::uuid, $3::int, 'active', $4::timestamptz
    WHERE (SELECT count(*) FROM claimed) = $3::int AND (SELECT open FROM gate)
    ON CONFLICT DO NOTHING
    RETURNING order_id
), taken AS (
    DELETE FROM available_keys
    WHERE key_id IN (SELECT key_id FROM claimed) AND EXISTS (SELECT FROM reserved)
    RETURNING key_id
), marked AS (
    UPDATE card_keys SET status = 'reserved', order_id = $1::uuid
    WHERE id IN (SELECT key_id FROM taken) AND status = 'available'
    RETURNING id
), counted AS (
    INSERT INTO stock_changes (product_id, shop_id, available, reserved, sold)
    SELECT $2::uuid, $8::uuid, $5::bigint, $6::bigint, $7::bigint FROM reserved
)
SELECT (SELECT delivery_type FROM product), (SELECT shop_id FROM product), o.reservation, o.refused,
       (SELECT count(*) FROM claimed), EXISTS (SELECT FROM reserved), (SELECT count(*) FROM marked)
FROM prior o
"""


@dataclass(frozen=True)
class ReserveAttempt:
    """What `KeyRepository.reserve` found and did. `delivery_type` and `shop_id` (the product's) are None
    for an unknown product; `existing` / `refused` are the order's prior answer (nothing was done then);
    `claimed` is how many keys could be claimed (at most the quantity; none for a product of another
    shop); `reserved` whether the reservation was made."""

    delivery_type: str | None
    shop_id: UUID | None
    existing: ReservationStatus | None
    refused: bool
    claimed: int
    reserved: bool


@dataclass(frozen=True)
class Batch:
    """An import batch of one product; its keys carry the product's shop."""

    id: UUID
    seq: int
    product_id: UUID
    shop_id: UUID
    withheld: bool = False  # its supplier is paused: its keys go in withdrawn


@dataclass(frozen=True)
class Released:
    """A released reservation's keys: back on sale, or withdrawn (their supplier was paused meanwhile)."""

    offered: list[UUID]
    withheld: list[UUID]


class KeyRepository:
    """Card keys and the available_keys queue claims are taken from."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def new_batch(
        self,
        batch_id: UUID,
        product: Product,
        cost_price: int | None,
        expires_at: datetime | None,
        source: str,
        supplier_id: UUID | None = None,
    ) -> Batch:
        result = await self._session.execute(
            insert(key_batches)
            .values(
                id=batch_id,
                product_id=product.id,
                shop_id=product.shop_id,
                cost_price=cost_price,
                expires_at=expires_at,
                source=source,
                supplier_id=supplier_id,
            )
            .returning(key_batches.c.seq)
        )
        withheld = supplier_id is not None and await self._held(product.shop_id, supplier_id)
        return Batch(batch_id, int(result.scalar_one()), product.id, product.shop_id, withheld)

    async def _held(self, shop_id: UUID, supplier_id: UUID) -> bool:
        """Whether the shop's supplier is paused, its row share-locked until commit: a pause landing
        meanwhile waits for this import, then withdraws its keys; one that landed first is seen."""
        await self._session.execute(
            insert(supplier_holds).values(shop_id=shop_id, supplier_id=supplier_id).on_conflict_do_nothing()
        )
        row = await self._session.execute(
            select(supplier_holds.c.paused)
            .where(supplier_holds.c.shop_id == shop_id, supplier_holds.c.supplier_id == supplier_id)
            .with_for_update(read=True)
        )
        return bool(row.scalar_one())

    async def hold(self, shop_id: UUID, supplier_id: UUID, paused: bool, at: datetime) -> bool:
        """Record delivery's word that the shop's supplier is paused or not, as of `at`; False when a word
        as recent was recorded already (a redelivery, or an older word arriving late). The row stays
        locked until commit, so imports and releases of its keys wait for the keys to be moved."""
        stmt = insert(supplier_holds).values(
            shop_id=shop_id, supplier_id=supplier_id, paused=paused, changed_at=at
        )
        result = await self._session.execute(
            stmt.on_conflict_do_update(
                index_elements=[supplier_holds.c.shop_id, supplier_holds.c.supplier_id],
                set_={"paused": stmt.excluded.paused, "changed_at": stmt.excluded.changed_at},
                where=supplier_holds.c.changed_at < stmt.excluded.changed_at,
            ).returning(supplier_holds.c.supplier_id)
        )
        return result.first() is not None

    async def withdraw_supplier_keys(self, shop_id: UUID, supplier_id: UUID) -> dict[UUID, int]:
        """The shop's supplier's keys still on sale are withdrawn (see WITHDRAW_SUPPLIER_KEYS); how many
        per product."""
        rows = await fetch_rows(self._session, WITHDRAW_SUPPLIER_KEYS, shop_id, supplier_id)
        return {product_id: int(n) for product_id, n in rows}

    async def offer_supplier_keys(self, shop_id: UUID, supplier_id: UUID) -> dict[UUID, int]:
        """The shop's supplier's withdrawn keys are on sale again; how many per product."""
        rows = await fetch_rows(self._session, OFFER_SUPPLIER_KEYS, shop_id, supplier_id)
        return {product_id: int(n) for product_id, n in rows}

    async def bulk_load(
        self,
        batch: Batch,
        expires_at: datetime | None,
        blocks: AsyncIterable[bytes],
    ) -> tuple[int, int]:
        """Load an upload block by block: COPY each block's staged keys (binary COPY data for
        STAGING_COLUMNS, see adapters.sealing) into a temporary table, then move the ones whose
        fingerprint the product does not hold yet into card_keys and the available queue (a repeat
        within the upload, in this block or an earlier one, counts as a duplicate too). All in the
        caller's transaction, so a failure keeps nothing. Returns (staged, inserted)."""
        connection = await self._session.connection()
        await connection.execute(text("SET LOCAL work_mem = '128MB'"))
        await connection.execute(text(STAGING_TABLE))
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        staged = inserted = 0
        async for block in blocks:
            await driver.copy_to_table(STAGING, source=_once(block), columns=STAGING_COLUMNS, format="binary")
            block_staged, block_inserted = await driver.fetchrow(
                LOAD_STAGED, batch.product_id, batch.id, batch.seq, expires_at, batch.shop_id, batch.withheld
            )
            staged += block_staged
            inserted += block_inserted
            await driver.execute(f"TRUNCATE {STAGING}")
        await driver.execute(f"DROP TABLE {STAGING}")
        return staged, inserted

    async def record_batch(
        self,
        batch_id: UUID,
        imported: int,
        duplicates: int,
        invalid: int,
        invalid_lines: list[dict[str, Any]],
    ) -> None:
        await self._session.execute(
            update(key_batches)
            .where(key_batches.c.id == batch_id)
            .values(imported=imported, duplicates=duplicates, invalid=invalid, invalid_lines=invalid_lines)
        )

    async def claim(self, product_id: UUID, quantity: int, order: IssueOrder = IssueOrder.FIFO) -> list[UUID]:
        """Lock up to `quantity` available keys (skipping ones other transactions hold); nothing changes
        until `take` is called, and unneeded locks go away with the transaction."""
        rows = await self._session.execute(claim_statement(product_id, quantity, order))
        return list(rows.scalars())

    async def reserve(
        self,
        order_id: UUID,
        shop_id: UUID,
        product_id: UUID,
        quantity: int,
        expires_at: datetime | None,
        change: StockChange,
    ) -> ReserveAttempt:
        """Reserve `quantity` card keys for an order of shop `shop_id` in one round trip (see
        RESERVE_KEYS): all or none, only if the order has no reservation or refusal yet and the product
        holds card keys and belongs to that shop; `change` is appended to the stock changes when the
        reservation is made."""
        delivery_type, product_shop, existing, refused, claimed, reserved, marked = await fetch_one(
            self._session,
            RESERVE_KEYS,
            order_id, product_id, quantity, expires_at, change.available, change.reserved, change.sold,
            shop_id,
        )  # fmt: skip
        if reserved and marked != quantity:
            raise RuntimeError(
                f"order {order_id}: claimed {quantity} queued keys but {marked} were available"
            )
        return ReserveAttempt(
            delivery_type,
            product_shop,
            ReservationStatus(existing) if existing is not None else None,
            bool(refused),
            int(claimed),
            bool(reserved),
        )

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
        return sorted(row["id"] for row in await _SELL.rows(self._session, {"order_id": order_id}))

    async def sell_reserved_many(self, order_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
        """`sell_reserved` for many orders in one statement: each order's sold key ids in id order."""
        sold: dict[UUID, list[UUID]] = {order_id: [] for order_id in order_ids}
        for key_id, order_id in await fetch_rows(self._session, _SELL_MANY, list(order_ids)):
            sold[order_id].append(key_id)
        return {order_id: sorted(keys) for order_id, keys in sold.items()}

    async def release(self, order_id: UUID) -> Released:
        """The order's reserved keys go back to the available queue, at their old place in issue order;
        those of a supplier paused meanwhile are withdrawn instead (its row share-locked, so a pause
        landing now waits and then finds these keys in the queue, or was seen)."""
        rows = await self._session.execute(_ORDER_KEYS_SUPPLIERS, {"order_id": order_id})
        keys = rows.all()
        if not keys:
            return Released([], [])
        suppliers = sorted({(shop, supplier) for _, shop, supplier in keys if supplier is not None})
        paused: set[UUID] = set()
        if suppliers:
            held = await self._session.execute(
                select(supplier_holds.c.supplier_id, supplier_holds.c.paused)
                .where(
                    supplier_holds.c.shop_id == suppliers[0][0],
                    supplier_holds.c.supplier_id.in_([supplier for _, supplier in suppliers]),
                )
                .order_by(supplier_holds.c.supplier_id)
                .with_for_update(read=True)
            )
            paused = {supplier for supplier, is_paused in held if is_paused}
        released = Released(
            [key for key, _, supplier in keys if supplier not in paused],
            [key for key, _, supplier in keys if supplier in paused],
        )
        for ids, status in ((released.offered, "available"), (released.withheld, "withdrawn")):
            if ids:
                await self._session.execute(
                    update(card_keys).where(card_keys.c.id.in_(ids)).values(status=status, order_id=None)
                )
        if released.offered:
            await self._queue(released.offered)
        return released

    async def _queue(self, ids: Sequence[UUID]) -> None:
        await self._session.execute(
            insert(available_keys).from_select(
                ["key_id", "product_id", "shop_id", "seq", "rank", "expires_at"],
                select(
                    card_keys.c.id,
                    card_keys.c.product_id,
                    card_keys.c.shop_id,
                    card_keys.c.position,
                    card_keys.c.rank,
                    card_keys.c.expires_at,
                ).where(card_keys.c.id.in_(ids)),
            )
        )

    async def withdraw(self, product_id: UUID, key_id: UUID, status: str) -> bool:
        """Take one available key out of the queue for good (`void`); False when it is not available
        (reserved, sold, voided, or claimed by a transaction right now)."""
        taken = await self._session.execute(
            delete(available_keys)
            .where(available_keys.c.key_id == key_id, available_keys.c.product_id == product_id)
            .returning(available_keys.c.key_id)
        )
        if taken.first() is None:
            return False
        await self._session.execute(
            update(card_keys).where(card_keys.c.id == key_id).values(status=status, voided_at=func.now())
        )
        return True

    async def add_one(self, key_id: UUID, batch: Batch, fingerprint: bytes, sealed: Sealed) -> bool:
        """One key of the batch's product (a replacement); False when the product already holds it."""
        inserted = await self._session.execute(
            insert(card_keys)
            .values(
                id=key_id,
                product_id=batch.product_id,
                shop_id=batch.shop_id,
                batch_id=batch.id,
                fingerprint=fingerprint,
                key_id=sealed.key_id,
                sealed=sealed.blob,
                status="available",
                position=key_position(batch.seq, 1),
            )
            .on_conflict_do_nothing(index_elements=["product_id", "fingerprint"])
            .returning(card_keys.c.id)
        )
        if inserted.first() is None:
            return False
        await self._queue([key_id])
        return True

    async def expire_due(self, limit: int) -> list[tuple[UUID, UUID, int]]:
        """Available keys past their batch's expiry leave the queue (status expired); (shop, product, how
        many) per product."""
        rows = await self._session.execute(
            text(
                """
                WITH due AS (
                    DELETE FROM available_keys WHERE key_id IN (
                        SELECT key_id FROM available_keys
                        WHERE expires_at < 'infinity'::timestamptz AND expires_at <= now()
                        ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED
                    ) RETURNING key_id, product_id
                ), marked AS (
                    UPDATE card_keys c SET status = 'expired' FROM due
                    WHERE c.id = due.key_id AND c.status = 'available'
                    RETURNING c.shop_id, c.product_id
                )
                SELECT shop_id, product_id, count(*) FROM marked GROUP BY shop_id, product_id
                """
            ),
            {"limit": limit},
        )
        return [(shop_id, product_id, int(n)) for shop_id, product_id, n in rows]

    def unsold(self, product_id: UUID, order: IssueOrder) -> Select[tuple[UUID, UUID, str, bytes]]:
        """The available keys of a product in issue order (for export)."""
        query = (
            select(card_keys.c.id, card_keys.c.product_id, card_keys.c.key_id, card_keys.c.sealed)
            .join(available_keys, available_keys.c.key_id == card_keys.c.id)
            .where(available_keys.c.product_id == product_id)
        )
        if order is IssueOrder.RANDOM:
            return query.order_by(available_keys.c.rank)
        return query.order_by(available_keys.c.expires_at, available_keys.c.seq)

    async def listed(
        self, product_id: UUID, status: str | None, after: UUID | None, limit: int
    ) -> list[PoolKey]:
        """A page of the product's keys in id order (after `after`), of one status or all; no sealed text."""
        query = (
            select(
                card_keys.c.id,
                card_keys.c.fingerprint,
                card_keys.c.status,
                card_keys.c.batch_id,
                card_keys.c.created_at,
                func.nullif(card_keys.c.expires_at, INFINITY).label("expires_at"),
                card_keys.c.voided_at,
                card_keys.c.order_id,
            )
            .where(card_keys.c.product_id == product_id)
            .order_by(card_keys.c.id)
            .limit(limit)
        )
        if status is not None:
            query = query.where(card_keys.c.status == status)
        if after is not None:
            query = query.where(card_keys.c.id > after)
        rows = await self._session.execute(query)
        return [
            PoolKey(r.id, bytes(r.fingerprint), r.status, r.batch_id, r.created_at, r.expires_at,
                    r.voided_at, r.order_id)
            for r in rows
        ]  # fmt: skip

    async def stream_unsold(self, product_id: UUID, order: IssueOrder) -> AsyncIterator[StoredKey]:
        result = await self._session.stream(self.unsold(product_id, order).execution_options(yield_per=2000))
        async for row in result:
            yield StoredKey(row.id, row.product_id, Sealed(row.key_id, bytes(row.sealed)))

    async def take_many(self, assigned: Sequence[tuple[UUID, UUID]], status: str) -> int:
        """Move claimed keys (key id, order id) out of the available queue into `status` for their orders,
        in two statements for any number of orders; returns how many keys moved."""
        key_ids = [key_id for key_id, _ in assigned]
        await fetch_one(
            self._session,
            "WITH gone AS (DELETE FROM available_keys WHERE key_id = ANY($1::uuid[]) RETURNING 1) "
            "SELECT count(*) FROM gone",
            key_ids,
        )
        (moved,) = await fetch_one(
            self._session,
            "WITH moved AS (UPDATE card_keys SET status = $3::text, order_id = m.order_id "
            "FROM unnest($1::uuid[], $2::uuid[]) AS m(key_id, order_id) "
            "WHERE card_keys.id = m.key_id AND card_keys.status = 'available' RETURNING 1) "
            "SELECT count(*) FROM moved",
            key_ids,
            [order_id for _, order_id in assigned],
            status,
        )
        return int(moved)

    async def _lock(self, ids: Sequence[UUID]) -> None:
        """Row locks on card keys, always taken in key-id order so two transactions cannot deadlock."""
        await self._session.execute(
            select(card_keys.c.id).where(card_keys.c.id.in_(ids)).order_by(card_keys.c.id).with_for_update()
        )


#: The sale of every paid order locks its reserved keys in id order (as every other locker of card keys
#: does, so two transactions cannot deadlock) and marks them sold, in one statement compiled once.
_SELL = Compiled(
    update(card_keys)
    .where(
        card_keys.c.id.in_(
            select(card_keys.c.id)
            .where(card_keys.c.order_id == bindparam("order_id"), card_keys.c.status == "reserved")
            .order_by(card_keys.c.id)
            .with_for_update()
            .scalar_subquery()
        )
    )
    .values(status="sold")
    .returning(card_keys.c.id)
)
#: A release reads its keys locked with their batch's shop and supplier.
_ORDER_KEYS_SUPPLIERS = (
    select(card_keys.c.id, key_batches.c.shop_id, key_batches.c.supplier_id)
    .join(key_batches, key_batches.c.id == card_keys.c.batch_id)
    .where(card_keys.c.order_id == bindparam("order_id"), card_keys.c.status == "reserved")
    .order_by(card_keys.c.id)
    .with_for_update(of=card_keys)
)


#: The keys of a run of paid orders sold in one statement (locked in id order, as `_SELL` locks them).
_SELL_MANY = (
    "UPDATE card_keys SET status = 'sold' WHERE id IN (SELECT id FROM card_keys "
    "WHERE order_id = ANY($1::uuid[]) AND status = 'reserved' ORDER BY id FOR UPDATE) RETURNING id, order_id"
)


#: Reveals in one statement (run on its own outside a transaction by the reveal routes), for the asked
#: (order, shop) pairs: each shop's allocated reservation of its order, the product, the order's sold keys in
#: id order, and one audit row per revealed key (per unit of a loop key, with no key id) written by the same
#: statement, so that no key leaves without its audit row. One row per sold key, the order and the product's
#: columns on each; one row with no key for a loop key; none for an order its named shop does not own
#: allocated. A pair asked twice is revealed (and audited) once.
_REVEAL = (
    "WITH asked AS (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[]) AS asked(order_id, shop_id)),"
    " reservation AS (SELECT reservations.order_id, reservations.product_id, reservations.quantity"
    " FROM reservations JOIN asked ON reservations.order_id = asked.order_id"
    " AND reservations.shop_id = asked.shop_id WHERE reservations.status = 'allocated'),"
    " product AS (SELECT reservation.order_id AS revealed_order, reservation.quantity AS reserved_quantity,"
    " products.* FROM products JOIN reservation ON products.id = reservation.product_id),"
    " sold AS (SELECT card_keys.id, card_keys.order_id, card_keys.product_id, card_keys.key_id,"
    " card_keys.sealed FROM card_keys JOIN product ON card_keys.order_id = product.revealed_order"
    " WHERE card_keys.status = 'sold' AND product.delivery_type <> 'loop_key'),"
    " audit AS (INSERT INTO key_reveals (order_id, product_id, shop_id, reader, key_id)"
    " SELECT product.revealed_order, product.id, product.shop_id, $3::text, unit.key_id FROM product,"
    " LATERAL (SELECT sold.id AS key_id FROM sold WHERE sold.order_id = product.revealed_order"
    " UNION ALL SELECT NULL::uuid FROM generate_series(1, product.reserved_quantity)"
    " WHERE product.delivery_type = 'loop_key' AND product.loop_key_sealed IS NOT NULL) AS unit"
    " ORDER BY product.revealed_order, unit.key_id)"
    " SELECT product.*, sold.id AS sold_id, sold.product_id AS sold_product_id, sold.key_id AS sold_key_id,"
    " sold.sealed AS sold_sealed FROM product LEFT JOIN sold ON sold.order_id = product.revealed_order"
    " ORDER BY product.revealed_order, sold.id"
)


@dataclass(frozen=True)
class Reveal:
    """What a reveal read (and audited): the order, its product, the reserved quantity and the sold keys in
    id order."""

    order_id: UUID
    product: Product
    quantity: int
    sold: list[StoredKey]


class RevealRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reveal(self, shop_id: UUID, order_id: UUID, reader: str) -> Reveal | None:
        """The shop's order's allocated reservation, product and sold keys, each revealed key audited with
        `reader` in the same statement; None when the shop's order owns no allocated reservation."""
        found = await self.reveal_many([(order_id, shop_id)], reader)
        return found[0] if found else None

    async def reveal_many(self, asked: Sequence[tuple[UUID, UUID]], reader: str) -> list[Reveal]:
        """`reveal` of the (order, shop) pairs in one statement, in order-id order: one `Reveal` for each
        order its named shop owns allocated, none for the others."""
        rows = await fetch_records(
            self._session, _REVEAL, [order for order, _ in asked], [shop for _, shop in asked], reader
        )
        reveals: list[Reveal] = []
        for order_id, group in itertools.groupby(rows, key=lambda row: row["revealed_order"]):
            order_rows = list(group)
            sold = [
                StoredKey(
                    row["sold_id"],
                    row["sold_product_id"],
                    Sealed(row["sold_key_id"], bytes(row["sold_sealed"])),
                )
                for row in order_rows
                if row["sold_id"] is not None
            ]
            first = order_rows[0]
            reveals.append(Reveal(order_id, product_of(first), first["reserved_quantity"], sold))
        return reveals
