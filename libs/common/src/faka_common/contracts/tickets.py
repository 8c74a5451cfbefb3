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


class TicketReply(Body):
    """A message on a ticket: the buyer's (author "buyer") or the shop's (its principal)."""

    author: Author
    message: TicketMessage
    resolve: bool = Field(default=False, description="The shop closes the ticket as solved with it")


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
