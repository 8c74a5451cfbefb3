"""The delivery service's after-sales tickets: the requests it takes (one model each, enforced by delivery and
checked and documented by the gateway on the way in: the buyer's routes and the shop's admin API) and the
events it emits about them on the delivery events topic (keyed by order id, through its outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from faka_common.contracts import topics
from faka_common.contracts.aftersales import TicketCategory
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field
from faka_common.fields import TEXT_PATTERN, NonBlankLine

TicketLevel = Literal["L1", "L2", "L3"]
"""Who answers a ticket: L1 the system (a rule), L2 the shop's support, L3 the platform (disputes)."""

TicketStatus = Literal["open", "answered", "resolved"]
"""open: waits for an answer; answered: the shop or the platform answered; resolved: closed as solved."""

AuthorKind = Literal["buyer", "shop", "platform", "system"]
"""Who wrote a ticket message: the buyer, the shop's staff, the platform's staff, or the system (a rule)."""

SystemNote = Literal["key_replaced", "replacement_refused", "sla_escalated", "images_removed"]
"""What a note of the system in a ticket's thread records (its message's author_label is `note:<kind>`)."""

BUYER_NOTES: frozenset[str] = frozenset({"key_replaced", "sla_escalated", "images_removed"})
"""The system notes the buyer sees on the help page: what happened to the buyer's request (its new key, its
move to the platform, its images gone). A refusal's note is the shop's: its detail names the shop's policy and
pool (the buyer is told the reason in their language instead)."""

NOTE_LABEL = "note:"


def note_label(kind: SystemNote) -> str:
    """The author_label of a system note of `kind`."""
    return NOTE_LABEL + kind


def buyer_note(author: str | None, label: str | None) -> str | None:
    """The kind of a message when it is a system note the buyer sees; None for any other message."""
    if author != "system" or not label or not label.startswith(NOTE_LABEL):
        return None
    kind = label.removeprefix(NOTE_LABEL)
    return kind if kind in BUYER_NOTES else None


def note_in(body: str, language: str) -> str:
    """A system note in the page's language: notes are written in zh-CN on the first line, English on the
    second."""
    lines = body.split("\n", 1)
    if len(lines) == 1:
        return body
    return lines[0] if language == "zh-CN" else lines[1]


MAX_TICKET_MESSAGE = 4000
"""Characters in one ticket message (a buyer's or the shop's)."""

_PRINTABLE = TEXT_PATTERN.removeprefix("^[^").removesuffix("]*$")
NONBLANK_TEXT_PATTERN = f"^[^{_PRINTABLE}]*[^{_PRINTABLE}\\s][^{_PRINTABLE}]*$"
"""Text (line breaks allowed, no control characters) with at least one character that is not white space."""

