"""After-sales tickets: the buyer opens one and the system answers what a rule can (L1: a key reported invalid
asks inventory for a replacement, once per key; "how to use" gets the product's instructions; "not received"
on a delivered order gets where the key is and the delivery e-mail again); the rest waits for the shop (L2)
on its SLA timers; the buyer or the shop may take it to the platform (L3), and a periodic sweep makes a
ticket past its deadline overdue and one past its escalation deadline the platform's."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from faka_common.contracts.aftersales import KeyReplaced, KeyReplacementRefused, KeyReplacementRequested
from faka_common.contracts.tickets import (
    CannedReplyBody,
    DeliveryEmailResendRequested,
    NewTicket,
    SystemNote,
    TicketEscalated,
    TicketEscalation,
    TicketMessageAdded,
    TicketOverdue,
    TicketReply,
    note_label,
)
from faka_common.errors import Conflict, NotFound
from uuid6 import uuid7

from delivery.adapters import ticket_metrics
from delivery.adapters.metrics import count_ticket
from delivery.adapters.tickets import TicketQuery
from delivery.domain.model import CARD_KEY
from delivery.domain.tickets import (
    ESCALATION_REQUESTED,
    KEY_ALREADY_REPORTED,
    NO_KEY_NAMED,
    NOT_REPLACEABLE,
    Author,
    CannedReply,
    Escalator,
    ReplacementClaim,
    SlaTimers,
    Ticket,
    TicketMessage,
)
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)

WHERE_IS_MY_KEY = (
    "您的订单已发货，卡密可以在三个地方找到：\n"
    "1. 订单页面：下单后打开的页面，或订单确认邮件中的链接；\n"
    "2. 发货邮件：请同时查看垃圾邮件箱，我们刚刚已重新发送一次；\n"
    "3. 查询订单：在任何设备上用订单号和查询密码打开订单。\n"
    "Your order was delivered; the key is in three places:\n"
    "1. The order page: the page you saw after ordering, or the link in your order e-mail;\n"
    "2. The delivery e-mail: look in the spam folder too; we have just sent it again;\n"
    "3. Look up an order: open it on any device with the order number and the query password."
)
USAGE = "使用说明 / How to use:\n{instructions}"
SWEEP_BATCH = 200


@dataclass(frozen=True)
class TicketThread:
    ticket: Ticket
    messages: list[TicketMessage]


def now_utc() -> datetime:
    return datetime.now(UTC)


def _message(ticket: Ticket, author: Author, label: str, body: str, now: datetime) -> TicketMessage:
    return TicketMessage(uuid7(), ticket.id, ticket.shop_id, author, label, body, now)


async def _post(
    uow: DeliveryUnitOfWork, ticket: Ticket, message: TicketMessage, opened: bool = False
) -> None:
    """Add the message to the ticket, with its event (the ticket as the message leaves it; no text)."""
    await uow.tickets.add_message(message)
    uow.publish(
        TicketMessageAdded(
            order_id=ticket.order_id,
            shop_id=ticket.shop_id,
            ticket_id=ticket.id,
            message_id=message.id,
            order_no=ticket.order_no,
            author=message.author,
            level=ticket.level,
            status=ticket.status,
            category=ticket.category,
            opened=opened,
            created_at=message.created_at,
        )
    )


async def open_ticket(shop_id: UUID, new: NewTicket, uow: DeliveryUnitOfWork) -> TicketThread:
    """The buyer's ticket (the gateway checked the order's secret), answered at once where a rule can
    (L1), else the shop's (L2) on its timers, with the reason the system could not answer."""
    now = now_utc()
    ticket = Ticket(
        uuid7(), shop_id, new.order_id, new.order_no, new.product_id, new.category, "open", "L2", now, now,
        key_id=new.key_id,
    )  # fmt: skip
    messages = [_message(ticket, "buyer", "buyer", new.message, now)]
    await uow.tickets.add(ticket)
    answer = await _first_answer(uow, ticket, new, now)
    if answer is not None:  # labelled so the buyer's page shows it (the system's notes it does not)
        messages.append(_message(ticket, "system", "answer", answer, now))
    await uow.tickets.save(ticket)
    for i, message in enumerate(messages):
        await _post(uow, ticket, message, opened=i == 0)
    await uow.commit()
    count_ticket(ticket.category, ticket.level)
    log.info(
        "ticket %s opened for order %s: %s, %s", ticket.id, ticket.order_id, ticket.category, ticket.level
    )
    return TicketThread(ticket, messages)


