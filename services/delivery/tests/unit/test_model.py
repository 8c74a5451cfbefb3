from datetime import UTC, datetime, timedelta
from uuid import uuid4

from delivery.domain.model import decide, item_count, latency_ms


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