TicketMessage = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TICKET_MESSAGE,
        pattern=NONBLANK_TEXT_PATTERN,
        description=f"What the buyer or the shop says (1 to {MAX_TICKET_MESSAGE} characters, not blank)",
    ),
]
Author = Annotated[NonBlankLine, Field(max_length=100, description="Who writes it (audit)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewTicket(Body):
    """A buyer's ticket about an order the gateway checked the secret of (the order's facts come from the
    order service, not from the buyer)."""

    order_id: UUID
    order_no: NonBlankLine = Field(max_length=64)
    product_id: UUID
    category: TicketCategory
    message: TicketMessage
    key_id: UUID | None = Field(default=None, description="key_invalid: the delivered key that fails")
    usage_instructions: str | None = Field(
        default=None,
        max_length=MAX_TICKET_MESSAGE,
        description="how_to_use: the product's usage instructions, which answer the ticket at once (L1)",
    )


class TicketReply(Body):
    """A message on a ticket: the buyer's (author "buyer") or the shop's (its principal)."""

    author: Author
    message: TicketMessage
    resolve: bool = Field(default=False, description="The shop closes the ticket as solved with it")
    by: Literal["shop", "platform"] = Field(
        default="shop",
        description="Who answers on the shop's route: its own staff, or the platform's (disputes, L3)",
    )


class TicketEscalation(Body):
    """The buyer or the shop takes a ticket to the platform (L3): a dispute, with why."""

    author: Author
    message: TicketMessage


SlaMinutes = Annotated[int, Field(ge=5, le=30 * 24 * 60, description="Minutes (5 to 30 days)")]


class ShopTicketSla(Body):
    """A shop's L2 timers: a waiting ticket's first response and resolution are due within these, and past
    the resolution deadline plus `escalation_minutes` it goes to the platform."""

    first_response_minutes: SlaMinutes = 240
    resolution_minutes: SlaMinutes = 2880
    escalation_minutes: SlaMinutes = 1440
    updated_by: Author | None = Field(default=None, description="Who sets them (audit); read-only")


class PlatformTicketSla(Body):
    """The platform's L3 timers (escalated tickets, disputes)."""

    first_response_minutes: SlaMinutes = 480
    resolution_minutes: SlaMinutes = 4320
    updated_by: Author | None = Field(default=None, description="Who sets them (audit); read-only")


CannedLanguage = Literal["zh-CN", "en"]


class CannedReplyBody(Body):
    """A reply the shop's support keeps ready: a title unique per language, and the message sent."""

    language: CannedLanguage
    title: NonBlankLine = Field(max_length=100)
    message: TicketMessage
    updated_by: Author


class TicketMessageAdded(Message):
    """A message was added to a ticket (by the buyer, the shop, the platform or the system; the buyer's
    first message opens it). It carries no text: a message may quote a key, so whoever must show or send it
    (e-mail replies) reads the thread from delivery's internal route `GET /internal/tickets/{ticket_id}`."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "TicketMessageAdded"

    order_id: UUID
    shop_id: UUID = shop_id_field()
    ticket_id: UUID
    message_id: UUID
    order_no: str = Field(description="The order's number (what the buyer knows it by)")
    author: AuthorKind
    level: TicketLevel = Field(description="The ticket's level after the message")
    status: TicketStatus = Field(description="The ticket's status after the message")
    category: TicketCategory
    opened: bool = Field(default=False, description="The message opened the ticket (its first)")
    created_at: datetime = Field(description="When the message was written")


class TicketOverdue(Message):
    """A ticket waiting for its support passed a deadline (once per time it reaches a level or is answered
    and waits again): the shop may be told, the alert counts it. An L2 ticket left waiting longer goes to the
    platform (`TicketEscalated`, by "system")."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "TicketOverdue"

    order_id: UUID
    shop_id: UUID = shop_id_field()
    ticket_id: UUID
    order_no: str
    level: TicketLevel
    category: TicketCategory
    deadline: Literal["response", "resolution"] = Field(description="Which deadline passed first")
    due_at: datetime
    escalation_due: datetime | None = Field(
        default=None, description="L2: when it goes to the platform if still waiting"
    )


class TicketEscalated(Message):
    """A ticket went to the platform (L3): the buyer or the shop asked (a dispute), or the system sent it
    when the shop's escalation deadline passed. The shop may be told; the platform's queue has it."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "TicketEscalated"

    order_id: UUID
    shop_id: UUID = shop_id_field()
    ticket_id: UUID
    order_no: str
    category: TicketCategory
    by: Literal["buyer", "shop", "system"]
    reason: str = Field(examples=["escalation_requested", "sla_breached"])
    response_due: datetime | None = Field(default=None, description="When the platform's answer is due")


class DeliveryEmailResendRequested(Message):
    """A buyer's "not received" ticket about a delivered order: the system (L1) asks for the delivery e-mail
    to be sent again (to the order's address; the keys stay behind the order's link)."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "DeliveryEmailResendRequested"

    order_id: UUID
    shop_id: UUID = shop_id_field()
    ticket_id: UUID
    order_no: str
