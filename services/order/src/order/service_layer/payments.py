"""Payment use cases: taking a provider's notification, starting a payment, reconciling with providers,
the daily reconciliation report, and refunds."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from uuid import UUID

from faka_common.contracts import OrderPaid
from faka_common.contracts.order import OrderNeedsAttention, OrderRefunded
from faka_common.errors import Conflict, DomainError, NotFound
from uuid6 import uuid7

from order.adapters.metrics import count_discrepancy, count_reconciliation
from order.adapters.payer_lists import Blocker, NoPayerLists, PayerLists
from order.adapters.payments.base import (
    PaidTrade,
    PaymentAdapter,
    PaymentOrder,
    PaymentRequest,
    ProviderError,
    RawNotification,
)
from order.adapters.payments.registry import PaymentProviders
from order.domain.fulfilment import fulfilment_request
from order.domain.model import AMOUNT_MISMATCH, PAYER_BLOCKED, InvalidTransition, Order, Status
from order.domain.payment_channels import PLATFORM, Collector
from order.domain.payments import (
    FREE,
    SANDBOX,
    BadNotification,
    PaymentNotice,
    VerifiedPayment,
    check_matches,
    free_payment,
)
from order.service_layer.payment_channels import (
    Collecting,
    check_collector,
    collecting,
    collector_of,
    collector_of_answers,
    expected_collector,
    offered,
    verifying,
)
from order.service_layer.pricing import settle_coupon_use
from order.service_layer.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

PaymentResult = Literal["accepted", "duplicate"]
UowFactory = Callable[[], OrderUnitOfWork]
NO_PAYER_LISTS = NoPayerLists()
RECONCILE_BATCH = 50
REPORT_LIMIT = 2000


def _now() -> datetime:
    return datetime.now(UTC)


async def receive_payment(
    shop_id: UUID | None,
    provider: str,
    notification: RawNotification,
    uow: OrderUnitOfWork,
    providers: PaymentProviders,
    now: datetime | None = None,
    verifier: Collecting | None = None,
) -> PaymentResult:
    """Verify a provider's notification completely (signature, time, merchant, status), then apply it to the
    shop's order (another shop's order is NotFound and unchanged; no shop: the order of any shop, found by its
    signed number). Sent to the shop's path, it is verified with the shop's own channel when the shop has
    one, else (and at the platform's path) with the platform's credentials. A transient verification failure
    that names such an order queues it for the reconciler."""
    at = now or _now()
    verifier = verifier or await verifying(uow, providers, shop_id, provider)
    try:
        verified = await verifier.adapter.verify(notification, at)
        notice = dataclasses.replace(verified, collected_by=verifier.collected_by)
    except BadNotification as error:
        if error.transient and error.order_no:
            async with uow:
                named = await uow.orders.get_by_no(shop_id, error.order_no)
                if named is not None:
                    await uow.checks.add(named.shop_id, provider, named.order_no, error.message, at)
                    await uow.commit()
        raise
    return await apply_payment(shop_id, notice, uow, at, providers.payers)


async def apply_payment(
    shop_id: UUID | None,
    notice: VerifiedPayment,
    uow: OrderUnitOfWork,
    at: datetime,
    payers: PayerLists | None = None,
) -> PaymentResult:
    """Apply a verified payment to the shop's order (no shop: any shop's) once: the UNIQUE(shop, provider,
    trade_no) insert decides which of several concurrent identical notifications does the work, and the
    order row lock orders it against every other change to the order. A payment verified with the platform's
    credentials for an order the shop collects (or the other way round) is refused, changing nothing. A real
    payment of the wrong amount or currency flags the order (kept for a refund, never delivered) and is
    refused. A payment from an account a risk blocklist names (`payers`) is kept and the order paid, but
    held: OrderPaid is not announced (nothing is allocated or delivered, the reservation lapses back into
    stock) and the seller is alerted (OrderNeedsAttention) to refund it. The order is read locked: a
    duplicate notification waits for the first one's commit, then finds its payment recorded."""
    async with uow:
        found = await uow.channels.lock_order_with_collector(shop_id, notice.order_no, notice.provider)
        if found is None:
            raise NotFound(f"unknown order number {notice.order_no[:64]!r}")
        order, started, shop_enabled = found
        check_collector(collector_of_answers(started, shop_enabled), notice.collected_by, order.order_no)
        try:
            check_matches(notice, order.amount, order.currency)
        except BadNotification as mismatch:
            if await uow.payments.add_exception(order, notice, mismatch.message, at):
                order.flag_payment_mismatch(at)
                await uow.orders.save(order)
                await uow.commit()
                count_discrepancy(AMOUNT_MISMATCH)
                log.warning("order %s flagged: %s via %s", order.order_no, mismatch.message, notice.provider)
            raise
        if not await uow.payments.add(order, notice, at):
            log.info(
                "payment %s/%s for %s already recorded", notice.provider, notice.trade_no, notice.order_no
            )
            return "duplicate"
        before = order.status
        try:
            order.pay(at)
        except InvalidTransition:
            reason = order.flag_extra_payment(at)
            log.warning(
                "order %s in state %s got payment %s: %s",
                order.order_no,
                order.status,
                notice.trade_no,
                reason,
            )
            await uow.orders.save(order)
            await uow.commit()
            count_discrepancy(reason)
            return "accepted"
        await settle_coupon_use(uow, order, before, at)
        payer, blocker = notice.payer_account, None
        if payer is not None:
            blocker = await (payers or NO_PAYER_LISTS).blocked(order.shop_id, payer)
        if payer is not None and blocker is not None:
            _hold_blocked_payer(uow, order, payer, blocker, at)
        else:
            _announce_paid(uow, order, notice, at)
            await uow.orders.save(order, uow.take_outbox())  # the save and OrderPaid in one round trip
            await uow.commit()
            log.info("order %s paid via %s", order.order_no, notice.provider)
            return "accepted"
        await uow.orders.save(order)
        await uow.commit()
    count_discrepancy(PAYER_BLOCKED)
    log.warning("order %s paid by %s, blocked by the %s: held", order.order_no, notice.payer_account, blocker)
    return "accepted"


