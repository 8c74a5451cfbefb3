"""Requests to the delivery service's after-sales tickets: one model each, enforced by delivery and checked
and documented by the gateway on the way in (the buyer's routes and the shop's admin API)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from faka_common.contracts.aftersales import TicketCategory
from faka_common.fields import TEXT_PATTERN, NonBlankLine

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
