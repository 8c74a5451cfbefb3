"""A ticket's conversation by e-mail, both ways: the shop's (or the platform's) answer is e-mailed to the
buyer in their language with the help page's link, Reply-To the ticket's own address and in the ticket's
thread; the buyer's e-mailed reply to that address goes into the ticket as theirs, once per e-mail; each
message of a buyer is an alert to the shop's seller."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

from faka_common.contracts.tickets import MAX_TICKET_MESSAGE, TicketMessageAdded
from faka_common.errors import DomainError
from faka_common.ticket_images import MAX_IMAGES, Image, checked_image

from notification.adapters.order_links import LinkSource
from notification.adapters.ticket_mail import TicketSource
from notification.domain.model import TICKET_BUYER_MESSAGE, TICKET_REPLY, NotificationError, Platform
from notification.domain.ticket_mail import ReplyAddresses, plain_text, reply_text, thread_headers
from notification.service_layer.handlers import Sellers, alert_seller, notify_buyer
from notification.service_layer.notifier import Notifier
from notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

#: What a ticket message may not hold (faka_common.fields' text rule): control and bidirectional characters.
_REFUSED_CHARACTERS = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
DROPPED_NOTE = "[{count} attachment(s) left out: only PNG, JPEG or WebP images of up to 2 MB, 3 per message]"
IMAGES_ONLY = "[images sent by e-mail]"


@dataclass(frozen=True)
class TicketMail:
    """What a ticket's e-mails need: the reply addresses (None: replies by e-mail are off; the answer is
    still e-mailed, Reply-To the shop), delivery's tickets, and the order's links."""

    addresses: ReplyAddresses | None
    tickets: TicketSource
    links: LinkSource


class ReplyRefused(Exception):
    """A buyer's e-mail that cannot go into its ticket (SMTP 550 with the reason)."""


def help_page(order_url: str) -> str:
    """The order's help page from the order page's link (the secret stays in the query)."""
    return order_url.replace("?", "/support?", 1) if "?" in order_url else order_url + "/support"


async def on_ticket_message(
    event: TicketMessageAdded,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    sellers: Sellers,
    platform: Platform,
    mail: TicketMail,
) -> None:
    """The buyer's message alerts the seller; the shop's or the platform's answer is e-mailed to the buyer;
    the system's notes reach nobody (the buyer hears of a replacement by its own notice)."""
    if event.author == "buyer":
        facts = {
            "order_no": event.order_no,
            "ticket_id": str(event.ticket_id),
            "category": event.category,
            "level": event.level,
            "status": event.status,
            "opened": event.opened,
        }
        subject = event.message_id
        await alert_seller(TICKET_BUYER_MESSAGE, event.shop_id, subject, uow, notifier, sellers, facts)
        return
    if event.author not in ("shop", "platform"):
        return
    await email_answer(event, uow, notifier, platform, mail)


async def email_answer(
    event: TicketMessageAdded,
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    platform: Platform,
    mail: TicketMail,
) -> None:
    """E-mail the answer once per message. Its text and the order's link are read only when the e-mail is
    about to go (the text may quote a key, the link holds the order's secret) and kept nowhere here."""

    async def load() -> dict[str, Any]:
        thread = await mail.tickets.thread(event.shop_id, event.ticket_id)
        said = [m for m in thread.get("messages", []) if m.get("message_id") == str(event.message_id)]
        if not said:
            raise NotificationError(f"message {event.message_id} is not on ticket {event.ticket_id}")
        url = await mail.links.order_link(event.shop_id, event.order_no)
        return {"reply": str(said[0].get("body", "")), "help_url": help_page(url)}

    shop = await uow.shops.get(event.shop_id)
    extra = {
        "ticket_id": str(event.ticket_id),
        "status": event.status,
        "author_name": platform.name if event.author == "platform" or shop is None else shop.name,
    }
    headers: dict[str, str] = {}
    if mail.addresses is not None:
        address = mail.addresses.issue(event.ticket_id, datetime.now(UTC))
        headers = thread_headers(event.ticket_id, address, mail.addresses.domain)
        await uow.ticket_mail.remember(event.ticket_id, event.shop_id, event.order_id)
    await notify_buyer(
        TICKET_REPLY, event.shop_id, event.order_id, uow, notifier, platform, extra, load,
        instance=str(event.message_id), headers=headers,
    )  # fmt: skip


def inbound_id(mail: EmailMessage, raw: bytes) -> str:
    """What tells one e-mail from another: its Message-ID, else a digest of its bytes."""
    given = str(mail.get("Message-ID", "")).strip()
    return given[:500] if given else "sha256:" + hashlib.sha256(raw).hexdigest()


def buyer_message(mail: EmailMessage) -> tuple[str, list[Image]]:
    """The buyer's text (above the quoted part) and the images that pass the rules of the help page; other
    attachments are left out, and the message says how many."""
    text = _REFUSED_CHARACTERS.sub("", reply_text(plain_text(mail)))
    images: list[Image] = []
    dropped = 0
    for part in mail.iter_attachments():
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or len(images) >= MAX_IMAGES:
            dropped += 1
            continue
        try:
            images.append(checked_image(str(part.get_filename() or ""), data))
        except DomainError:  # too big or not such an image: left out, the text is kept
            dropped += 1
    note = DROPPED_NOTE.format(count=dropped) if dropped else ""
    text = text or (IMAGES_ONLY if images else "")
    if not text:
        raise ReplyRefused("the e-mail has no text above the quoted part")
    room = MAX_TICKET_MESSAGE - len(note) - 2
    return (text[:room] + (f"\n\n{note}" if note else "")).strip(), images


async def take_in_reply(
    ticket_id: UUID, mail: EmailMessage, raw: bytes, uow: NotificationUnitOfWork, tickets: TicketSource
) -> bool:
    """Put the buyer's e-mailed reply into the ticket as theirs; False when this e-mail was taken in before.
    The e-mail is recorded in the transaction that asks delivery, so a failure takes nothing in (and the
    sender's server tries again), and a repeated delivery adds nothing."""
    text, images = buyer_message(mail)
    async with uow:
        known = await uow.ticket_mail.thread(ticket_id)
        if known is None:
            raise ReplyRefused("no such ticket")
        shop_id, order_id = known
        if not await uow.ticket_mail.take_in(inbound_id(mail, raw), shop_id, ticket_id):
            log.info("an e-mail to ticket %s was taken in before; ignoring it", ticket_id)
            return False
        await tickets.buyer_wrote(shop_id, order_id, ticket_id, text, images)
        await uow.commit()
    log.info("the buyer's e-mail went into ticket %s (%d images)", ticket_id, len(images))
    return True
