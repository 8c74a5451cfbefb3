"""Reservation states and the transitions order events may trigger: decided here, applied by handlers."""

from enum import StrEnum
from typing import Literal

DeliveryType = Literal["card_key", "loop_key", "manual", "recharge"]
DELIVERY_TYPES: tuple[DeliveryType, ...] = ("card_key", "loop_key", "manual", "recharge")
#: Products that hold no card keys: a reservation counts units, stock never runs out.
KEYLESS: frozenset[str] = frozenset({"loop_key", "manual", "recharge"})
#: Products whose paid orders are fulfilled by inventory's keys (the others by delivery: an operator or
#: a supplier, asked by the order service).
KEYED_DELIVERY: frozenset[str] = frozenset({"card_key", "loop_key"})


def keyless(delivery_type: str) -> bool:
    return delivery_type in KEYLESS


def announces_keys(delivery_type: str) -> bool:
    """Whether a paid order of this type is announced as KeysAllocated (manual / recharge are not:
    delivery would read an allocation without keys as a failure)."""
    return delivery_type in KEYED_DELIVERY


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    ALLOCATED = "allocated"


class OnApproved(StrEnum):
    RESERVE = "reserve"
    IGNORE = "ignore"


class OnCancelled(StrEnum):
    RELEASE = "release"
    IGNORE = "ignore"


class OnPaid(StrEnum):
    ALLOCATE_RESERVED = "allocate_reserved"  # the reservation held: its keys become sold
    RECLAIM = "reclaim"  # the reservation lapsed (or never existed): claim again from what is left
    IGNORE = "ignore"  # already allocated


def on_approved(current: ReservationStatus | None) -> OnApproved:
    """Reserve once per order; any existing reservation means this order was already handled."""
    return OnApproved.RESERVE if current is None else OnApproved.IGNORE


def on_cancelled(current: ReservationStatus | None) -> OnCancelled:
    """Only an active reservation is released; released, allocated or absent ones stay as they are."""
    return OnCancelled.RELEASE if current is ReservationStatus.ACTIVE else OnCancelled.IGNORE


def on_paid(current: ReservationStatus | None) -> OnPaid:
    if current is ReservationStatus.ACTIVE:
        return OnPaid.ALLOCATE_RESERVED
    if current is ReservationStatus.ALLOCATED:
        return OnPaid.IGNORE
    return OnPaid.RECLAIM


def enough_stock(requested: int, claimable: int) -> bool:
    """All or none: a reservation takes `requested` keys or nothing."""
    return requested >= 1 and claimable >= requested


#: Why an order got no stock (recorded with the refusal; AllocationFailed's reason for a paid order).
OUT_OF_STOCK = "out_of_stock"
UNKNOWN_PRODUCT = "unknown_product"
#: The order names a product of another shop: nothing of that product is reserved or sold for it.
OTHER_SHOPS_PRODUCT = "product_of_another_shop"


def allocation_failure_reason(current: ReservationStatus | None) -> str:
    """Why a paid order got no keys: its reservation lapsed, or it never had one."""
    return "out_of_stock_after_expiry" if current is ReservationStatus.RELEASED else OUT_OF_STOCK