def _hold_blocked_payer(
    uow: OrderUnitOfWork, order: Order, account: str, blocker: Blocker, at: datetime
) -> None:
    order.hold_blocked_payer(at)
    lists = "the platform's risk blocklist" if blocker == "platform" else "the shop's risk blocklist"
    uow.publish(
        OrderNeedsAttention(
            order_id=order.id,
            shop_id=order.shop_id,
            order_no=order.order_no,
            reason=PAYER_BLOCKED,
            detail=f"paid by {account}, which {lists} names: the order is held and delivers nothing; "
            "refund it",
        )
    )


async def release_held_order(
    shop_id: UUID, order_no: str, reason: str, by: str, uow: OrderUnitOfWork, now: datetime | None = None
) -> Order:
    """Deliver a held order after all (a person vouched for who paid it): the hold is lifted, the release
    recorded with who and why, and the payment announced as its notification would have been (OrderPaid,
    and the fulfilment request of recharge or manual goods). Once: the order row's lock orders two releases,
    and the second finds nothing held (NotHeld, a 409)."""
    at = now or _now()
    async with uow:
        order = await uow.orders.lock_by_no(shop_id, order_no)
        if order is None:
            raise NotFound(f"unknown order number {order_no[:64]!r}")
        held_for = order.release_for_delivery(at)
        paid = await uow.payments.for_order(order.id)
        await uow.releases.add(order.shop_id, order.id, held_for, reason, by, at)
        await uow.orders.save(order)
        _announce_paid(uow, order, dataclasses.replace(paid[0], order_no=order.order_no), order.paid_at or at)
        await uow.commit()
    log.warning("order %s, held (%s), released for delivery by %s: %s", order.order_no, held_for, by, reason)
    return order


def _announce_paid(uow: OrderUnitOfWork, order: Order, notice: VerifiedPayment, at: datetime) -> None:
    """OrderPaid and, for recharge or manual goods, the request delivery acts on (paying transaction)."""
    uow.publish(
        OrderPaid(
            order_id=order.id,
            shop_id=order.shop_id,
            order_no=order.order_no,
            product_id=order.product_id,
            quantity=order.quantity,
            amount=notice.amount,
            currency=notice.currency,
            provider=notice.provider,
            trade_no=notice.trade_no,
            paid_at=at,
            collected_by=notice.collected_by,
            payer_account=notice.payer_account,
        )
    )
    request = fulfilment_request(order)
    if request is not None:
        uow.publish(request)


async def settle_free_order(order: Order, uow: OrderUnitOfWork) -> None:
    """A zero-amount order just paid without a provider (in the caller's transaction, with the order row
    locked): record its `free` payment and announce it like any other; delivery follows as usual. The
    payment's UNIQUE(provider, trade_no) keeps it to one record however often this runs."""
    assert order.free and order.paid_at is not None, "only a zero-amount order that was just paid"
    notice = free_payment(order.order_no, order.currency)
    if not await uow.payments.add(order, notice, order.paid_at):
        log.info("order %s: free payment recorded already", order.order_no)
        return
    _announce_paid(uow, order, notice, order.paid_at)
    log.info("order %s has nothing to pay: paid without a provider", order.order_no)


