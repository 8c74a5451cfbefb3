"""The automatic-refund job of the late-payment policy. Each owed refund is claimed with FOR UPDATE SKIP
LOCKED (so two replicas never work on the same one), refunded through the ordinary full-refund path under the
refund number fixed when it was owed (so a retry after a crash is deduplicated by the provider), retried with
backoff a bounded number of times, then left failed for the operator with OrderNeedsAttention."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faka_common.contracts.order import OrderNeedsAttention
from faka_common.errors import DomainError

from order.adapters.payments.base import ProviderError
from order.adapters.payments.registry import PaymentProviders
from order.domain import late_payment
from order.service_layer import payments
from order.service_layer.payments import UowFactory
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

AUTO_REFUND_BATCH = 20
AUTO_REFUNDED = "auto_refunded"


@dataclass
class AutoRefundSummary:
    refunded: int = 0
    retrying: int = 0
    failed: int = 0


async def auto_refund_once(
    uow_factory: UowFactory,
    providers: PaymentProviders,
    max_attempts: int = late_payment.MAX_ATTEMPTS,
    backoff: timedelta = late_payment.BASE_BACKOFF,
    limit: int = AUTO_REFUND_BATCH,
    now: datetime | None = None,
) -> AutoRefundSummary:
    """Work through the automatic refunds that are due, one locked row at a time."""
    summary = AutoRefundSummary()
    for _ in range(limit):
        at = now or datetime.now(UTC)
        async with uow_factory() as uow:
            due = await uow.auto_refunds.claim_due(at)
            if due is None:
                break
            await _attempt(due, uow, uow_factory, providers, max_attempts, backoff, at, summary)
            await uow.commit()
    return summary


async def _attempt(
    due: dict[str, Any],
    uow: OrderUnitOfWork,
    uow_factory: UowFactory,
    providers: PaymentProviders,
    max_attempts: int,
    backoff: timedelta,
    at: datetime,
    summary: AutoRefundSummary,
) -> None:
    attempts = int(due["attempts"]) + 1
    order_no = due["order_no"]
    error: str
    retry: datetime | None
    try:
        await payments.refund_order(
            due["shop_id"],
            order_no,
            None,
            due["reason"],
            uow_factory,
            providers,
            at,
            refund_no=due["refund_no"],
        )
    except ProviderError as unreachable:
        error = unreachable.message
        retry = late_payment.next_attempt(attempts, at, max_attempts, backoff)
    except DomainError as refused:
        error = refused.message
        retry = None
    except Exception as crash:  # an unexpected failure is retried like an unreachable provider
        log.exception("automatic refund of order %s failed unexpectedly", order_no)
        error = type(crash).__name__
        retry = late_payment.next_attempt(attempts, at, max_attempts, backoff)
    else:
        await uow.auto_refunds.update(
            due["order_id"], at, state="succeeded", attempts=attempts, last_error=None
        )
        order = await uow.orders.lock(due["shop_id"], due["order_id"])
        if order is not None and order.status_reason == late_payment.AUTO_REFUND_PENDING:
            order.status_reason = AUTO_REFUNDED
            order.updated_at = at
            await uow.orders.save(order)
        summary.refunded += 1
        log.warning("order %s refunded automatically (no stock for its payment)", order_no)
        return
    if retry is not None:
        await uow.auto_refunds.update(
            due["order_id"], at, attempts=attempts, last_error=error[:500], next_attempt_at=retry
        )
        summary.retrying += 1
        log.warning("automatic refund of order %s failed (%s); retrying at %s", order_no, error, retry)
        return
    await uow.auto_refunds.update(
        due["order_id"], at, state="failed", attempts=attempts, last_error=error[:500]
    )
    uow.publish(
        OrderNeedsAttention(
            order_id=due["order_id"],
            shop_id=due["shop_id"],
            order_no=order_no,
            reason=late_payment.ATTENTION_REFUND_FAILED,
            detail=f"automatic refund {due['refund_no']} gave up after {attempts} attempts: {error[:200]}",
        )
    )
    summary.failed += 1
    log.error("automatic refund of order %s gave up: %s; the operator must refund it", order_no, error)
