"""Stock arithmetic against a model of individual keys: under any sequence of imports, reservations,
releases, allocations and withdrawals the counts equal the keys by status and never go negative."""

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inventory.domain import stock
from inventory.domain.stock import Stock, StockChange, StockError, stock_signals

Op = tuple[str, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["import", "reserve", "release", "pay", "late_pay", "withdraw"]), st.integers(1, 5)
    ),
    max_size=60,
)


@dataclass
class Pool:
    """The reference: every key with its status; orders hold their reserved keys."""

    keys: dict[int, str] = field(default_factory=dict)
    holds: list[list[int]] = field(default_factory=list)

    def available(self) -> list[int]:
        return [k for k, s in self.keys.items() if s == "available"]

    def count(self, status: str) -> int:
        return sum(1 for s in self.keys.values() if s == status)


def step(pool: Pool, counts: Stock, op: Op) -> Stock:
    """Apply op to the pool; return the counts after the matching StockChange (all-or-none reservations)."""
    kind, n = op
    free = pool.available()
    if kind == "import":
        for k in range(len(pool.keys), len(pool.keys) + n):
            pool.keys[k] = "available"
        return counts.apply(stock.imported(n))
    if kind in ("reserve", "late_pay", "withdraw"):
        if len(free) < n:
            return counts  # all or none: nothing changes
        for k in free[:n]:
            pool.keys[k] = {"reserve": "reserved", "late_pay": "sold", "withdraw": "void"}[kind]
        if kind == "reserve":
            pool.holds.append(free[:n])
            return counts.apply(stock.reserved(n))
        return counts.apply(stock.sold_directly(n) if kind == "late_pay" else stock.withdrawn(n))
    if not pool.holds:
        return counts
    held = pool.holds.pop(n % len(pool.holds))
    for k in held:
        pool.keys[k] = "available" if kind == "release" else "sold"
    change = stock.released(len(held)) if kind == "release" else stock.sold_from_reservation(len(held))
    return counts.apply(change)


@given(ops)
def test_counts_equal_the_keys_by_status_after_any_sequence(sequence: list[Op]) -> None:
    pool, counts = Pool(), Stock()
    for op in sequence:
        counts = step(pool, counts, op)
        assert counts == Stock(pool.count("available"), pool.count("reserved"), pool.count("sold"))
        assert counts.available is not None and min(counts.available, counts.reserved, counts.sold) >= 0


@given(ops)
def test_folding_changes_in_any_grouping_gives_the_same_counts(sequence: list[Op]) -> None:
    pool, counts = Pool(), Stock()
    changes: list[StockChange] = []
    for op in sequence:
        after = step(pool, counts, op)
        assert after.available is not None and counts.available is not None
        changes.append(
            StockChange(
                after.available - counts.available, after.reserved - counts.reserved, after.sold - counts.sold
            )
        )
        counts = after
    folded = Stock()
    for start in range(0, len(changes), 7):
        total = StockChange()
        for change in changes[start : start + 7]:
            total = total + change
        folded = folded.apply(total)
    assert folded == counts


def test_a_change_that_would_go_negative_is_a_bug() -> None:
    with pytest.raises(StockError):
        Stock(1, 0, 0).apply(stock.reserved(2))


def test_loop_keys_have_no_available_count() -> None:
    assert Stock(None, 0, 0).apply(StockChange(reserved=3)) == Stock(None, 3, 0)


@given(st.lists(st.integers(0, 20), min_size=1, max_size=50), st.integers(0, 10))
def test_low_stock_is_announced_once_per_crossing(levels: list[int], threshold: int) -> None:
    alerted, in_stock, announced = False, True, 0
    crossings = 0
    above = True
    for available in levels:
        signals = stock_signals(available, threshold, alerted, in_stock)
        announced += signals.announce_low_stock
        if above and available <= threshold:
            crossings += 1
        above = available > threshold
        alerted, in_stock = signals.low_stock_alerted, signals.in_stock
        assert in_stock == (available > 0)
    assert announced == crossings
