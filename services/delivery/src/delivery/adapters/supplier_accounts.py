"""What a shop holds its suppliers to: deposits and claim deductions (the ledger), claims and replacements
per supplier and per import batch, the shop's demotion and pause thresholds, and a supplier's pause."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from faka_common.contracts.aftersales import SupplierBatchSales
from sqlalchemy import Column, DateTime, Float, Integer, Table, and_, case, func, select, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import (
    metadata,
    supplier_claims,
    supplier_key_batches,
    supplier_ledger,
    suppliers,
)
from delivery.domain.suppliers import SupplierPolicy

supplier_policies = Table(
    "supplier_policies",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), primary_key=True),
    Column("window_minutes", Integer, nullable=False),
    Column("min_sample", Integer, nullable=False),
    Column("demote_claim_rate", Float, nullable=False),
    Column("pause_claim_rate", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


@dataclass(frozen=True)
class LedgerEntry:
    id: UUID
    shop_id: UUID
    supplier_id: UUID
    kind: str
    amount: int
    currency: str
    note: str
    recorded_by: str
    claim_id: UUID | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ClaimTotals:
    """Claims against a supplier (or one of its batches) in one currency."""

    batch_id: UUID | None
    currency: str
    claims: int
    replacements: int
    amount: int


class SupplierAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_entry(self, entry: LedgerEntry) -> None:
        await self._session.execute(
            insert(supplier_ledger).values(
                id=entry.id,
                shop_id=entry.shop_id,
                supplier_id=entry.supplier_id,
                kind=entry.kind,
                amount=entry.amount,
                currency=entry.currency,
                claim_id=entry.claim_id,
                note=entry.note,
                recorded_by=entry.recorded_by,
            )
        )

    async def entries(self, shop_id: UUID, supplier_id: UUID, limit: int) -> list[LedgerEntry]:
        """The latest entries first."""
        rows = await self._session.execute(
            select(supplier_ledger)
            .where(supplier_ledger.c.shop_id == shop_id, supplier_ledger.c.supplier_id == supplier_id)
            .order_by(supplier_ledger.c.created_at.desc(), supplier_ledger.c.id.desc())
            .limit(limit)
        )
        return [LedgerEntry(**{f: r._mapping[f] for f in LedgerEntry.__dataclass_fields__}) for r in rows]

    async def balances(self, shop_id: UUID, supplier_id: UUID) -> dict[str, int]:
        """The balance per currency: the sum of the supplier's entries."""
        rows = await self._session.execute(
            select(supplier_ledger.c.currency, func.sum(supplier_ledger.c.amount))
            .where(supplier_ledger.c.shop_id == shop_id, supplier_ledger.c.supplier_id == supplier_id)
            .group_by(supplier_ledger.c.currency)
        )
        return {currency: int(total) for currency, total in rows}

    async def ledger_totals(self) -> list[tuple[str, str, int, int]]:
        """Every shop's ledger entries together: (kind, currency, entries, sum of amounts), for metrics."""
        ledger = supplier_ledger.c
        rows = await self._session.execute(
            select(ledger.kind, ledger.currency, func.count(), func.sum(ledger.amount)).group_by(
                ledger.kind, ledger.currency
            )
        )
        return [(kind, currency, int(n), int(total or 0)) for kind, currency, n, total in rows]

    async def claim_totals(self, shop_id: UUID, supplier_id: UUID) -> list[ClaimTotals]:
        """Per import batch (None: claims not tied to a batch, e.g. a recharge) and currency."""
        c = supplier_claims
        rows = await self._session.execute(
            select(
                c.c.batch_id,
                c.c.currency,
                func.count(),
                func.sum(case((c.c.replacement_claim_id.is_not(None), 1), else_=0)),
                func.sum(c.c.amount),
            )
            .where(c.c.shop_id == shop_id, c.c.supplier_id == supplier_id)
            .group_by(c.c.batch_id, c.c.currency)
            .order_by(c.c.batch_id.nulls_first(), c.c.currency)
        )
        return [
            ClaimTotals(batch, currency, int(n), int(replaced or 0), int(amount or 0))
            for batch, currency, n, replaced, amount in rows
        ]

    async def policy(self, shop_id: UUID) -> SupplierPolicy:
        """The shop's thresholds, or the defaults."""
        query = select(supplier_policies).where(supplier_policies.c.shop_id == shop_id)
        row = (await self._session.execute(query)).first()
        if row is None:
            return SupplierPolicy()
        return SupplierPolicy(
            timedelta(minutes=row.window_minutes), row.min_sample, row.demote_claim_rate, row.pause_claim_rate
        )

    async def put_policy(self, shop_id: UUID, policy: SupplierPolicy) -> None:
        values = {
            "window_minutes": int(policy.window.total_seconds() // 60),
            "min_sample": policy.min_sample,
            "demote_claim_rate": policy.demote_claim_rate,
            "pause_claim_rate": policy.pause_claim_rate,
            "updated_at": func.now(),
        }
        await self._session.execute(
            insert(supplier_policies)
            .values(shop_id=shop_id, **values)
            .on_conflict_do_update(index_elements=[supplier_policies.c.shop_id], set_=values)
        )

    async def record_key_sales(
        self, shop_id: UUID, supplier_id: UUID, batches: Sequence[SupplierBatchSales], now: datetime
    ) -> None:
        """Keep the supplier's batches' delivered keys as inventory counted them; a figure never goes down
        (an older count arriving late changes nothing)."""
        if not batches:
            return
        kb = supplier_key_batches
        rows = [
            {"batch_id": b.batch_id, "shop_id": shop_id, "supplier_id": supplier_id,
             "imported_at": b.imported_at, "delivered": b.delivered, "updated_at": now}
            for b in sorted(batches, key=lambda b: b.batch_id)  # one lock order for concurrent writers
        ]  # fmt: skip
        stmt = insert(kb).values(rows)
        await self._session.execute(
            stmt.on_conflict_do_update(
                index_elements=[kb.c.batch_id],
                set_={"delivered": func.greatest(kb.c.delivered, stmt.excluded.delivered), "updated_at": now},
                where=kb.c.shop_id == shop_id,
            )
        )

    async def pause(self, shop_id: UUID, supplier_id: UUID, reason: str, now: datetime) -> bool:
        """Pause the supplier; False when it is paused already (so it is announced once)."""
        result = await self._session.execute(
            update(suppliers)
            .where(
                and_(suppliers.c.shop_id == shop_id, suppliers.c.id == supplier_id),
                suppliers.c.paused_at.is_(None),
            )
            .values(paused_at=now, paused_reason=reason)
            .returning(suppliers.c.id)
        )
        return result.first() is not None

    async def resume(self, shop_id: UUID, supplier_id: UUID, now: datetime) -> bool | None:
        """Route to the supplier again, its window starting now; whether it was paused, None for no such
        supplier of the shop."""
        before = (
            select(suppliers.c.id, suppliers.c.paused_at)
            .where(suppliers.c.shop_id == shop_id, suppliers.c.id == supplier_id)
            .with_for_update()
            .cte("before")
        )
        result = await self._session.execute(
            update(suppliers)
            .where(suppliers.c.id == before.c.id)
            .values(paused_at=None, paused_reason=None, resumed_at=now)
            .returning(before.c.paused_at.is_not(None))
        )
        row = result.first()
        return None if row is None else bool(row[0])
