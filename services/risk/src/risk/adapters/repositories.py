"""Risk repositories: decisions, rule-set versions, reviews and paid amounts, each query scoped by shop
where the thing is a shop's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from faka_common.contracts.risk_rules import RiskRules
from faka_common.db.uow import execute, fetch_rows
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from risk.adapters.orm import decisions, paid_amounts, reviews, rule_sets
from risk.domain.reviews import Review, ReviewStatus
from risk.domain.rules import Decision, OrderFacts


@dataclass(frozen=True)
class Buyer:
    """Whom a decided order was counted against while unpaid."""

    shop_id: UUID
    email: str
    ip: str | None


#: A batch's decisions in one statement on the session's asyncpg connection, their rows one JSON document
#: (reasons and fired are arrays of different lengths, which unnest cannot take), none of SQLAlchemy's
#: per-row parameter handling. Rows go in in the batch's order: an order twice keeps its first decision.
ADD_DECISIONS = """
INSERT INTO risk_decisions (order_id, shop_id, verdict, reasons, fired, rules_version, platform_rules_version,
                            buyer_email, buyer_ip)
SELECT d.order_id, d.shop_id, d.verdict, ARRAY(SELECT jsonb_array_elements_text(d.reasons)),
       ARRAY(SELECT jsonb_array_elements_text(d.fired)), d.rules_version, d.platform_rules_version,
       d.buyer_email, d.buyer_ip
FROM jsonb_to_recordset($1::text::jsonb) AS d(order_id uuid, shop_id uuid, verdict text, reasons jsonb,
     fired jsonb, rules_version int, platform_rules_version int, buyer_email text, buyer_ip text)
ON CONFLICT DO NOTHING
RETURNING order_id
"""


#: Paid orders' amounts in one statement, one array a column (a batch of OrderPaid).
ADD_PAID_AMOUNTS = """
INSERT INTO risk_paid_amounts (order_id, shop_id, product_id, amount, paid_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::timestamptz[])
ON CONFLICT DO NOTHING
"""

#: The buyers a batch of orders was counted against while unpaid (orders without a decision: none).
BUYERS = """
SELECT order_id, shop_id, buyer_email, buyer_ip FROM risk_decisions
WHERE order_id = ANY($1::uuid[]) AND buyer_email IS NOT NULL
"""


class DecisionRepository:
    """Decisions by order, each scoped by the shop: another shop's order has none."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, facts: OrderFacts, decision: Decision) -> bool:
        """Record the decision on the shop's order; False when the order already has one."""
        return facts.order_id in await self.add_many([(facts, decision)])

    async def add_many(self, decided: Sequence[tuple[OrderFacts, Decision]]) -> set[UUID]:
        """Record decisions on the shops' orders in one statement; the orders that had none before (an
        order decided already, or twice in `decided`, keeps its first decision)."""
        if not decided:
            return set()
        rows = [
            {
                "shop_id": str(facts.shop_id),
                "order_id": str(facts.order_id),
                "verdict": decision.verdict,
                "reasons": decision.reasons,
                "fired": decision.fired,
                "rules_version": decision.rules_version,
                "platform_rules_version": decision.platform_rules_version,
                "buyer_email": facts.buyer_email,
                "buyer_ip": facts.buyer_ip,
            }
            for facts, decision in decided
        ]
        return {row[0] for row in await fetch_rows(self._session, ADD_DECISIONS, json.dumps(rows))}

    async def get(self, shop_id: UUID, order_id: UUID) -> Decision | None:
        row = (
            await self._session.execute(
                select(decisions).where(decisions.c.shop_id == shop_id, decisions.c.order_id == order_id)
            )
        ).first()
        if row is None:
            return None
        return Decision(
            row.verdict, list(row.reasons), list(row.fired), row.rules_version, row.platform_rules_version
        )

    async def paid_before(self, shop_id: UUID, email: str) -> bool:
        """Whether the e-mail has a paid order in the shop (one risk decided on and saw paid)."""
        paid = (
            select(decisions.c.order_id)
            .join(paid_amounts, paid_amounts.c.order_id == decisions.c.order_id)
            .where(
                decisions.c.shop_id == shop_id, func.lower(decisions.c.buyer_email) == email.strip().lower()
            )
            .limit(1)
        )
        return (await self._session.execute(paid)).first() is not None

    async def buyers(self, order_ids: Sequence[UUID]) -> dict[UUID, Buyer]:
        """Whom each of the orders was counted against while unpaid, in one statement (an order without a
        decision or a buyer's e-mail is left out)."""
        rows = await fetch_rows(self._session, BUYERS, list(order_ids))
        return {order_id: Buyer(shop_id, email, ip) for order_id, shop_id, email, ip in rows}


@dataclass(frozen=True)
class StoredRules:
    version: int
    rules: RiskRules
    changed_by: str | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class RuleSetChange:
    """One saved version of a rule set, as its audit shows it."""

    version: int
    changed_by: str
    changed_at: datetime
    rule_types: list[str]