def payment_order(order: Order, provider_ref: str | None = None, access_token: str = "") -> PaymentOrder:
    return PaymentOrder(
        order.id,
        order.order_no,
        order.amount,
        order.currency,
        order.product_title,
        order.expires_at,
        provider_ref,
        access_token,
    )


async def start_payment(
    order: Order, provider: str, uow: OrderUnitOfWork, providers: PaymentProviders, access_token: str
) -> PaymentRequest:
    """Ask the chosen provider for a pay URL / QR payload, through the shop's own channel when it has one
    enabled (else the platform's); only offered channels, only while unpaid."""
    if order.status is not Status.AWAITING_PAYMENT or order.free:
        raise Conflict(f"order {order.order_no} is {order.status}; there is nothing to pay")
    if provider not in await offered(uow, providers, order.shop_id, order.product_id, order.amount):
        raise Conflict(f"payment method {provider[:40]!r} is not offered for this order")
    async with uow:
        collector = await collecting(uow, providers, order.shop_id, provider)
    request = await collector.adapter.create(payment_order(order, access_token=access_token))
    async with uow:
        await uow.payments.record_attempt(
            order, provider, request.provider_ref, _now(), collector.collected_by
        )
        await uow.commit()
    return request


@dataclass
class ReconcileSummary:
    asked: int = 0
    completed: int = 0
    failures: list[str] = field(default_factory=list)


def _providers_to_ask(attempts: dict[str, str | None], providers: PaymentProviders) -> list[str]:
    """The providers the buyer started paying with (the platform's, or a shop's own channel); the sandbox's
    checkout page needs no start, so the sandbox is always asked when it is on."""
    names = [name for name in attempts if name in providers.names or providers.shops is not None]
    if SANDBOX in providers.names and SANDBOX not in names:
        names.append(SANDBOX)
    return names


async def _collector(
    order: Order, provider: str, providers: PaymentProviders, uow_factory: UowFactory
) -> tuple[Collector, PaymentAdapter | None]:
    """Who collects the order's payment with `provider`, and the adapter that asks the provider for them
    (None: the platform's, which no longer offers it)."""
    async with uow_factory() as uow:
        collected_by = await expected_collector(uow, order, provider)
        if collected_by == PLATFORM and provider not in providers.names:
            return collected_by, None
        return collected_by, await collector_of(uow, providers, order.shop_id, provider, collected_by)


async def _ask(
    order: Order,
    provider: str,
    ref: str | None,
    providers: PaymentProviders,
    uow_factory: UowFactory,
    at: datetime,
) -> bool:
    """Ask one provider about one order (whoever the buyer was sent to pay); apply a paid answer like a
    notification, with the payer it names. True when it paid."""
    collected_by, adapter = await _collector(order, provider, providers, uow_factory)
    if adapter is None:
        return False
    status = await adapter.query(payment_order(order, ref))
    if status.state != "paid" or status.trade_no is None or status.amount is None:
        return False
    currency = status.currency or ""
    notice = VerifiedPayment(
        provider, order.order_no, status.trade_no, status.amount, currency, collected_by, status.payer_account
    )
    # the payer the answer names meets the blocklists as a notification's does
    result = await apply_payment(order.shop_id, notice, uow_factory(), at, providers.payers)
    log.warning(
        "reconciler: %s says order %s is paid (%s); the callback was lost", provider, order.order_no, result
    )
    return result == "accepted"


async def reconcile_once(
    uow_factory: UowFactory,
    providers: PaymentProviders,
    lead: timedelta,
    lookback: timedelta,
    every: timedelta,
    now: datetime | None = None,
    limit: int = RECONCILE_BATCH,
) -> ReconcileSummary:
    """One round: ask providers about unpaid orders near (or just past) their expiry, and about orders whose
    notification failed verification transiently; a paid answer completes the order."""
    at = now or _now()
    summary = ReconcileSummary()
    async with uow_factory() as uow:
        due = await uow.orders.claim_for_reconciliation(at, lead, lookback, every, limit)
        checks = await uow.checks.claim(limit, at)
        await uow.commit()
    work: list[tuple[Order, str, str | None]] = []
    for order in due:
        async with uow_factory() as uow:
            attempts = await uow.payments.attempts(order.id)
        work += [(order, name, attempts.get(name)) for name in _providers_to_ask(attempts, providers)]
    for shop_id, provider, order_no in checks:
        async with uow_factory() as uow:
            checked = await uow.orders.get_by_no(shop_id, order_no)
            attempts = await uow.payments.attempts(checked.id) if checked else {}
        if checked is not None and (provider in providers.names or providers.shops is not None):
            work.append((checked, provider, attempts.get(provider)))
    for order, provider, ref in work:
        summary.asked += 1
        try:
            if await _ask(order, provider, ref, providers, uow_factory, at):
                summary.completed += 1
        except DomainError as error:
            summary.failures.append(f"{provider}/{order.order_no}: {error.message}")
            log.warning("reconciler could not settle %s with %s: %s", order.order_no, provider, error.message)
    count_reconciliation(summary.asked, summary.completed, len(summary.failures))
    return summary