async def _first_answer(uow: DeliveryUnitOfWork, ticket: Ticket, new: NewTicket, now: datetime) -> str | None:
    """What the system answers at once (L1), or None: a replacement under way, or the shop's (L2)."""
    if new.category == "key_invalid":
        reason = await _claim_replacement(uow, ticket, now)
        if reason is None:
            ticket.automate(now)
            return None
        ticket.escalate(reason, now, await uow.slas.shop(ticket.shop_id))
        return None
    if new.category == "how_to_use" and new.usage_instructions and new.usage_instructions.strip():
        ticket.answered_by_system(now)
        return USAGE.format(instructions=new.usage_instructions.strip())
    if new.category == "not_received":
        delivery = await uow.deliveries.get(ticket.shop_id, ticket.order_id)
        if delivery is not None and delivery.status == "succeeded":
            ticket.answered_by_system(now)
            uow.publish(
                DeliveryEmailResendRequested(
                    order_id=ticket.order_id, shop_id=ticket.shop_id, ticket_id=ticket.id,
                    order_no=ticket.order_no,
                )
            )  # fmt: skip
            return WHERE_IS_MY_KEY
    ticket.escalate(None, now, await uow.slas.shop(ticket.shop_id))
    return None


async def _claim_replacement(uow: DeliveryUnitOfWork, ticket: Ticket, now: datetime) -> str | None:
    """Ask inventory to replace the key (None), or say why the shop must look at it instead."""
    if ticket.key_id is None:
        return NO_KEY_NAMED
    delivery = await uow.deliveries.get(ticket.shop_id, ticket.order_id)
    if (
        delivery is None
        or delivery.status != "succeeded"
        or delivery.mode != CARD_KEY
        or delivery.completed_at is None
    ):
        return NOT_REPLACEABLE
    claim = ReplacementClaim(
        uuid7(), ticket.shop_id, ticket.order_id, ticket.id, ticket.key_id, "requested", now
    )
    if not await uow.claims.add(claim):
        return KEY_ALREADY_REPORTED
    uow.publish(
        KeyReplacementRequested(
            order_id=ticket.order_id,
            shop_id=ticket.shop_id,
            product_id=ticket.product_id,
            claim_id=claim.id,
            ticket_id=ticket.id,
            key_id=ticket.key_id,
            delivered_at=delivery.completed_at,
        )
    )
    return None


async def record_replacement(event: KeyReplaced, uow: DeliveryUnitOfWork) -> None:
    """Inventory replaced the key: the claim and the ticket are done (L1, answered by the system)."""
    note = "新的卡密已替换您报告的卡密。\nA new key replaced the reported one."
    await _settle(uow, event.shop_id, event.claim_id, event.ticket_id, event.key_id, None, note)


async def record_refusal(event: KeyReplacementRefused, uow: DeliveryUnitOfWork) -> None:
    """Inventory did not replace the key: the ticket goes to the shop with the reason."""
    note = f"Not replaced automatically: {event.reason}. {event.detail}"
    await _settle(uow, event.shop_id, event.claim_id, event.ticket_id, None, event.reason, note)


async def _settle(
    uow: DeliveryUnitOfWork,
    shop_id: UUID,
    claim_id: UUID,
    ticket_id: UUID,
    new_key_id: UUID | None,
    refusal: str | None,
    note: str,
) -> None:
    """Inventory's answer to a claim, once: a claim no longer requested ignores it (guarded transition)."""
    claim = await uow.claims.lock(shop_id, claim_id)
    ticket = await uow.tickets.get(shop_id, ticket_id, lock=True)
    if claim is None or ticket is None or claim.status != "requested":
        log.info(
            "claim %s is %s; ignoring inventory's answer", claim_id, claim.status if claim else "unknown"
        )
        return
    now = now_utc()
    claim.status = "refused" if refusal else "replaced"
    claim.new_key_id, claim.reason, claim.completed_at = new_key_id, refusal, now
    if refusal:
        ticket.escalate(refusal, now, await uow.slas.shop(shop_id))
    else:
        ticket.resolve(now)
    await uow.claims.save(claim)
    await uow.tickets.save(ticket)
    kind: SystemNote = "replacement_refused" if refusal else "key_replaced"
    await _post(uow, ticket, _message(ticket, "system", note_label(kind), note, now))


