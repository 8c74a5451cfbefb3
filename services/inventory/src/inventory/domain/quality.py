"""A product's after-sales quality: the shop's pause threshold and its judgement, and the figures a buyer sees
before buying (delivery success rate, typical delivery time). No I/O."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Upper bounds (seconds) of the delivery-time buckets, paid to delivered; the last bucket is open.
TIME_BUCKETS = (1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


def time_bucket(seconds: float) -> int:
    """The bucket of a delivery that took `seconds` (index into TIME_BUCKETS; len() for the open one)."""
    return bisect_left(TIME_BUCKETS, seconds)


def median_seconds(buckets: Mapping[int, int]) -> int | None:
    """The upper bound of the bucket the median delivery falls in ("most deliveries within N s"); None
    without deliveries or when the median is in the open bucket."""
    total = sum(buckets.values())
    if total == 0:
        return None
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen * 2 >= total:
            return TIME_BUCKETS[bucket] if bucket < len(TIME_BUCKETS) else None
    return None


@dataclass(frozen=True)
class Tally:
    """A product's counts over a window."""

    delivered_orders: int = 0
    delivered_items: int = 0
    failed_orders: int = 0
    cases: int = 0

    @property
    def after_sales_rate(self) -> float:
        return self.cases / self.delivered_items if self.delivered_items else 0.0

    @property
    def success_rate(self) -> float | None:
        finished = self.delivered_orders + self.failed_orders
        return self.delivered_orders / finished if finished else None


@dataclass(frozen=True)
class QualityPolicy:
    """When the shop's products pause themselves: after-sales cases per delivered key over the last
    `window_days` above `pause_rate`, judged only once `min_deliveries` keys were delivered in the window
    (one bad key of three sold is bad luck, not a bad product)."""

    window_days: int = 7
    min_deliveries: int = 20
    pause_rate: float = 0.1

    def since(self, now: datetime, resumed_at: datetime | None) -> datetime:
        """Where the window starts: an operator's resume starts it afresh (from the next full hour of the
        rollup), so what paused the product does not pause it again at once."""
        start = now - timedelta(days=self.window_days)
        if resumed_at is None:
            return start
        return max(start, resumed_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))

    def pauses(self, tally: Tally) -> bool:
        return tally.delivered_items >= self.min_deliveries and tally.after_sales_rate > self.pause_rate
