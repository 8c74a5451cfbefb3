"""Stock arithmetic: every state change of keys is a StockChange; counts are their sum. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IssueOrder(StrEnum):
    FIFO = "fifo"  # earliest expiry first, then oldest batch, then upload order
    RANDOM = "random"  # a random rank drawn at import


class StockError(ValueError):
    """A change that would make a count negative: a bug, never a business outcome."""


@dataclass(frozen=True)
class StockChange:
    """A change of the three counts; what a transaction appends and a fold adds up."""

    available: int = 0
    reserved: int = 0
    sold: int = 0

    def __add__(self, other: StockChange) -> StockChange:
        return StockChange(
            self.available + other.available, self.reserved + other.reserved, self.sold + other.sold
        )

    def __bool__(self) -> bool:
        return bool(self.available or self.reserved or self.sold)


def imported(n: int) -> StockChange:
    return StockChange(available=n)


def reserved(n: int) -> StockChange:
    return StockChange(available=-n, reserved=n)


def released(n: int) -> StockChange:
    return StockChange(available=n, reserved=-n)


def sold_from_reservation(n: int) -> StockChange:
    return StockChange(reserved=-n, sold=n)


def sold_directly(n: int) -> StockChange:
    """A late payment whose reservation lapsed claims straight from what is available."""
    return StockChange(available=-n, sold=n)


def withdrawn(n: int) -> StockChange:
    """Available keys voided by the seller or past their batch's expiry."""
    return StockChange(available=-n)


@dataclass(frozen=True)
class Stock:
    """Card keys by status; for a loop-key product `available` is None (no stock count) and reserved/sold
    count units of active and allocated reservations."""

    available: int | None = 0
    reserved: int = 0
    sold: int = 0

    def apply(self, change: StockChange) -> Stock:
        available = None if self.available is None else self.available + change.available
        result = Stock(available, self.reserved + change.reserved, self.sold + change.sold)
        if (available is not None and available < 0) or result.reserved < 0 or result.sold < 0:
            raise StockError(f"{self} + {change} leaves a negative count")
        return result


@dataclass(frozen=True)
class StockSignals:
    """What a product's new count means: its low-stock latch, its in-stock flag, and what to announce."""

    low_stock_alerted: bool
    in_stock: bool
    announce_low_stock: bool
    in_stock_changed: bool


def stock_signals(
    available: int | None, threshold: int | None, alerted: bool, in_stock: bool
) -> StockSignals:
    """Low stock is announced once per crossing: when available falls to or below the threshold; the
    latch re-arms once stock is above it again. Loop keys (available None) are always in stock."""
    now_in_stock = available is None or available > 0
    low = available is not None and threshold is not None and available <= threshold
    return StockSignals(
        low_stock_alerted=low,
        in_stock=now_in_stock,
        announce_low_stock=low and not alerted,
        in_stock_changed=now_in_stock != in_stock,
    )
