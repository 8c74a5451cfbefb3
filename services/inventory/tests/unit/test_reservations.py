import pytest
from inventory.domain.reservations import (
    OnApproved,
    OnCancelled,
    OnPaid,
    ReservationStatus,
    allocation_failure_reason,
    enough_stock,
    on_approved,
    on_cancelled,
    on_paid,
)

ACTIVE, RELEASED, ALLOCATED = (
    ReservationStatus.ACTIVE,
    ReservationStatus.RELEASED,
    ReservationStatus.ALLOCATED,
)


def test_approval_reserves_only_once_per_order() -> None:
    assert on_approved(None) is OnApproved.RESERVE
    for status in ReservationStatus:
        assert on_approved(status) is OnApproved.IGNORE


@pytest.mark.parametrize(
    ("status", "action"),
    [(None, OnCancelled.IGNORE), (ACTIVE, OnCancelled.RELEASE), (RELEASED, OnCancelled.IGNORE),
     (ALLOCATED, OnCancelled.IGNORE)],
)  # fmt: skip
def test_cancellation_releases_only_an_active_reservation(
    status: ReservationStatus | None, action: OnCancelled
) -> None:
    assert on_cancelled(status) is action


@pytest.mark.parametrize(
    ("status", "action"),
    [(None, OnPaid.RECLAIM), (ACTIVE, OnPaid.ALLOCATE_RESERVED), (RELEASED, OnPaid.RECLAIM),
     (ALLOCATED, OnPaid.IGNORE)],
)  # fmt: skip
def test_payment_allocates_reserved_keys_or_reclaims_after_a_lapse(
    status: ReservationStatus | None, action: OnPaid
) -> None:
    assert on_paid(status) is action


def test_all_or_none() -> None:
    assert enough_stock(3, 3)
    assert enough_stock(1, 5)
    assert not enough_stock(3, 2)
    assert not enough_stock(1, 0)
    assert not enough_stock(0, 5)


def test_a_lapsed_reservation_fails_as_out_of_stock_after_expiry() -> None:
    assert allocation_failure_reason(RELEASED) == "out_of_stock_after_expiry"
    assert allocation_failure_reason(None) == "out_of_stock"
