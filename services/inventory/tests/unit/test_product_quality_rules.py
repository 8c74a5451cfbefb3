"""A product's after-sales judgement and its pre-sale figures: no pause below the minimum of delivered keys
whatever the rate; a pause strictly above the threshold; delivery times in fixed buckets and the median as the
upper bound of its bucket; a resume starts the window at the next full hour."""

from datetime import UTC, datetime, timedelta

import pytest
from inventory.domain.quality import TIME_BUCKETS, QualityPolicy, Tally, median_seconds, time_bucket

POLICY = QualityPolicy(window_days=7, min_deliveries=20, pause_rate=0.1)


@pytest.mark.parametrize(
    ("delivered", "cases", "pauses"),
    [
        (3, 1, False),  # one bad key of three: bad luck, not a bad product
        (19, 19, False),  # below the minimum whatever the rate
        (20, 2, False),  # 0.1: at the threshold, not above it
        (20, 3, True),
        (1000, 101, True),
        (1000, 100, False),
    ],
)
def test_a_product_pauses_only_above_the_threshold_with_the_minimum_delivered(
    delivered: int, cases: int, pauses: bool
) -> None:
    assert POLICY.pauses(Tally(delivered, delivered, 0, cases)) is pauses


def test_the_success_rate_counts_finished_orders_and_is_unknown_without_any() -> None:
    assert Tally(delivered_orders=9, delivered_items=9, failed_orders=1).success_rate == 0.9
    assert Tally().success_rate is None
    assert Tally().after_sales_rate == 0.0


def test_delivery_times_fall_in_their_buckets_and_the_median_is_its_buckets_upper_bound() -> None:
    assert [time_bucket(s) for s in (0.2, 1, 1.5, 9, 10, 11)] == [0, 0, 1, 4, 4, 5]
    assert time_bucket(10**6) == len(TIME_BUCKETS)  # the open bucket
    times = [1.5, 4, 8, 25, 40]
    buckets: dict[int, int] = {}
    for seconds in times:
        buckets[time_bucket(seconds)] = buckets.get(time_bucket(seconds), 0) + 1
    assert median_seconds(buckets) == 10  # the median, 8 s, is in the bucket up to 10 s
    assert median_seconds({}) is None
    assert median_seconds({len(TIME_BUCKETS): 3}) is None  # slower than a day: no promise


def test_a_resume_starts_the_window_at_the_next_full_hour() -> None:
    now = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)
    assert POLICY.since(now, None) == now - timedelta(days=7)
    resumed = datetime(2026, 12, 2, 11, 20, tzinfo=UTC)
    assert POLICY.since(now, resumed) == datetime(2026, 12, 2, 12, tzinfo=UTC)