async def _threads(uow: DeliveryUnitOfWork, shop_id: UUID, found: Sequence[Ticket]) -> list[TicketThread]:
    messages = await uow.tickets.messages(shop_id, [t.id for t in found])
    return [TicketThread(t, messages[t.id]) for t in found]


async def list_tickets(uow: DeliveryUnitOfWork, shop_id: UUID | None, query: TicketQuery) -> list[Ticket]:
    """A shop's tickets, or (shop None) every shop's: the platform's queue."""
    return await uow.tickets.listed(shop_id, query)


async def ticket_thread(uow: DeliveryUnitOfWork, shop_id: UUID, ticket_id: UUID) -> TicketThread:
    ticket = await uow.tickets.get(shop_id, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return (await _threads(uow, shop_id, [ticket]))[0]


async def order_threads(uow: DeliveryUnitOfWork, shop_id: UUID, order_id: UUID) -> list[TicketThread]:
    """Every ticket of the order with its messages (what the buyer sees)."""
    return await _threads(uow, shop_id, await uow.tickets.of_order(shop_id, order_id))


async def _locked(uow: DeliveryUnitOfWork, shop_id: UUID, ticket_id: UUID, order_id: UUID | None) -> Ticket:
    """The shop's ticket, locked (with `order_id`: only a ticket of that order, the buyer's)."""
    ticket = await uow.tickets.get(shop_id, ticket_id, lock=True)
    if ticket is None or (order_id is not None and ticket.order_id != order_id):
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


async def _timers_of(uow: DeliveryUnitOfWork, ticket: Ticket) -> SlaTimers:
    """The timers of the ticket's support: the platform's for L3, else the shop's (an L1 ticket the buyer
    writes on again becomes the shop's)."""
    return await (uow.slas.platform() if ticket.level == "L3" else uow.slas.shop(ticket.shop_id))


async def reply(
    shop_id: UUID,
    ticket_id: UUID,
    body: TicketReply,
    uow: DeliveryUnitOfWork,
    order_id: UUID | None = None,
) -> TicketThread:
    """A message on the ticket: the shop's or the platform's (order_id None: it answers or resolves it) or
    the buyer's (only on a ticket of `order_id`, the order whose secret the gateway checked; it reopens
    the ticket and a response is due again)."""
    ticket = await _locked(uow, shop_id, ticket_id, order_id)
    now = now_utc()
    if order_id is not None:
        message = _message(ticket, "buyer", "buyer", body.message, now)
        ticket.buyer_wrote(now, await _timers_of(uow, ticket))
    elif body.by == "platform":
        message = _message(ticket, "platform", body.author, body.message, now)
        ticket.platform_replied(now, body.resolve)
    else:
        message = _message(ticket, "shop", body.author, body.message, now)
        ticket.shop_replied(now, body.resolve)
    await uow.tickets.save(ticket)
    await _post(uow, ticket, message)
    await uow.commit()
    return await ticket_thread(uow, shop_id, ticket_id)


async def escalate(
    shop_id: UUID,
    ticket_id: UUID,
    body: TicketEscalation,
    uow: DeliveryUnitOfWork,
    order_id: UUID | None = None,
) -> TicketThread:
    """The shop (order_id None) or the buyer (a ticket of `order_id`) takes the ticket to the platform, with
    why: it waits for the platform on the platform's timers (409 when it is there already)."""
    ticket = await _locked(uow, shop_id, ticket_id, order_id)
    now = now_utc()
    by: Escalator = "buyer" if order_id is not None else "shop"
    ticket.to_platform(by, ESCALATION_REQUESTED, now, await uow.slas.platform())
    label = "buyer" if by == "buyer" else body.author
    await _escalated(uow, ticket)
    await uow.tickets.save(ticket)
    await _post(uow, ticket, _message(ticket, by, label, body.message, now))
    await uow.commit()
    log.info("ticket %s taken to the platform by the %s", ticket.id, by)
    return await ticket_thread(uow, shop_id, ticket_id)


async def _escalated(uow: DeliveryUnitOfWork, ticket: Ticket) -> None:
    assert ticket.escalated_by is not None and ticket.reason is not None
    uow.publish(
        TicketEscalated(
            order_id=ticket.order_id, shop_id=ticket.shop_id, ticket_id=ticket.id, order_no=ticket.order_no,
            category=ticket.category, by=ticket.escalated_by, reason=ticket.reason,
            response_due=ticket.response_due,
        )
    )  # fmt: skip


SLA_NOTE = (
    "商家未在时限内处理，工单已转交平台。\nThe shop did not answer in time: the platform takes this ticket."
)


async def sweep_due(uow: DeliveryUnitOfWork, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Act on the tickets whose deadline passed (locked; another sweeper's are skipped): overdue once, then
    (L2) to the platform. Returns how many were acted on."""
    due = await uow.tickets.due(now, limit)
    platform = await uow.slas.platform() if due else None
    for ticket in due:
        assert platform is not None
        outcome = ticket.sweep(now, platform)
        if outcome == "overdue":
            assert ticket.overdue_at is not None
            deadline = ticket.missed_deadline()
            uow.publish(
                TicketOverdue(
                    order_id=ticket.order_id, shop_id=ticket.shop_id, ticket_id=ticket.id,
                    order_no=ticket.order_no, level=ticket.level, category=ticket.category, deadline=deadline,
                    due_at=ticket.response_due if deadline == "response" else ticket.resolution_due,
                    escalation_due=ticket.escalation_due,
                )
            )  # fmt: skip
        elif outcome == "escalated":
            await _escalated(uow, ticket)
            await _post(uow, ticket, _message(ticket, "system", note_label("sla_escalated"), SLA_NOTE, now))
        await uow.tickets.save(ticket)
    await uow.commit()
    return len(due)


async def sweep_all(uow_factory: Callable[[], DeliveryUnitOfWork]) -> None:
    """Sweep until no ticket is due (a sweep takes a bounded batch), then count the overdue ones."""
    while True:
        async with uow_factory() as uow:
            acted = await sweep_due(uow, now_utc())
        if acted:
            log.warning("ticket sweep: %d ticket(s) past a deadline", acted)
        if acted < SWEEP_BATCH:
            break
    async with uow_factory() as uow:
        ticket_metrics.count_overdue_open(await uow.tickets.overdue_counts())


async def shop_sla(uow: DeliveryUnitOfWork, shop_id: UUID) -> SlaTimers:
    return await uow.slas.shop(shop_id)


async def set_shop_sla(uow: DeliveryUnitOfWork, shop_id: UUID, timers: SlaTimers, by: str) -> None:
    """The shop's L2 timers, for tickets reaching L2 or waiting again from now on."""
    await uow.slas.set_shop(shop_id, timers, by, now_utc())
    await uow.commit()


async def platform_sla(uow: DeliveryUnitOfWork) -> SlaTimers:
    return await uow.slas.platform()


async def set_platform_sla(uow: DeliveryUnitOfWork, timers: SlaTimers, by: str) -> None:
    await uow.slas.set_platform(timers, by, now_utc())
    await uow.commit()


async def canned_replies(uow: DeliveryUnitOfWork, shop_id: UUID, language: str | None) -> list[CannedReply]:
    return await uow.canned.of_shop(shop_id, language)


def _taken(body: CannedReplyBody) -> Conflict:
    return Conflict(f"the shop has a {body.language} canned reply titled {body.title!r}")


async def add_canned_reply(uow: DeliveryUnitOfWork, shop_id: UUID, body: CannedReplyBody) -> CannedReply:
    now = now_utc()
    reply_ = CannedReply(uuid7(), shop_id, body.language, body.title, body.message, now, now, body.updated_by)
    if not await uow.canned.add(reply_):
        raise _taken(body)
    await uow.commit()
    return reply_


async def change_canned_reply(
    uow: DeliveryUnitOfWork, shop_id: UUID, reply_id: UUID, body: CannedReplyBody
) -> CannedReply:
    found = await uow.canned.get(shop_id, reply_id)
    if found is None:
        raise NotFound(f"no canned reply {reply_id}")
    found.language, found.title, found.body = body.language, body.title, body.message
    found.updated_at, found.updated_by = now_utc(), body.updated_by
    if not await uow.canned.save(found):
        raise _taken(body)
    await uow.commit()
    return found


async def remove_canned_reply(uow: DeliveryUnitOfWork, shop_id: UUID, reply_id: UUID) -> None:
    if not await uow.canned.remove(shop_id, reply_id):
        raise NotFound(f"no canned reply {reply_id}")
    await uow.commit()
