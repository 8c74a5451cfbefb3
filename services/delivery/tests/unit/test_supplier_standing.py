"""A supplier's standing under the shop's thresholds: judged only past the minimum sample, demoted at the
demotion rate, paused at the pause rate; a demoted supplier's routes go after every other whatever their
priority; a resume starts the window afresh."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from delivery.domain.suppliers import Route, Score, SupplierPolicy, rank
from faka_common.contracts.shops import DEFAULT_SHOP_ID

POLICY = SupplierPolicy(timedelta(hours=1), min_sample=10, demote_claim_rate=0.1, pause_claim_rate=0.3)


def _score(succeeded: int, claims: int) -> Score:
    return Score(uuid4(), succeeded, succeeded, None, claims)


@pytest.mark.parametrize(
    ("succeeded", "claims", "standing"),
    [
        (3, 3, "good"),  # every sale claimed, but three sales prove nothing yet
        (9, 9, "good"),
        (10, 0, "good"),
        (20, 1, "good"),  # 0.05
        (10, 1, "demoted"),  # 0.1: at the demotion rate
        (20, 5, "demoted"),  # 0.25
        (10, 3, "paused"),  # 0.3: at the pause rate
        (10, 10, "paused"),
    ],
)
def test_standing_follows_the_claim_rate_once_the_sample_is_large_enough(
    succeeded: int, claims: int, standing: str
) -> None:
    assert POLICY.standing(_score(succeeded, claims)) == standing


def test_a_supplier_without_history_is_in_good_standing() -> None:
    assert POLICY.standing(None) == "good"


def test_a_demoted_supplier_is_tried_after_every_other_whatever_its_priority() -> None:
    def route(name: str, priority: int) -> Route:
        return Route(uuid4(), DEFAULT_SHOP_ID, UUID(int=1), uuid4(), name, "sku", priority, 100, "CNY")

    primary, backup, last = route("primary", 0), route("backup", 1), route("last", 2)

    ranked = rank([primary, backup, last], {}, demoted={primary.supplier_id})

    assert [r.supplier_name for r in ranked] == ["backup", "last", "primary"]


def test_the_window_starts_afresh_at_a_resume() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert POLICY.since(now) == now - timedelta(hours=1)
    assert POLICY.since(now, resumed_at=now - timedelta(minutes=5)) == now - timedelta(minutes=5)
    assert POLICY.since(now, resumed_at=now - timedelta(days=2)) == now - timedelta(hours=1)


def test_a_pause_rate_below_the_demotion_rate_pauses_first() -> None:
    inverted = SupplierPolicy(timedelta(hours=1), min_sample=10, demote_claim_rate=0.5, pause_claim_rate=0.2)

    assert inverted.standing(_score(10, 3)) == "paused"
    assert inverted.standing(_score(10, 1)) == "good"
