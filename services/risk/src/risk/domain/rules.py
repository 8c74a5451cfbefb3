"""The risk rules applied to a placed order: the platform's rule set and the shop's, each versioned.

What needs no outside fact is decided here (lists, quantity bounds, disposable e-mail domains); what needs
counts (velocity windows, unpaid orders: Redis) or the product's trailing mean (Postgres) is described here
as `Counter`s and `AmountCheck`s for the service layer to look up, and judged here once it has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Literal
from uuid import UUID

from faka_common.contracts.risk_rules import (
    Allowlist,
    AmountAboveMean,
    Blocklist,
    DisposableEmail,
    FirstPurchaseAbove,
    ListRule,
    QuantityBounds,
    RiskRules,
    UnpaidOrders,
    Velocity,
    phone_key,
)
from faka_common.rate_limits import email_id

Verdict = Literal["approve", "review", "reject"]
Scope = Literal["platform", "shop"]

#: The rule set of the platform itself (rules above every shop's) is stored under this id.
PLATFORM = UUID(int=0)

#: Well-known disposable-mail domains; a shop's `disposable_email` rule adds its own.
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    {
        "10minutemail.com",
        "dispostable.com",
        "fakeinbox.com",
        "getnada.com",
        "guerrillamail.com",
        "maildrop.cc",
        "mailinator.com",
        "mintemail.com",
        "mohmal.com",
        "sharklasers.com",
        "temp-mail.org",
        "tempmail.net",
        "throwawaymail.com",
        "trashmail.com",
        "yopmail.com",
    }
)


@dataclass(frozen=True)
class OrderFacts:
    order_id: UUID
    shop_id: UUID
    product_id: UUID
    quantity: int
    amount: int
    buyer_email: str
    buyer_ip: str | None
    buyer_phone: str | None = None
    device_id: str | None = None

    @cached_property
    def email_domain(self) -> str:
        return self.buyer_email.rsplit("@", 1)[-1].strip().lower()

    @cached_property
    def email_key(self) -> str:
        """The e-mail as the windows name it (hashed once per decision)."""
        return email_id(self.buyer_email)


@dataclass(frozen=True)
class RuleSet:
    """One scope's rule set at one version (version 0: never configured)."""

    scope: Scope
    version: int = 0
    rules: RiskRules = field(default_factory=RiskRules)

    def named(self, index: int) -> str:
        return self.names[index]

    @cached_property
    def names(self) -> list[str]:
        """Each rule's name in decisions, `<scope>.<type>[<index>]`, built once per version."""
        return [f"{self.scope}.{rule.type}[{i}]" for i, rule in enumerate(self.rules.rules)]

    @cached_property
    def lists(self) -> dict[int, ListIndex]:
        """The list rules' lookups, by rule index, built once per version."""
        return {i: ListIndex.of(r) for i, r in enumerate(self.rules.rules) if isinstance(r, ListRule)}

    @cached_property
    def disposable(self) -> dict[int, frozenset[str]]:
        """Each disposable-e-mail rule's domains (the built-in list and its own), by rule index."""
        return {
            i: DISPOSABLE_DOMAINS | {d.lower() for d in r.extra_domains}
            for i, r in enumerate(self.rules.rules)
            if isinstance(r, DisposableEmail)
        }


@dataclass(frozen=True)
class Fired:
    rule: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Counter:
    """A count to check and take in Redis: orders in a sliding window (velocity) or orders still unpaid.
    `limit` 0 counts without checking (every order is counted for the unpaid rules to come)."""

    key: str
    window_seconds: int
    limit: int
    fired: Fired | None = None


@dataclass(frozen=True)
class AmountCheck:
    rule: AmountAboveMean
    name: str


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    rules_version: int | None = None
    platform_rules_version: int | None = None
    #: The product's trailing mean an amount rule compared the order with (minor units, rounded).
    trailing_mean: int | None = None


def _domain_listed(facts: OrderFacts, listed: frozenset[str]) -> bool:
    """Whether the buyer's e-mail domain or one of its parents is listed (a subdomain of a listed domain is
    listed); an empty list costs nothing."""
    if not listed:
        return False
    labels = facts.email_domain.split(".")
    return any(".".join(labels[i:]) in listed for i in range(len(labels) - 1))


