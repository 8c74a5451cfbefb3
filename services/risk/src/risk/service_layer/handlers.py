"""Risk handlers: the decision on a placed order, the unpaid counts an ended order leaves, the paid amounts
the trailing means come from, rule-set changes, and the review queue (resolved by a person or by time)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from faka_common.contracts import OrderCancelled, OrderPaid, OrderPlaced, OrderRejected, RiskDecided
from faka_common.contracts.risk import RiskRulesChanged
from faka_common.contracts.risk_rules import RiskRules
from faka_common.errors import NotFound, Unavailable

from risk.adapters.counters import Counters
from risk.domain.reviews import Review
from risk.domain.rules import (
    PLATFORM,
    Decision,
    OrderFacts,
    RuleSet,
    above_mean,
    decide,
    evaluate,
    unpaid_keys,
)
from risk.service_layer.unit_of_work import RiskUnitOfWork

log = logging.getLogger(__name__)

#: Reviews expired per transaction of the sweep.
EXPIRY_BATCH = 100


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RuleCache:
    """The rule sets this process decides with, by scope; each decision first reads the scopes' current
    versions (a primary-key read in its own transaction) and reloads a set whose version moved, so a change
    made through any replica applies to the next order, with no restart and no wait for an event."""

    _sets: dict[UUID, RuleSet] = field(default_factory=dict)

    async def current(self, uow: RiskUnitOfWork, shop_id: UUID) -> tuple[RuleSet, RuleSet]:
        heads = await uow.rule_sets.heads([PLATFORM, shop_id])
        platform = await self._load(uow, PLATFORM, "platform", heads.get(PLATFORM, 0))
        shop = await self._load(uow, shop_id, "shop", heads.get(shop_id, 0))
        return platform, shop

    async def _load(
        self, uow: RiskUnitOfWork, scope_id: UUID, scope: Literal["platform", "shop"], version: int
    ) -> RuleSet:
        cached = self._sets.get(scope_id)
        if cached is not None and cached.version == version:
            return cached
        stored = await uow.rule_sets.current(scope_id) if version else None
        loaded = RuleSet(scope) if stored is None else RuleSet(scope, stored.version, stored.rules)
        self._sets[scope_id] = loaded
        return loaded


@dataclass
class Decider:
    """What a decision needs besides the unit of work."""

    counters: Counters
    max_quantity: int
    unpaid_horizon_seconds: int
    rules: RuleCache = field(default_factory=RuleCache)


async def decide_on_order(event: OrderPlaced, uow: RiskUnitOfWork, decider: Decider) -> None:
    """Apply the platform's and the shop's rules to a placed order, record the decision (and the review it
    opens) and announce the verdict to the order's shop, once per order."""
    if await uow.decisions.buyer(event.order_id) is not None:
        log.info("order %s already has a risk decision; ignoring", event.order_id)
        return
    facts = OrderFacts(
        event.order_id,
        event.shop_id,
        event.product_id,
        event.quantity,
        event.amount,
        event.buyer_email,
        event.buyer_ip,
    )
    platform, shop = await decider.rules.current(uow, event.shop_id)
    found = evaluate(facts, [platform, shop], decider.max_quantity, decider.unpaid_horizon_seconds)
    fired = list(found.fired)
    for check in [] if found.rejected else found.amount_checks:
        mean, samples = await uow.paid_amounts.trailing_mean(facts.product_id, check.rule.sample)
        if (over := above_mean(check, facts.amount, mean, samples)) is not None:
            fired.append(over)
    first = found.first_purchase and not found.rejected
    if first and not await uow.decisions.paid_before(facts.shop_id, facts.buyer_email):
        fired += found.first_purchase
    if not found.rejected and all(f.verdict != "reject" for f in fired):
        member, now_ms = str(facts.order_id), time.time_ns() // 1_000_000
        full = await decider.counters.take(found.counters, member, now_ms)
        fired += [f for i in full if (f := found.counters[i].fired) is not None]
        if full and all(f.verdict != "reject" for f in fired):
            await decider.counters.take(found.counters, member, now_ms, force=True)
    decision = decide(fired, platform, shop)
    if not await uow.decisions.add(facts, decision):
        return
    if decision.verdict == "review":
        await open_review(uow, event, decision, shop.rules.review_timeout_seconds)
    uow.publish(
        RiskDecided(
            order_id=event.order_id,
            shop_id=event.shop_id,
            verdict=decision.verdict,
            reasons=decision.reasons,
            fired=decision.fired,
            rules_version=decision.rules_version,
            platform_rules_version=decision.platform_rules_version,
        )
    )


