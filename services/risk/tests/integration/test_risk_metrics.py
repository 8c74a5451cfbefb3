"""Risk's decision counters move with each committed verdict, and the rule that fired is counted by scope and
type. Real Postgres and Redis, fed as Kafka would feed it."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
import risk.adapters.metrics  # noqa: F401  (registers the counters' observers, as the app does)
from prometheus_client import REGISTRY
from risk.bootstrap import Service

from .test_rule_engine import decide, order, set_rules

pytestmark = pytest.mark.integration

COUNTED = [
    ("faka_risk_decisions_total", {"verdict": "approve", "stage": "first"}),
    ("faka_risk_decisions_total", {"verdict": "reject", "stage": "first"}),
    ("faka_risk_rules_fired_total", {"rule": "shop.velocity"}),
]


def readings() -> list[float]:
    return [REGISTRY.get_sample_value(name, labels) or 0.0 for name, labels in COUNTED]


async def test_an_approval_and_a_velocity_rejection_are_counted_by_verdict_and_rule(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 1, "window_seconds": 60})
    before = readings()
    verdicts = [(await decide(service, order(shop, email=f"m{i}@example.com")))["verdict"] for i in range(2)]
    assert verdicts == ["approve", "reject"]
    assert [a - b for a, b in zip(readings(), before, strict=True)] == [1, 1, 1]