@dataclass(frozen=True)
class ListIndex:
    """A list rule made ready for lookups: sets, and networks grouped by prefix length as the integers of
    their first addresses, so a decision costs a few set lookups of masked integers however long the list
    is (building an ipaddress network per prefix length was a fifth of a decision's rules)."""

    ips: frozenset[IPv4Address | IPv6Address]
    emails: frozenset[str]
    domains: frozenset[str]
    #: (IP version, prefix length) -> the listed networks' first addresses, as integers
    networks: dict[tuple[int, int], frozenset[int]]
    phones: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rule: ListRule) -> ListIndex:
        networks: dict[tuple[int, int], set[int]] = {}
        for network in rule.cidrs:
            networks.setdefault((network.version, network.prefixlen), set()).add(int(network.network_address))
        return cls(
            frozenset(rule.ips),
            frozenset(e.strip().lower() for e in rule.emails),
            frozenset(d.lower() for d in rule.email_domains),
            {key: frozenset(found) for key, found in networks.items()},
            frozenset(phone_key(p) for p in rule.phones),
            frozenset(rule.device_ids),
        )

    def matches(self, facts: OrderFacts) -> str | None:
        """What of the buyer the list names, or None. An empty part of the list costs nothing (a list
        without addresses or domains neither parses the address nor splits the domain): with cached
        properties instead (the parsed address, the domain's parents) a decision took 15-20 % more CPU
        (Python 3.11's cached_property takes a lock)."""
        if self.emails and (email := facts.buyer_email.strip().lower()) in self.emails:
            return f"e-mail {email}"
        if _domain_listed(facts, self.domains):
            return f"e-mail domain {facts.email_domain}"
        if self.phones and facts.buyer_phone and phone_key(facts.buyer_phone) in self.phones:
            return f"phone {phone_key(facts.buyer_phone)}"
        if facts.device_id and facts.device_id in self.devices:
            return f"device {facts.device_id}"
        if not (self.ips or self.networks) or facts.buyer_ip is None:
            return None
        try:
            address = ip_address(facts.buyer_ip)
        except ValueError:
            return None
        if address in self.ips:
            return f"address {address}"
        number, bits = int(address), address.max_prefixlen
        for (version, prefix), listed in self.networks.items():
            host = bits - prefix
            if version == address.version and (first := number >> host << host) in listed:
                return f"address {address} in {ip_network((first, prefix))}"
        return None


@dataclass
class Evaluation:
    """What the rules found before the counts and means are looked up; `finished` when nothing else can
    change the verdict (a reject, an allow-listed buyer)."""

    fired: list[Fired] = field(default_factory=list)
    allowlisted: bool = False
    counters: list[Counter] = field(default_factory=list)
    amount_checks: list[AmountCheck] = field(default_factory=list)
    #: Rules that fire unless the buyer paid in the shop before.
    first_purchase: list[Fired] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return any(f.verdict == "reject" for f in self.fired)


def unpaid_key(scope_id: UUID, per: str, value: str) -> str:
    return f"unpaid:{scope_id}:{per}:{value}"


def unpaid_keys(
    shop_id: UUID, buyer_email: str, buyer_ip: str | None, email_key: str | None = None
) -> dict[tuple[Scope, str], str]:
    """Where an order is counted while unpaid: per e-mail and per address, in its shop and platform-wide."""
    scopes: tuple[tuple[Scope, UUID], ...] = (("shop", shop_id), ("platform", PLATFORM))
    keys: dict[tuple[Scope, str], str] = {}
    email = email_key or email_id(buyer_email)
    for scope, scope_id in scopes:
        keys[(scope, "email")] = unpaid_key(scope_id, "email", email)
        if buyer_ip:
            keys[(scope, "ip")] = unpaid_key(scope_id, "ip", buyer_ip)
    return keys


def _per_value(per: str, facts: OrderFacts) -> str | None:
    if per == "ip":
        return facts.buyer_ip
    if per == "email":
        return facts.email_key
    if per == "device":
        return facts.device_id
    return str(facts.product_id)


