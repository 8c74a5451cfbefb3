"""After-sales tickets: the buyer opens one (a key reported invalid asks inventory for a replacement, once per
key), the shop lists and answers them, inventory's answer resolves the ticket or sends it to the shop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from faka_common.contracts.aftersales import KeyReplaced, KeyReplacementRefused, KeyReplacementRequested
from faka_common.contracts.tickets import NewTicket, TicketMessageAdded, TicketReply
from faka_common.errors import NotFound
from uuid6 import uuid7

from delivery.adapters.metrics import count_ticket
from delivery.domain.model import CARD_KEY
from delivery.domain.tickets import (
    KEY_ALREADY_REPORTED,
    NO_KEY_NAMED,
    NOT_REPLACEABLE,
    Author,
    ReplacementClaim,
    Ticket,
    TicketMessage,
)
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)


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
    """The buyer's ticket (the gateway checked the order's secret). A key reported invalid is claimed for
    replacement when it is the first report of that key and the order got it as a card key; otherwise the
    ticket waits for the shop (L2) with the reason."""
    now = now_utc()
    ticket = Ticket(
        uuid7(), shop_id, new.order_id, new.order_no, new.product_id, new.category, "open", "L2", now, now,
        key_id=new.key_id,
    )  # fmt: skip
    first = _message(ticket, "buyer", "buyer", new.message, now)
    await uow.tickets.add(ticket)
    if new.category == "key_invalid":
        await _claim_replacement(uow, ticket, now)
    await uow.tickets.save(ticket)
    await _post(uow, ticket, first, opened=True)
    await uow.commit()
    count_ticket(ticket.category, ticket.level)
    log.info(
        "ticket %s opened for order %s: %s, %s", ticket.id, ticket.order_id, ticket.category, ticket.level
    )
    return TicketThread(ticket, [first])


async def _claim_replacement(uow: DeliveryUnitOfWork, ticket: Ticket, now: datetime) -> None:
    if ticket.key_id is None:
        ticket.escalate(NO_KEY_NAMED, now)
        return
    delivery = await uow.deliveries.get(ticket.shop_id, ticket.order_id)
    if (
        delivery is None
        or delivery.status != "succeeded"
        or delivery.mode != CARD_KEY
        or delivery.completed_at is None
    ):
        ticket.escalate(NOT_REPLACEABLE, now)
        return
    claim = ReplacementClaim(
        uuid7(), ticket.shop_id, ticket.order_id, ticket.id, ticket.key_id, "requested", now
    )
    if not await uow.claims.add(claim):
        ticket.escalate(KEY_ALREADY_REPORTED, now)
        return
    ticket.automate(now)
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


async def record_replacement(event: KeyReplaced, uow: DeliveryUnitOfWork) -> None:
    """Inventory replaced the key: the claim and the ticket are done (L1, answered by the system)."""
    note = "A new key replaced the reported one."
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
        ticket.escalate(refusal, now)
    else:
        ticket.resolve(now)
    await uow.claims.save(claim)
    await uow.tickets.save(ticket)
    await _post(uow, ticket, _message(ticket, "system", "system", note, now))


async def _threads(uow: DeliveryUnitOfWork, shop_id: UUID, found: Sequence[Ticket]) -> list[TicketThread]:
    messages = await uow.tickets.messages(shop_id, [t.id for t in found])
    return [TicketThread(t, messages[t.id]) for t in found]


async def list_tickets(
    uow: DeliveryUnitOfWork, shop_id: UUID, statuses: Sequence[str], levels: Sequence[str], limit: int
) -> list[Ticket]:
    return await uow.tickets.listed(shop_id, statuses, levels, limit)


async def ticket_thread(uow: DeliveryUnitOfWork, shop_id: UUID, ticket_id: UUID) -> TicketThread:
    ticket = await uow.tickets.get(shop_id, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return (await _threads(uow, shop_id, [ticket]))[0]


async def order_threads(uow: DeliveryUnitOfWork, shop_id: UUID, order_id: UUID) -> list[TicketThread]:
    """Every ticket of the order with its messages (what the buyer sees)."""
    return await _threads(uow, shop_id, await uow.tickets.of_order(shop_id, order_id))


async def reply(
    shop_id: UUID,
    ticket_id: UUID,
    body: TicketReply,
    uow: DeliveryUnitOfWork,
    order_id: UUID | None = None,
) -> TicketThread:
    """A message on the ticket: the shop's (order_id None: it answers or resolves it) or the buyer's (only
    on a ticket of `order_id`, the order whose secret the gateway checked; it reopens the ticket)."""
    ticket = await uow.tickets.get(shop_id, ticket_id, lock=True)
    if ticket is None or (order_id is not None and ticket.order_id != order_id):
        raise NotFound(f"no ticket {ticket_id}")
    now = now_utc()
    if order_id is None:
        message = _message(ticket, "shop", body.author, body.message, now)
        ticket.shop_replied(now, body.resolve)
    else:
        message = _message(ticket, "buyer", "buyer", body.message, now)
        ticket.buyer_wrote(now)
    await uow.tickets.save(ticket)
    await _post(uow, ticket, message)
    await uow.commit()
    return await ticket_thread(uow, shop_id, ticket_id)
