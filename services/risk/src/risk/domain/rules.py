"""The rule set applied to a placed order. For now: a pass-through with a sanity bound on quantity."""

from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["approve", "review", "reject"]


@dataclass(frozen=True)
class OrderFacts:
    quantity: int
    amount: int
    buyer_email: str
    buyer_ip: str | None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RuleSet:
    max_quantity_per_order: int = 100

    def decide(self, facts: OrderFacts) -> Decision:
        if facts.quantity > self.max_quantity_per_order:
            return Decision("reject", [f"quantity {facts.quantity} exceeds {self.max_quantity_per_order}"])
        return Decision("approve")