def evaluate(
    facts: OrderFacts, rule_sets: Sequence[RuleSet], max_quantity: int, unpaid_horizon_seconds: int
) -> Evaluation:
    """Apply the rules that need no outside fact; describe the counts and means the others need."""
    found = Evaluation()
    if facts.quantity > max_quantity:
        found.fired.append(Fired("quantity", "reject", f"quantity {facts.quantity} exceeds {max_quantity}"))
    for rule_set in rule_sets:
        for index, rule in enumerate(rule_set.rules.rules):
            name = rule_set.named(index)
            if isinstance(rule, Blocklist) and (what := rule_set.lists[index].matches(facts)):
                found.fired.append(Fired(name, "reject", f"{name}: {what} is blocked"))
            elif isinstance(rule, QuantityBounds) and not rule.min <= facts.quantity <= rule.max:
                found.fired.append(
                    Fired(name, "reject", f"{name}: quantity {facts.quantity} outside {rule.min}..{rule.max}")
                )
            elif isinstance(rule, Allowlist) and rule_set.lists[index].matches(facts):
                found.allowlisted = True
    if found.rejected:
        return found
    unpaid = unpaid_keys(facts.shop_id, facts.buyer_email, facts.buyer_ip, facts.email_key)
    if not found.allowlisted:
        for rule_set in rule_sets:
            scope_id = str(facts.shop_id if rule_set.scope == "shop" else PLATFORM)
            for index in range(len(rule_set.rules.rules)):
                _judge(rule_set, index, scope_id, facts, found, unpaid, unpaid_horizon_seconds)
    # every order is counted while unpaid, so a limit set later sees the orders already open
    limited = {c.key for c in found.counters}
    found.counters += [Counter(k, unpaid_horizon_seconds, 0) for k in unpaid.values() if k not in limited]
    return found


def _judge(
    rule_set: RuleSet,
    index: int,
    scope_id: str,
    facts: OrderFacts,
    found: Evaluation,
    unpaid: dict[tuple[Scope, str], str],
    unpaid_horizon_seconds: int,
) -> None:
    """Add what one rule found, or the count or mean it needs, to `found`."""
    rule, name = rule_set.rules.rules[index], rule_set.named(index)
    if isinstance(rule, DisposableEmail) and _domain_listed(facts, rule_set.disposable[index]):
        found.fired.append(
            Fired(name, rule.action, f"{name}: {facts.email_domain} is a disposable e-mail domain")
        )
    elif isinstance(rule, Velocity) and (value := _per_value(rule.per, facts)) is not None:
        key = f"velocity:{scope_id}:{rule.per}:{rule.window_seconds}:{value}"
        reason = f"{name}: more than {rule.limit} orders per {rule.per} in {rule.window_seconds} s"
        found.counters.append(Counter(key, rule.window_seconds, rule.limit, Fired(name, rule.action, reason)))
    elif isinstance(rule, UnpaidOrders) and (open_key := unpaid.get((rule_set.scope, rule.per))) is not None:
        reason = f"{name}: more than {rule.limit} unpaid orders per {rule.per}"
        fired = Fired(name, rule.action, reason)
        found.counters.append(Counter(open_key, unpaid_horizon_seconds, rule.limit, fired))
    elif isinstance(rule, AmountAboveMean):
        found.amount_checks.append(AmountCheck(rule, name))
    elif isinstance(rule, FirstPurchaseAbove) and facts.amount > rule.amount:
        reason = f"{name}: a first purchase of {facts.amount}, above {rule.amount}"
        found.first_purchase.append(Fired(name, rule.action, reason))


def above_mean(check: AmountCheck, amount: int, mean: Decimal | None, samples: int) -> Fired | None:
    """Whether the amount is above `factor` × the product's trailing mean (judged once enough were paid)."""
    if mean is None or samples < check.rule.min_samples or amount <= check.rule.factor * mean:
        return None
    reason = f"{check.name}: amount {amount} above {check.rule.factor} x the product's mean {mean:.0f}"
    return Fired(check.name, check.rule.action, reason)


def verdict_of(fired: Sequence[Fired]) -> Verdict:
    verdicts = {f.verdict for f in fired}
    return "reject" if "reject" in verdicts else "review" if "review" in verdicts else "approve"


def decide(
    fired: Sequence[Fired], platform: RuleSet, shop: RuleSet, trailing_mean: Decimal | None = None
) -> Decision:
    return Decision(
        verdict_of(fired),
        [f.reason for f in fired],
        [f.rule for f in fired],
        shop.version or None,
        platform.version or None,
        None if trailing_mean is None else int(trailing_mean.to_integral_value()),
    )
