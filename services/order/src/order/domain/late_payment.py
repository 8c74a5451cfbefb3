"""The late-payment policy: a paid order that inventory could not fill (its stock was sold while the payment
was late) is refunded automatically and the seller alerted; never a silent loss.

Automatic refunds are retried with exponential backoff a bounded number of times, then left to the
operator."""

from __future__ import annotations

from datetime import datetime, timedelta

from order.domain.model import Status

#: AllocationFailed reasons that mean "no stock left for this paid order".
OUT_OF_STOCK_REASONS: frozenset[str] = frozenset({"out_of_stock", "out_of_stock_after_expiry"})
#: The order's status_reason while its automatic refund is under way.
AUTO_REFUND_PENDING = "auto_refund_pending"
#: OrderNeedsAttention reasons.
ATTENTION_OUT_OF_STOCK = "late_payment_out_of_stock"
ATTENTION_REFUND_FAILED = "auto_refund_failed"
ATTENTION_ALLOCATION_FAILED = "allocation_failed"
REFUND_REASON = "out_of_stock"

MAX_ATTEMPTS = 5
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)


def needs_auto_refund(state_before: Status, reason: str) -> bool:
    """A paid order (its allocation still due) whose allocation failed for want of stock."""
    return state_before is Status.PAID and reason in OUT_OF_STOCK_REASONS


def next_attempt(
    attempts: int,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
    base: timedelta = BASE_BACKOFF,
) -> datetime | None:
    """When to try again after `attempts` failed attempts; None once the attempts are used up."""
    if attempts >= max_attempts:
        return None
    return now + min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