async def reconciliation_report(
    shop_id: UUID, day: date, uow_factory: UowFactory, providers: PaymentProviders
) -> dict[str, Any]:
    """Ours vs the provider's for one UTC day of one shop: every payment we recorded (confirmed or not by its
    provider), unpaid orders a provider says were paid, and payments we refused for a wrong amount."""
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    async with uow_factory() as uow:
        ours = await uow.payments.received_between(shop_id, start, end)
        refused = await uow.payments.exceptions_between(shop_id, start, end)
        unpaid = await uow.orders.unpaid_created_between(shop_id, start, end, REPORT_LIMIT)
        attempts = {o.order_no: await uow.payments.attempts(o.id) for o in unpaid}
    per_provider: dict[str, dict[str, Any]] = {}

    def bucket(name: str) -> dict[str, Any]:
        return per_provider.setdefault(
            name,
            {
                "ours": {"count": 0, "amount": 0},
                "confirmed": 0,
                "mismatches": [],
                "unverifiable": [],
                "provider_only": [],
            },
        )

    for row in ours[:REPORT_LIMIT]:
        entry = bucket(row["provider"])
        entry["ours"]["count"] += 1
        entry["ours"]["amount"] += row["amount"]
        if row["provider"] == FREE:
            entry["confirmed"] += 1  # nothing was charged: no provider holds a record to compare with
            continue
        collected_by = row["collected_by"]
        if collected_by == PLATFORM and row["provider"] not in providers.names:
            entry["unverifiable"].append({"order_no": row["order_no"], "reason": "provider not enabled"})
            continue
        facts = PaymentOrder(
            uuid7(), row["order_no"], row["order_amount"], row["currency"], row["product_title"], None
        )
        try:
            async with uow_factory() as uow:
                adapter = await collector_of(uow, providers, shop_id, row["provider"], collected_by)
            theirs = await adapter.query(facts)
        except DomainError as error:
            entry["unverifiable"].append({"order_no": row["order_no"], "reason": error.message})
            continue
        if theirs.state == "paid" and theirs.amount == row["amount"]:
            entry["confirmed"] += 1
        else:
            entry["mismatches"].append(
                {
                    "order_no": row["order_no"],
                    "trade_no": row["trade_no"],
                    "ours": row["amount"],
                    "provider_state": theirs.state,
                    "provider_amount": theirs.amount,
                }
            )
    for order in unpaid:
        tried = attempts[order.order_no]
        for name in _providers_to_ask(tried, providers):
            try:
                asked = (await _collector(order, name, providers, uow_factory))[1]
                if asked is None:
                    continue
                theirs = await asked.query(payment_order(order, tried.get(name)))
            except DomainError:
                continue
            if theirs.state == "paid":
                bucket(name)["provider_only"].append(
                    {
                        "order_no": order.order_no,
                        "trade_no": theirs.trade_no,
                        "provider_amount": theirs.amount,
                    }
                )
    return {
        "date": day.isoformat(),
        "providers": per_provider,
        "refused_payments": [{**r, "received_at": r["received_at"].isoformat()} for r in refused],
    }


@dataclass(frozen=True)
class RefundOutcome:
    refund_no: str
    order: Order
    amount: int
    status: str


