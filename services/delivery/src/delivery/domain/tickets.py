"""After-sales tickets: a buyer's ticket about an order, its messages, and the one replacement claim a
delivered key may have. Levels: L1 is answered by the system (a rule: an automatic replacement, the
product's usage instructions, where a delivered key is), L2 by the shop's support, L3 by the platform (a
dispute the buyer or the shop took to it, or a ticket the shop left past its deadlines).

SLA timers run while a ticket waits for its support (status open at L2 or L3): a response is due within the
level's first-response time of the buyer's word, a resolution within the resolution time of the ticket
reaching the level. Past either the ticket is overdue (once: the shop is told, the alert counts it); an L2
ticket still waiting past its escalation deadline (the resolution deadline plus the shop's escalation time)
goes to the platform. `next_due_at` is the one deadline the periodic sweep acts on next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeAlias
from uuid import UUID

from faka_common.contracts.aftersales import TicketCategory
from faka_common.contracts.tickets import AuthorKind, TicketLevel, TicketStatus
from faka_common.errors import Conflict

Level: TypeAlias = TicketLevel
Author: TypeAlias = AuthorKind
Escalator = Literal["buyer", "shop", "system"]
ClaimStatus = Literal["requested", "replaced", "refused"]
SweepOutcome = Literal["overdue", "escalated"]

NO_KEY_NAMED = "no_key_named"
NOT_REPLACEABLE = "not_replaceable"
KEY_ALREADY_REPORTED = "key_already_reported"
"""Why delivery itself sends a key_invalid ticket to the shop (inventory's reasons: RefusalReason)."""
ESCALATION_REQUESTED = "escalation_requested"
SLA_BREACHED = "sla_breached"
"""Why a ticket is with the platform: the buyer or the shop asked for it, or the shop's deadlines passed."""


class AlreadyWithThePlatform(Conflict):
    """An escalation of a ticket the platform has already (409)."""


class ThePlatformDecides(Conflict):
    """The shop may answer a ticket with the platform but not close it: the dispute is the platform's."""


@dataclass(frozen=True)
class SlaTimers:
    """A level's timers: the first response and the resolution a waiting ticket is due, and (L2 only) how
    long past the resolution deadline it may still wait before it goes to the platform."""

    first_response: timedelta
    resolution: timedelta
    escalation: timedelta | None = None


DEFAULT_SHOP_SLA = SlaTimers(timedelta(hours=4), timedelta(hours=48), timedelta(hours=24))
"""A shop's L2 timers until it sets its own: answer within a working half-day, solve within two days, and
one more day before the platform steps in."""
DEFAULT_PLATFORM_SLA = SlaTimers(timedelta(hours=8), timedelta(hours=72))
"""The platform's L3 timers until it sets its own."""


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
    response_due: datetime | None = None
    resolution_due: datetime | None = None
    escalation_due: datetime | None = None
    overdue_at: datetime | None = None
    next_due_at: datetime | None = None
    escalated_at: datetime | None = None
    escalated_by: Escalator | None = None

    @property
    def overdue(self) -> bool:
        return self.overdue_at is not None

    def automate(self, now: datetime) -> None:
        """The system works on it (a replacement was asked for)."""
        self.level, self.updated_at = "L1", now
        self._plan()

    def answered_by_system(self, now: datetime) -> None:
        """A rule answered it (L1): it waits for the buyer, who may write again for the shop."""
        self.level, self.status, self.updated_at = "L1", "answered", now
        self._plan()

    def escalate(self, reason: str | None, now: datetime, timers: SlaTimers) -> None:
        """To the shop's queue, with the reason the buyer is shown; its L2 timers start."""
        self.level, self.reason, self.updated_at = "L2", reason, now
        if self.status == "resolved":
            self.status, self.resolved_at = "open", None
        self._wait(now, timers, new_level=True)

    def to_platform(self, by: Escalator, reason: str, now: datetime, timers: SlaTimers) -> None:
        """To the platform (L3): a dispute the buyer or the shop takes there, or the shop's deadlines
        passed. It waits for the platform, on the platform's timers; a resolved ticket reopens."""
        if self.level == "L3":
            raise AlreadyWithThePlatform(f"ticket {self.id} is with the platform already")
        self.level, self.reason, self.status, self.resolved_at = "L3", reason, "open", None
        self.escalated_at, self.escalated_by, self.updated_at = now, by, now
        self._wait(now, timers, new_level=True)

    def resolve(self, now: datetime) -> None:
        self.status, self.resolved_at, self.updated_at = "resolved", now, now
        self._answered()

    def shop_replied(self, now: datetime, resolve: bool) -> None:
        """A reply by the shop is the shop taking the ticket (L2; one with the platform stays there, and
        only the platform closes it); it answers or closes it."""
        if self.level == "L3" and resolve:
            raise ThePlatformDecides(f"ticket {self.id} is with the platform: only the platform closes it")
        if self.level != "L3":
            self.level = "L2"
        self._replied(now, resolve)

    def platform_replied(self, now: datetime, resolve: bool) -> None:
        """The platform's staff answer (any level; the level stays, an L1 ticket becomes the shop's)."""
        if self.level == "L1":
            self.level = "L2"
        self._replied(now, resolve)

    def buyer_wrote(self, now: datetime, timers: SlaTimers) -> None:
        """The buyer's word reopens an answered or resolved ticket, for the shop (or the platform, for one
        with it); a response is due again."""
        if self.status != "open" and self.level != "L3":
            self.level = "L2"
        reopened = self.status == "resolved"
        self.status, self.resolved_at, self.updated_at = "open", None, now
        self._wait(now, timers, new_level=reopened)

    def sweep(self, now: datetime, platform: SlaTimers) -> SweepOutcome | None:
        """What a deadline that passed does: the first makes the ticket overdue, the L2 escalation deadline
        sends it to the platform. Nothing when no deadline is due (another sweep acted already)."""
        if self.next_due_at is None or self.next_due_at > now:
            return None
        if self.overdue_at is None:
            self.overdue_at = now
            self._plan()
            return "overdue"
        self.to_platform("system", SLA_BREACHED, now, platform)
        return "escalated"

    def missed_deadline(self) -> Literal["response", "resolution"]:
        """Which deadline an overdue ticket missed first."""
        if self.response_due is not None and (
            self.resolution_due is None or self.response_due <= self.resolution_due
        ):
            return "response"
        return "resolution"

    def _replied(self, now: datetime, resolve: bool) -> None:
        if resolve:
            self.resolve(now)
        else:  # an answer without closing reopens a resolved ticket: it is not resolved any more
            self.status, self.resolved_at, self.updated_at = "answered", None, now
            self._answered()

    def _answered(self) -> None:
        """Nobody owes a response now: the overdue state ends with it."""
        self.response_due, self.overdue_at = None, None
        self._plan()

    def _wait(self, now: datetime, timers: SlaTimers, new_level: bool) -> None:
        if self.level == "L1":
            self._plan()
            return
        self.response_due = now + timers.first_response
        if new_level or self.resolution_due is None:
            self.resolution_due = now + timers.resolution
            self.overdue_at = None
        escalation = timers.escalation if self.level == "L2" else None
        self.escalation_due = self.resolution_due + escalation if escalation is not None else None
        self._plan()

    def _plan(self) -> None:
        if self.status != "open" or self.level == "L1":
            self.next_due_at = None
        elif self.overdue_at is None:
            self.next_due_at = min((d for d in (self.response_due, self.resolution_due) if d), default=None)
        else:
            self.next_due_at = self.escalation_due if self.level == "L2" else None


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


CannedLanguage = Literal["zh-CN", "en"]


@dataclass
class CannedReply:
    """A reply the shop's support keeps ready, in one language; the title is unique per shop and language."""

    id: UUID
    shop_id: UUID
    language: CannedLanguage
    title: str
    body: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
