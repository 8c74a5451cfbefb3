from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from delivery.domain.model import (
    TERMINAL,
    TRANSITIONS,
    Delivery,
    InvalidTransition,
    decide,
    item_count,
    latency_ms,
)
from faka_common.contracts.shops import DEFAULT_SHOP_ID


def test_card_keys_count_one_item_per_key() -> None:
    assert item_count("card_key", [uuid4(), uuid4(), uuid4()]) == 3


def test_loop_key_without_key_ids_counts_as_one_item() -> None:
    assert item_count("loop_key", []) == 1


def test_loop_key_with_key_ids_counts_them() -> None:
    assert item_count("loop_key", [uuid4(), uuid4()]) == 2


def test_keys_allocated_delivery_succeeds() -> None:
    outcome = decide("card_key", [uuid4()])
    assert outcome.status == "succeeded"
    assert outcome.item_count == 1
    assert outcome.reason is None


def test_card_key_delivery_without_keys_fails_with_reason() -> None:
    outcome = decide("card_key", [])
    assert outcome.status == "failed"
    assert outcome.item_count == 0
    assert outcome.reason is not None and "card_key" in outcome.reason


def test_latency_is_whole_milliseconds_never_negative() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert latency_ms(start, start + timedelta(milliseconds=1234)) == 1234
    assert latency_ms(start, start - timedelta(seconds=1)) == 0


def _delivery(status: str = "pending") -> Delivery:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Delivery(uuid4(), DEFAULT_SHOP_ID, uuid4(), "pending", 0, status, 0, now, None, None)  # type: ignore[arg-type]


STATUSES = ("pending", "recharging", "manual", "succeeded", "failed", "cancelled")


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_every_status_change_follows_the_transition_table(current: str, target: str) -> None:
    delivery = _delivery(current)
    if (current, target) in TRANSITIONS:
        delivery.move(target)  # type: ignore[arg-type]
        assert delivery.status == target
    else:
        with pytest.raises(InvalidTransition):
            delivery.move(target)  # type: ignore[arg-type]
        assert delivery.status == current


def test_terminal_deliveries_never_change_again() -> None:
    assert not any(current in TERMINAL for current, _ in TRANSITIONS)


def test_completion_latency_runs_from_the_request_not_from_the_record() -> None:
    delivery = _delivery()
    delivery.requested_at = delivery.created_at - timedelta(seconds=2)
    delivery.complete("succeeded", 1, delivery.created_at + timedelta(milliseconds=500))
    assert delivery.latency_ms == 2500 and delivery.status == "succeeded" and delivery.item_count == 1
