"""Images attached to a ticket message (the buyer's or the shop's): what is kept of each, its bytes apart.
What an image may be (type by content, size, count) is faka_common.ticket_images, the one rule every edge
uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class Attachment:
    id: UUID
    shop_id: UUID
    ticket_id: UUID
    message_id: UUID
    media_type: str
    size: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class AttachmentContent:
    attachment: Attachment
    data: bytes
