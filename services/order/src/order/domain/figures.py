"""A shop's sales figures over a run of days for the seller's dashboard: what the days are, and the daily
series with every day of the period in it (a day without orders is a row of zeros)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from faka_common.errors import DomainError

#: The longest period one question may cover (a year and a day: a leap year's dashboard).
MAX_DAYS = 366
#: The most sold products the figures name.
HOT_PRODUCTS = 10


class BadPeriod(DomainError):
    status_code = 422
    code = "invalid_period"


@dataclass(frozen=True)
class Period:
    """The days `first` to `last`, both included, as calendar days in `time_zone` (an IANA name)."""

    first: date
    last: date
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise BadPeriod("last: must not be before first")
        if self.days > MAX_DAYS:
            raise BadPeriod(f"last: a period is at most {MAX_DAYS} days")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            wrong = self.time_zone[:64]
            raise BadPeriod(f"tz: {wrong!r} is not a time zone (IANA, e.g. Asia/Shanghai)") from None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


@dataclass
class Day:
    """One day of the series: orders placed that day, orders paid that day and what they paid, by currency."""

    day: date
    orders: int = 0
    paid_orders: int = 0
    gmv: dict[str, int] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "orders": self.orders, "paid_orders": self.paid_orders,
                "gmv": dict(sorted(self.gmv.items()))}  # fmt: skip


def daily_series(
    period: Period, placed: Iterable[Mapping[str, Any]], paid: Iterable[Mapping[str, Any]]
) -> list[Day]:
    """Every day of the period from the rows the query grouped: `placed` (day, orders) and `paid` (day,
    currency, orders, amount)."""
    days = {day: Day(day) for day in period.each_day()}
    for row in placed:
        days[_day(row["day"])].orders += int(row["orders"])
    for row in paid:
        found = days[_day(row["day"])]
        found.paid_orders += int(row["orders"])
        found.gmv[str(row["currency"])] = found.gmv.get(str(row["currency"]), 0) + int(row["amount"])
    return list(days.values())


def totals(series: Iterable[Day]) -> dict[str, Any]:
    """The period's orders, paid orders and GMV by currency: the sum of its days."""
    whole = Day(date.min)
    for day in series:
        whole.orders += day.orders
        whole.paid_orders += day.paid_orders
        for currency, amount in day.gmv.items():
            whole.gmv[currency] = whole.gmv.get(currency, 0) + amount
    view = whole.view()
    del view["day"]
    return view


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
