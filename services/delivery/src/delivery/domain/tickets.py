"""After-sales tickets: a buyer's ticket about an order, its messages, and the one replacement claim a
delivered key may have. Levels: L1 is answered by the system (an automatic replacement), L2 by the shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from faka_common.contracts.aftersales import TicketCategory

TicketStatus = Literal["open", "answered", "resolved"]
Level = Literal["L1", "L2"]
Author = Literal["buyer", "shop", "system"]
ClaimStatus = Literal["requested", "replaced", "refused"]

NO_KEY_NAMED = "no_key_named"
NOT_REPLACEABLE = "not_replaceable"
KEY_ALREADY_REPORTED = "key_already_reported"
"""Why delivery itself sends a key_invalid ticket to the shop (inventory's reasons: RefusalReason)."""


@dataclass
class Ticket:
    id: UUID
    shop_id: UUID
    order_id: UUID
    order_no: str
    product_id: UUID
    category: TicketCategory
    status: TicketStatus
    level: Level
    created_at: datetime
    updated_at: datetime
    key_id: UUID | None = None
    reason: str | None = None
    resolved_at: datetime | None = None

    def automate(self, now: datetime) -> None:
        """The system works on it (a replacement was asked for)."""
        self.level, self.updated_at = "L1", now

    def escalate(self, reason: str, now: datetime) -> None:
        """To the shop's queue, with the reason the buyer is shown."""
        self.level, self.reason, self.updated_at = "L2", reason, now
        if self.status == "resolved":
            self.status, self.resolved_at = "open", None

    def resolve(self, now: datetime) -> None:
        self.status, self.resolved_at, self.updated_at = "resolved", now, now

    def shop_replied(self, now: datetime, resolve: bool) -> None:
        """A reply by the shop is the shop taking the ticket (L2); it answers or closes it."""
        self.level = "L2"
        if resolve:
            self.resolve(now)
        else:  # an answer without closing reopens a resolved ticket: it is not resolved any more
            self.status, self.resolved_at, self.updated_at = "answered", None, now

    def buyer_wrote(self, now: datetime) -> None:
        """The buyer's word reopens an answered or resolved ticket, for the shop."""
        if self.status != "open":
            self.level = "L2"
        self.status, self.resolved_at, self.updated_at = "open", None, now


@dataclass(frozen=True)
class TicketMessage:
    id: UUID
    ticket_id: UUID
    shop_id: UUID
    author: Author
    author_label: str
    body: str
    created_at: datetime


@dataclass
class ReplacementClaim:
    """At most one per delivered key (the table's unique key): the first report of a key asks inventory
    for a replacement; every later report of it goes to the shop."""

    id: UUID
    shop_id: UUID
    order_id: UUID
    ticket_id: UUID
    key_id: UUID
    status: ClaimStatus
    created_at: datetime
    new_key_id: UUID | None = None
    reason: str | None = None
    completed_at: datetime | None = None
