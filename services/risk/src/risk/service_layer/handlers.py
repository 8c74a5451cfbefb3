"""Risk handlers: the decision on a placed order, the unpaid counts an ended order leaves, the paid amounts
the trailing means come from, rule-set changes, and the review queue (resolved by a person or by time)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID

from faka_common.contracts import OrderCancelled, OrderPaid, OrderPlaced, OrderRejected, RiskDecided
from faka_common.contracts.risk import RiskRulesChanged
from faka_common.contracts.risk_rules import RiskRules
from faka_common.errors import NotFound, Unavailable

from risk.adapters.counters import Counters, Take, Taken
from risk.domain.reviews import Review
from risk.domain.rules import (
    PLATFORM,
    Decision,
    Fired,
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
    """The rule sets this process decides with, by scope, read from the database once and kept. Each
    decision's one Redis round trip (`Counters.take`) checks their versions against the published ones, and
    a moved version reloads them: a change made through any replica applies to the next order, with no
    restart and no database read per decision."""

    _sets: dict[UUID, RuleSet] = field(default_factory=dict)

    def kept(self, shop_id: UUID) -> tuple[RuleSet, RuleSet] | None:
        platform, shop = self._sets.get(PLATFORM), self._sets.get(shop_id)
        return None if platform is None or shop is None else (platform, shop)

    async def load(self, uow: RiskUnitOfWork, shop_id: UUID) -> tuple[RuleSet, RuleSet]:
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
class MeanCache:
    """The products' trailing means, kept `seconds` (a mean of the last 50 paid orders moves slowly); a
    product paid through this replica is read again on its next order."""

    seconds: float
    #: product -> sample size -> (kept until, mean, samples)
    _kept: dict[UUID, dict[int, tuple[float, Decimal | None, int]]] = field(default_factory=dict)

    async def of(self, uow: RiskUnitOfWork, product_id: UUID, sample: int) -> tuple[Decimal | None, int]:
        kept = self._kept.get(product_id, {}).get(sample)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1], kept[2]
        mean, samples = await uow.paid_amounts.trailing_mean(product_id, sample)
        self._kept.setdefault(product_id, {})[sample] = (time.monotonic() + self.seconds, mean, samples)
        return mean, samples

    def forget(self, product_id: UUID) -> None:
        self._kept.pop(product_id, None)


@dataclass
class Decider:
    """What a decision needs besides the unit of work."""

    counters: Counters
    max_quantity: int
    unpaid_horizon_seconds: int
    rules: RuleCache = field(default_factory=RuleCache)
    means: MeanCache = field(default_factory=lambda: MeanCache(60.0))


def facts_of(event: OrderPlaced) -> OrderFacts:
    return OrderFacts(
        event.order_id,
        event.shop_id,
        event.product_id,
        event.quantity,
        event.amount,
        event.buyer_email,
        event.buyer_ip,
        event.buyer_phone,
        event.device_id,
    )


@dataclass
class Pending:
    """A decision up to its round trip to Redis: what the rules found, the windows to take."""

    facts: OrderFacts
    platform: RuleSet
    shop: RuleSet
    fired: list[Fired]
    compared: Decimal | None
    take: Take

    def decided(self, taken: Taken) -> tuple[Decision, RuleSet]:
        fired = self.fired + [f for i in taken.full if (f := self.take.counters[i].fired) is not None]
        return decide(fired, self.platform, self.shop, self.compared), self.shop


async def _pending(
    facts: OrderFacts,
    rule_sets: tuple[RuleSet, RuleSet],
    uow: RiskUnitOfWork,
    decider: Decider,
    checked: bool,
) -> Pending:
    """Apply the rules, look up the kept trailing means (and whether the buyer paid before, for a first
    purchase rule), and say which windows to take; `checked`: the rule sets' versions are checked too."""
    platform, shop = rule_sets
    found = evaluate(facts, [platform, shop], decider.max_quantity, decider.unpaid_horizon_seconds)
    fired, compared = list(found.fired), None
    for check in [] if found.rejected else found.amount_checks:
        mean, samples = await decider.means.of(uow, facts.product_id, check.rule.sample)
        if (over := above_mean(check, facts.amount, mean, samples)) is not None:
            fired.append(over)
        if compared is None or over is not None:
            compared = mean
    first = found.first_purchase and not found.rejected
    if first and not await uow.decisions.paid_before(facts.shop_id, facts.buyer_email):
        fired += found.first_purchase
    counted = [] if any(f.verdict == "reject" for f in fired) else found.counters
    versions = (platform.version, shop.version) if checked else None
    now_ms = time.time_ns() // 1_000_000
    take = Take(counted, str(facts.order_id), now_ms, str(facts.shop_id), versions)
    return Pending(facts, platform, shop, fired, compared, take)


async def decision_on(facts: OrderFacts, uow: RiskUnitOfWork, decider: Decider) -> tuple[Decision, RuleSet]:
    """The verdict on an order, and the shop's rule set it used: the kept rule sets, the kept trailing
    means, and one Redis round trip that checks the rule sets are current and checks and takes every window
    (a second one only after a rule change)."""
    rule_sets = decider.rules.kept(facts.shop_id) or await decider.rules.load(uow, facts.shop_id)
    checked = True
    while True:
        pending = await _pending(facts, rule_sets, uow, decider, checked)
        take = pending.take
        taken = await decider.counters.take(take.counters, take.member, take.now_ms, take.shop, take.versions)
        if taken.stale is None:
            return pending.decided(taken)
        # a rule set changed: decide again with the saved ones, which are published again when Redis
        # holds others (lost, or a publication failed); the second time the versions are not checked
        rule_sets, checked = await _reload(facts.shop_id, taken.stale, uow, decider), False


