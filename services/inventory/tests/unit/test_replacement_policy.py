"""The product's after-sales policy: which claims are replaced automatically and why the others are not."""

from datetime import UTC, datetime, timedelta

import pytest
from inventory.domain.replacements import ReplacementPolicy

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "hours_ago", "earlier", "evidence", "reason"),
    [
        (ReplacementPolicy(), 23.9, 0, False, None),
        (ReplacementPolicy(), 24.1, 0, False, "outside_window"),
        (ReplacementPolicy(per_order=2), 1, 1, False, None),
        (ReplacementPolicy(per_order=2), 1, 2, False, "order_limit_reached"),
        (ReplacementPolicy(per_order=0), 0, 0, True, "order_limit_reached"),
        (ReplacementPolicy(evidence_required=True), 1, 0, False, "evidence_required"),
        (ReplacementPolicy(evidence_required=True), 1, 0, True, None),
    ],
)
def test_a_claim_is_replaced_within_the_policy_and_refused_with_the_reason_outside_it(
    policy: ReplacementPolicy, hours_ago: float, earlier: int, evidence: bool, reason: str | None
) -> None:
    refusal = policy.refusal(NOW - timedelta(hours=hours_ago), NOW, earlier, evidence)
    assert (refusal[0] if refusal else None) == reason
