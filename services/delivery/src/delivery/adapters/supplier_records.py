"""A shop's supplier records: the repository of its suppliers, their routes to products and the claims
recorded against them (each deducted in the ledger). The suppliers' API clients are adapters/suppliers/; the
ledger's deposits, the thresholds and a supplier's pause are supplier_accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import supplier_claims, supplier_ledger, supplier_routes, suppliers
from delivery.domain.suppliers import Claim, Route, Supplier


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