async def decisions_on(
    batch: list[OrderFacts], uow: RiskUnitOfWork, decider: Decider
) -> list[tuple[Decision, RuleSet]]:
    """`decision_on` for a batch with one Redis round trip for all of it: the windows are taken in the
    batch's order, so its orders are counted as they arrived. An order whose rule sets turned out stale
    (nothing was counted for it) is decided again on its own."""
    pending = []
    for facts in batch:
        rule_sets = decider.rules.kept(facts.shop_id) or await decider.rules.load(uow, facts.shop_id)
        pending.append(await _pending(facts, rule_sets, uow, decider, True))
    made = []
    for one, taken in zip(pending, await decider.counters.take_many([p.take for p in pending]), strict=True):
        made.append(one.decided(taken) if taken.stale is None else await decision_on(one.facts, uow, decider))
    return made


async def _reload(
    shop_id: UUID, published: tuple[int, int], uow: RiskUnitOfWork, decider: Decider
) -> tuple[RuleSet, RuleSet]:
    """The saved rule sets, after Redis said others are published; publish them again if it still holds
    others than the saved ones (lost, or a publication failed)."""
    rule_sets = await decider.rules.load(uow, shop_id)
    if (rule_sets[0].version, rule_sets[1].version) != published:
        for scope_id, rule_set in zip((PLATFORM, shop_id), rule_sets, strict=True):
            await decider.counters.publish_rules(scope_name(scope_id), rule_set.version, rule_set.rules)
    return rule_sets


@dataclass(frozen=True)
class Decided:
    """A decision made and not yet recorded."""

    event: OrderPlaced
    facts: OrderFacts
    decision: Decision
    shop: RuleSet


async def decide_on_order(event: OrderPlaced, uow: RiskUnitOfWork, decider: Decider) -> None:
    """Apply the platform's and the shop's rules to a placed order, record the decision (and the review it
    opens) and announce the verdict to the order's shop, once per order (a redelivered event stops at the
    consumer's inbox; another event of a decided order is counted as the same order and announced no
    more)."""
    await decide_on_orders([event], uow, decider)


async def decide_on_orders(events: list[OrderPlaced], uow: RiskUnitOfWork, decider: Decider) -> None:
    """`decide_on_order` for a batch the consumer hands over in one transaction: each order decided in
    turn (their windows counted in arrival order), then every decision recorded in one statement."""
    batch = [facts_of(event) for event in events]
    decided = await decisions_on(batch, uow, decider)
    made = [Decided(e, f, d, s) for e, f, (d, s) in zip(events, batch, decided, strict=True)]
    await record_decisions(made, uow)


async def record_decisions(made: list[Decided], uow: RiskUnitOfWork) -> None:
    """Record the decisions, open the reviews they ask for and stage their verdicts: once per order."""
    new = await uow.decisions.add_many([(d.facts, d.decision) for d in made])
    for one in made:
        if one.event.order_id not in new:
            log.info("order %s already has a risk decision; ignoring", one.event.order_id)
            continue
        new.discard(one.event.order_id)  # the same order twice in a batch: its first decision only
        decision = one.decision
        if decision.verdict == "review":
            await open_review(uow, one.event, decision, one.shop.rules.review_timeout_seconds)
        uow.publish(
            RiskDecided(
                order_id=one.event.order_id,
                shop_id=one.event.shop_id,
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
            device_id=event.device_id,
            reasons=decision.reasons,
            fired=decision.fired,
            trailing_mean=decision.trailing_mean,
            status="open",
            created_at=at,
            expires_at=at + timedelta(seconds=seconds),
        )
    )


async def on_order_ended_unpaid(
    event: OrderCancelled | OrderRejected, uow: RiskUnitOfWork, decider: Decider
) -> None:
    """An order expired, was cancelled or rejected: it no longer counts against its buyer's unpaid limit."""
    await _release([event.order_id], uow, decider)


async def on_order_paid(event: OrderPaid, uow: RiskUnitOfWork, decider: Decider) -> None:
    """A paid order is no longer unpaid, and its amount joins the product's trailing mean."""
    await on_orders_paid([event], uow, decider)


async def on_orders_paid(events: Sequence[OrderPaid], uow: RiskUnitOfWork, decider: Decider) -> None:
    """`on_order_paid` for a batch the consumer hands over in one transaction: the amounts in one statement,
    the buyers in one and their unpaid windows in one Redis round trip (three per batch instead of per
    order)."""
    await uow.paid_amounts.add_many(
        [(e.shop_id, e.order_id, e.product_id, e.amount, e.paid_at) for e in events]
    )
    for event in events:
        decider.means.forget(event.product_id)
    await _release([event.order_id for event in events], uow, decider)


async def _release(order_ids: Sequence[UUID], uow: RiskUnitOfWork, decider: Decider) -> None:
    """Take the orders out of their buyers' unpaid windows (an order risk never decided on has none)."""
    buyers = await uow.decisions.buyers(order_ids)
    releases = [
        (list(unpaid_keys(buyer.shop_id, buyer.email, buyer.ip).values()), str(order_id))
        for order_id, buyer in buyers.items()
    ]
    if releases:
        await decider.counters.release_many(releases)


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