class RuleSetRepository:
    """Every version of every scope's rule set; the current one is the highest version."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def heads(self, scopes: list[UUID]) -> dict[UUID, int]:
        """The current version of each scope that has one (an index-only read on the primary key)."""
        rows = await self._session.execute(
            select(rule_sets.c.scope, func.max(rule_sets.c.version))
            .where(rule_sets.c.scope.in_(scopes))
            .group_by(rule_sets.c.scope)
        )
        return {scope: version for scope, version in rows}

    async def current(self, scope: UUID) -> StoredRules:
        row = (
            await self._session.execute(
                select(rule_sets)
                .where(rule_sets.c.scope == scope)
                .order_by(rule_sets.c.version.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return StoredRules(0, RiskRules())
        return StoredRules(
            row.version, RiskRules.model_validate(row.document), row.changed_by, row.changed_at
        )

    async def history(self, scope: UUID, limit: int) -> list[RuleSetChange]:
        """The scope's versions, newest first: who saved each, when, and what rules it held."""
        rows = await self._session.execute(
            select(rule_sets.c.version, rule_sets.c.changed_by, rule_sets.c.changed_at, rule_sets.c.document)
            .where(rule_sets.c.scope == scope)
            .order_by(rule_sets.c.version.desc())
            .limit(limit)
        )
        return [
            RuleSetChange(
                row.version,
                row.changed_by,
                row.changed_at,
                [str(rule.get("type")) for rule in row.document.get("rules", [])],
            )
            for row in rows
        ]

    async def every_current(self) -> dict[UUID, StoredRules]:
        """Each scope's current rule set."""
        rows = await self._session.execute(
            select(rule_sets.c.scope, rule_sets.c.version, rule_sets.c.document)
            .distinct(rule_sets.c.scope)
            .order_by(rule_sets.c.scope, rule_sets.c.version.desc())
        )
        return {row.scope: StoredRules(row.version, RiskRules.model_validate(row.document)) for row in rows}

    async def save(self, scope: UUID, rules: RiskRules, changed_by: str) -> int:
        """Store `rules` as the scope's next version; changes to one scope are serialised."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('risk_rule_sets:' || :scope))"), {"scope": str(scope)}
        )
        latest = await self._session.scalar(
            select(func.coalesce(func.max(rule_sets.c.version), 0)).where(rule_sets.c.scope == scope)
        )
        version = int(latest or 0) + 1
        await self._session.execute(
            insert(rule_sets).values(
                scope=scope,
                version=version,
                document=rules.model_dump(mode="json", include=set(RiskRules.model_fields)),
                changed_by=changed_by,
            )
        )
        return version


def _review(row: Any) -> Review:
    return Review(
        order_id=row.order_id,
        shop_id=row.shop_id,
        order_no=row.order_no,
        product_title=row.product_title,
        amount=row.amount,
        currency=row.currency,
        buyer_email=row.buyer_email,
        reasons=list(row.reasons),
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution_reason=row.resolution_reason,
        fired=list(row.fired),
        trailing_mean=row.trailing_mean,
        device_id=row.device_id,
    )


class ReviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, review: Review) -> None:
        values = {k: v for k, v in review.__dict__.items()}
        await self._session.execute(insert(reviews).values(**values).on_conflict_do_nothing())

    async def of_shop(self, shop_id: UUID, status: ReviewStatus | None, limit: int) -> list[Review]:
        query = select(reviews).where(reviews.c.shop_id == shop_id)
        if status is not None:
            query = query.where(reviews.c.status == status)
        rows = await self._session.execute(query.order_by(reviews.c.created_at).limit(limit))
        return [_review(row) for row in rows]

    async def lock(self, shop_id: UUID, order_id: UUID) -> Review | None:
        row = (
            await self._session.execute(
                select(reviews)
                .where(reviews.c.shop_id == shop_id, reviews.c.order_id == order_id)
                .with_for_update()
            )
        ).first()
        return None if row is None else _review(row)

    async def lock_due(self, now: datetime, limit: int) -> list[Review]:
        """Open reviews whose time ran out, locked (another replica's sweep skips them)."""
        rows = await self._session.execute(
            select(reviews)
            .where(reviews.c.status == "open", reviews.c.expires_at <= now)
            .order_by(reviews.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_review(row) for row in rows]

    async def save(self, review: Review) -> None:
        await self._session.execute(
            update(reviews)
            .where(reviews.c.order_id == review.order_id)
            .values(
                status=review.status,
                resolved_at=review.resolved_at,
                resolved_by=review.resolved_by,
                resolution_reason=review.resolution_reason,
            )
        )


class PaidAmountRepository:
    """What each paid order came to, per product: the trailing mean of the last few."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, paid: Sequence[tuple[UUID, UUID, UUID, int, datetime]]) -> None:
        """Record (shop, order, product, amount, paid at) of each paid order; an order recorded already
        keeps its first amount."""
        if paid:
            shops, orders, products, amounts, times = (list(column) for column in zip(*paid, strict=True))
            await execute(self._session, ADD_PAID_AMOUNTS, orders, shops, products, amounts, times)

    async def trailing_mean(self, product_id: UUID, sample: int) -> tuple[Decimal | None, int]:
        """The mean amount of the product's last `sample` paid orders, and how many there were."""
        last = (
            select(paid_amounts.c.amount)
            .where(paid_amounts.c.product_id == product_id)
            .order_by(paid_amounts.c.paid_at.desc())
            .limit(sample)
            .subquery()
        )
        row = (
            await self._session.execute(select(func.avg(last.c.amount), func.count()).select_from(last))
        ).one()
        return (None if row[0] is None else Decimal(row[0])), int(row[1])