async def open_review(uow: RiskUnitOfWork, event: OrderPlaced, decision: Decision, seconds: int) -> None:
    at = _now()
    await uow.reviews.add(
        Review(
            order_id=event.order_id,
            shop_id=event.shop_id,
            order_no=event.order_no,
            product_title=event.product_title,
            amount=event.amount,
            currency=event.currency,
            buyer_email=event.buyer_email,
            reasons=decision.reasons,
            status="open",
            created_at=at,
            expires_at=at + timedelta(seconds=seconds),
        )
    )


async def on_order_ended_unpaid(
    event: OrderCancelled | OrderRejected, uow: RiskUnitOfWork, decider: Decider
) -> None:
    """An order expired, was cancelled or rejected: it no longer counts against its buyer's unpaid limit."""
    await _release(event.order_id, uow, decider)


async def on_order_paid(event: OrderPaid, uow: RiskUnitOfWork, decider: Decider) -> None:
    """A paid order is no longer unpaid, and its amount joins the product's trailing mean."""
    await uow.paid_amounts.add(event.shop_id, event.order_id, event.product_id, event.amount, event.paid_at)
    await _release(event.order_id, uow, decider)


async def _release(order_id: UUID, uow: RiskUnitOfWork, decider: Decider) -> None:
    buyer = await uow.decisions.buyer(order_id)
    if buyer is not None:
        keys = unpaid_keys(buyer.shop_id, buyer.email, buyer.ip)
        await decider.counters.release(list(keys.values()), str(order_id))


def scope_name(scope: UUID) -> str:
    return "platform" if scope == PLATFORM else str(scope)


async def change_rules(
    uow: RiskUnitOfWork, scope: UUID, rules: RiskRules, changed_by: str, decider: Decider
) -> int:
    """Save `rules` as the scope's next version (all of it or nothing), announce it and publish it to the
    gateway and the other replicas (Redis); the version. Redis out of reach leaves the rules saved and
    announced: `publish_rules`' sweep publishes them once it is back."""
    async with uow:
        version = await uow.rule_sets.save(scope, rules, changed_by)
        uow.publish(
            RiskRulesChanged(
                scope=scope_name(scope),
                rules_version=version,
                changed_by=changed_by,
                rule_types=[rule.type for rule in rules.rules],
            )
        )
        await uow.commit()
    log.info("risk rules of %s are at version %d (by %s)", scope, version, changed_by)
    try:
        await decider.counters.publish_rules(scope_name(scope), version, rules)
    except Unavailable as error:
        log.warning("rules of %s at version %d saved but not yet published: %s", scope, version, error)
    return version


async def publish_rules(uow: RiskUnitOfWork, decider: Decider) -> int:
    """Publish every scope's current rule set (the sweep: after a Redis outage or flush, the challenges
    and versions are back within one period); how many scopes."""
    async with uow:
        current = await uow.rule_sets.every_current()
    for scope, stored in current.items():
        await decider.counters.publish_rules(scope_name(scope), stored.version, stored.rules)
    return len(current)


async def resolve_review(
    uow: RiskUnitOfWork,
    shop_id: UUID,
    order_id: UUID,
    approve: bool,
    reviewed_by: str,
    reason: str | None = None,
) -> Review:
    """An operator's verdict on an order in review: the order proceeds to payment or is rejected."""
    async with uow:
        review = await uow.reviews.lock(shop_id, order_id)
        if review is None:
            raise NotFound(f"no review of order {order_id}")
        review.resolve("approved" if approve else "rejected", _now(), reviewed_by, reason)
        await uow.reviews.save(review)
        reasons = [] if approve else [f"review rejected: {reason}"]
        verdict: Literal["approve", "reject"] = "approve" if approve else "reject"
        uow.publish(_final(review, verdict, reasons, reviewed_by))
        await uow.commit()
    return review


async def expire_reviews(uow: RiskUnitOfWork, now: datetime | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Reject the orders whose review nobody ended in time; how many."""
    at = now or _now()
    async with uow:
        due = await uow.reviews.lock_due(at, limit)
        for review in due:
            review.resolve("expired", at, None, "nobody reviewed the order in time")
            await uow.reviews.save(review)
            uow.publish(_final(review, "reject", ["review expired"], None))
        await uow.commit()
    if due:
        log.info("expired %d reviews", len(due))
    return len(due)


def _final(
    review: Review, verdict: Literal["approve", "reject"], reasons: list[str], by: str | None
) -> RiskDecided:
    """The second verdict on an order in review (which `review.resolve` just closed): the order's state
    machine takes approve or reject from review as it takes them from pending_risk."""
    outcome: Literal["approved", "rejected", "expired"] = (
        "approved"
        if review.status == "approved"
        else "rejected"
        if review.status == "rejected"
        else "expired"
    )
    return RiskDecided(
        order_id=review.order_id,
        shop_id=review.shop_id,
        verdict=verdict,
        reasons=reasons,
        review_outcome=outcome,
        reviewed_by=by,
    )
