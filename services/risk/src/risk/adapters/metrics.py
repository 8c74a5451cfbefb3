"""The risk service's metrics: decisions by verdict (first verdict or the end of a review) and the rules that
fired, by scope and type (the rule's index in its set is left out: it is not a bounded or stable name)."""

from __future__ import annotations

import re

from faka_common.contracts.risk import RiskDecided
from faka_common.metrics import on_committed
from prometheus_client import Counter

DECISIONS = Counter(
    "faka_risk_decisions_total",
    "Risk verdicts on orders; stage is `first` for the verdict on placement, `review` for a review's end",
    ["verdict", "stage"],
)
RULES_FIRED = Counter(
    "faka_risk_rules_fired_total", "Rules that fired in a decision, by scope and rule type", ["rule"]
)

_INDEX = re.compile(r"\[\d+\]$")


@on_committed(RiskDecided)
def _decided(event: RiskDecided) -> None:
    DECISIONS.labels(event.verdict, "first" if event.review_outcome is None else "review").inc()
    for rule in event.fired:
        RULES_FIRED.labels(_INDEX.sub("", rule)).inc()