async def refund_order(
    shop_id: UUID,
    order_no: str,
    amount: int | None,
    reason: str,
    uow_factory: UowFactory,
    providers: PaymentProviders,
    now: datetime | None = None,
    refund_no: str | None = None,
) -> RefundOutcome:
    """Give money back on one of the shop's orders through the provider that took it. The refund is booked
    as pending first (so two operators cannot both refund the remainder), then asked of the provider, then
    applied to the order with OrderRefunded. A provider that cannot be reached leaves it pending: its
    outcome is unknown.

    Given a `refund_no` that is already booked and still pending, the same refund is asked again under the
    same number (the provider deduplicates on it); one that already succeeded is answered as it was."""
    at = now or _now()
    refund_no = refund_no or f"R{uuid7().hex}"
    async with uow_factory() as uow:
        order = await uow.orders.lock_by_no(shop_id, order_no)
        if order is None:
            raise NotFound(f"unknown order number {order_no[:64]!r}")
        booked = await uow.refunds.by_no(refund_no)
        if booked is not None and booked["order_id"] != order.id:
            raise Conflict(f"refund {refund_no[:40]!r} belongs to another order")
        if booked is not None and booked["status"] == "succeeded":
            return RefundOutcome(refund_no, order, booked["amount"], "succeeded")
        if booked is not None and booked["status"] != "pending":
            raise Conflict(f"refund {refund_no[:40]!r} was refused: {booked['error'] or 'no reason'}")
        paid = await uow.payments.for_order(order.id)
        if booked is not None:
            wanted = int(booked["amount"])
            trade = next(p for p in paid if p.trade_no == booked["trade_no"])
            await uow.commit()
        else:
            if not paid or order.refundable == 0:
                raise Conflict(
                    f"order {order_no} is {order.status}; nothing has been paid that can be refunded"
                )
            available = order.refundable - await uow.refunds.pending_total(order.id)
            wanted = available if amount is None else amount
            if wanted <= 0 or wanted > available:
                raise Conflict(f"at most {max(available, 0)} can be refunded on order {order_no} now")
            trade = paid[0]
            await _book_refund(uow, refund_no, order, trade, wanted, reason, at)
    return await _settle_refund(order, refund_no, trade, wanted, reason, providers, uow_factory, at)


async def _book_refund(
    uow: OrderUnitOfWork,
    refund_no: str,
    order: Order,
    trade: PaymentNotice,
    wanted: int,
    reason: str,
    at: datetime,
) -> None:
    await uow.refunds.add(
        {
            "id": uuid7(),
            "refund_no": refund_no,
            "shop_id": order.shop_id,
            "order_id": order.id,
            "provider": trade.provider,
            "trade_no": trade.trade_no,
            "amount": wanted,
            "currency": trade.currency,
            "reason": reason[:200],
            "status": "pending",
            "requested_at": at,
        }
    )
    await uow.commit()


async def _settle_refund(
    booked_on: Order,
    refund_no: str,
    trade: PaymentNotice,
    wanted: int,
    reason: str,
    providers: PaymentProviders,
    uow_factory: UowFactory,
    at: datetime,
) -> RefundOutcome:
    """Ask the provider for a booked refund and apply its answer to the order."""
    order_no = booked_on.order_no
    async with uow_factory() as uow:
        adapter = await collector_of(uow, providers, booked_on.shop_id, trade.provider, trade.collected_by)
    try:
        result = await adapter.refund(
            PaidTrade(order_no, trade.trade_no, trade.amount, trade.currency), wanted, refund_no
        )
    except ProviderError:
        log.error("refund %s of order %s: provider outcome unknown; left pending", refund_no, order_no)
        raise
    except DomainError as refused:
        async with uow_factory() as uow:
            await uow.refunds.finish(refund_no, "failed", _now(), error=refused.message[:500])
            await uow.commit()
        raise
    async with uow_factory() as uow:
        order = await uow.orders.lock(booked_on.shop_id, booked_on.id)
        assert order is not None
        booked = await uow.refunds.by_no(refund_no)
        if booked is not None and booked["status"] == "succeeded":
            return RefundOutcome(refund_no, order, wanted, "succeeded")
        order.refund(wanted, at)
        await uow.orders.save(order)
        await uow.refunds.finish(refund_no, "succeeded", _now(), result.provider_refund_id)
        uow.publish(
            OrderRefunded(
                order_id=order.id,
                shop_id=order.shop_id,
                order_no=order.order_no,
                product_id=order.product_id,
                quantity=order.quantity,
                refund_no=refund_no,
                amount=wanted,
                refunded_total=order.refunded_amount,
                order_amount=order.amount,
                currency=order.currency,
                full=order.status is Status.REFUNDED,
                provider=trade.provider,
                reason=reason[:200],
                refunded_at=at,
                collected_by=trade.collected_by,
            )
        )
        await uow.commit()
    log.info("order %s refunded %d via %s (%s)", order_no, wanted, trade.provider, refund_no)
    return RefundOutcome(refund_no, order, wanted, "succeeded")
