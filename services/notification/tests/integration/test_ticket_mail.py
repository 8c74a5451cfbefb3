"""A ticket's conversation by e-mail on real Postgres and real SMTP both ways (aiosmtpd as the buyer's mail
server, the service's own listener for replies): the shop's answer reaches the buyer in their language with
the help page's link, Reply-To the ticket's signed address and in the ticket's thread, once per message; the
buyer's reply to that address goes into the ticket as theirs without the quoted part, once per Message-ID;
a forged, foreign or expired address is refused at RCPT; delivery down answers 451 and takes nothing in; a
buyer's message alerts the shop's seller. Delivery and order are fakes behind the real adapters' interfaces.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import aiosmtplib
import pytest
from faka_common.contracts import Envelope
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.contracts.tickets import TicketMessageAdded
from faka_common.errors import Unavailable
from faka_common.messaging.consumer import Delivery
from faka_common.ticket_images import Image
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.domain.model import BuyerContact, OrderKeys
from notification.domain.ticket_mail import ReplyAddresses
from notification.entrypoints.inbound_mail import start_listener

from .test_channels import Mailbox, database, smtp

pytestmark = pytest.mark.integration
__all__ = ["database", "smtp"]

BUYER = "buyer@example.com"
SELLER = "seller@shop.test"
DOMAIN = "reply.shop.test"
SECRET = "a reply address secret of some length"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)


class FakeTickets:
    """Delivery's tickets: the threads it holds, and the buyer's messages posted to them."""

    def __init__(self) -> None:
        self.threads: dict[UUID, dict[str, Any]] = {}
        self.posted: list[tuple[UUID, UUID, UUID, str, list[str]]] = []
        self.down = False

    async def thread(self, shop_id: UUID, ticket_id: UUID) -> dict[str, Any]:
        return self.threads[ticket_id]

    async def buyer_wrote(
        self, shop_id: UUID, order_id: UUID, ticket_id: UUID, text: str, images: Sequence[Image]
    ) -> None:
        if self.down:
            raise Unavailable("delivery unreachable")
        self.posted.append((shop_id, order_id, ticket_id, text, [i.media_type for i in images]))


class Links:
    async def order_link(self, shop_id: UUID, order_no: str) -> str:
        return f"https://shop.test/orders/{order_no}?token=T0KEN"


class NoKeys:
    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        raise AssertionError("a ticket e-mail reads no keys")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(database: str, smtp_port: int, **more: Any) -> Settings:
    """Notification with its own Kafka namespace, the test's mailbox and the tickets' reply addresses."""
    return Settings(
        database_url=database,
        smtp_port=smtp_port,
        smtp_timeout=2,
        channel_retry_backoff=0,
        kafka_namespace=f"t{uuid4().hex}.",
        ticket_reply_domain=DOMAIN,
        ticket_reply_secret=SECRET,
        seller_email=SELLER,
        **more,
    )


@pytest.fixture
async def service(
    database: str, smtp: tuple[Mailbox, int]
) -> AsyncIterator[tuple[Service, FakeTickets, int]]:
    settings = settings_for(database, smtp[1])
    tickets = FakeTickets()
    made = bootstrap(settings, keys=NoKeys(), links=Links(), tickets=tickets)
    addresses = made.reply_addresses
    assert addresses is not None
    port = free_port()
    listener = await start_listener(addresses, made.take_in_reply, "127.0.0.1", port)
    yield made, tickets, port
    listener.close()
    await listener.wait_closed()
    for hook in reversed(made.runtime.on_stop):
        await hook()
    await made.runtime.engine.dispose()


async def placed(made: Service, locale: str = "en") -> tuple[UUID, str]:
    order_id = uuid4()
    order_no = f"F{order_id.hex[:20].upper()}"
    async with made.uow() as uow:
        await uow.contacts.add(
            BuyerContact(
                order_id, order_no, BUYER, locale, "Game key", None, 1, 990, "CNY", shop_id=DEFAULT_SHOP_ID
            )
        )
        await uow.commit()
    return order_id, order_no


def added(order_id: UUID, order_no: str, ticket_id: UUID, message_id: UUID, author: str) -> Delivery:
    event = TicketMessageAdded(
        order_id=order_id,
        shop_id=DEFAULT_SHOP_ID,
        ticket_id=ticket_id,
        message_id=message_id,
        order_no=order_no,
        author=author,  # type: ignore[arg-type]
        level="L2",
        status="answered" if author == "shop" else "open",
        category="how_to_use",
        created_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(event, "delivery")
    return Delivery(event.topic, 0, 0, event.key.encode(), envelope.to_bytes())


async def answered(
    made: Service, tickets: FakeTickets, smtp: tuple[Mailbox, int], locale: str = "en"
) -> tuple[UUID, UUID, EmailMessage]:
    """A ticket the shop answered and the e-mail the buyer got: (order id, ticket id, the e-mail)."""
    order_id, order_no = await placed(made, locale)
    ticket_id, message_id = uuid4(), uuid4()
    tickets.threads[ticket_id] = {
        "ticket_id": str(ticket_id),
        "messages": [{"message_id": str(message_id), "author": "shop", "body": "Steam > Activate a product"}],
    }
    record = added(order_id, order_no, ticket_id, message_id, "shop")
    assert await made.consumer().consume(record) == "handled"
    assert await made.consumer().consume(record) == "duplicate"
    [mail] = smtp[0].about(order_no)
    return order_id, ticket_id, mail


def reply_to(mail: EmailMessage, text: str, message_id: str, **headers: str) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = BUYER
    reply["To"] = str(mail["Reply-To"])
    reply["Subject"] = "Re: " + str(mail["Subject"])
    reply["Message-ID"] = message_id
    reply["In-Reply-To"] = str(mail["Message-ID"])
    reply["References"] = f"{mail['References']} {mail['Message-ID']}"
    for name, value in headers.items():
        reply[name] = value
    quoted = "\n".join(f"> {line}" for line in (mail.get_body(("plain",)) or mail).get_content().splitlines())
    reply.set_content(f"{text}\n\nOn Tue, 1 Dec 2026, Shop <no-reply@shop.test> wrote:\n{quoted}\n")
    return reply


async def test_the_shops_answer_is_emailed_once_reply_to_the_tickets_signed_address_in_its_thread(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int]
) -> None:
    made, tickets, _ = service
    _, ticket_id, mail = await answered(made, tickets, smtp)

    assert str(mail["To"]) == BUYER
    address = str(mail["Reply-To"])
    assert address.startswith(f"ticket+{ticket_id.hex}.") and address.endswith(f"@{DOMAIN}")
    assert str(mail["In-Reply-To"]) == str(mail["References"]) == f"<ticket.{ticket_id}@{DOMAIN}>"
    text = (mail.get_body(("plain",)) or mail).get_content()
    assert "Steam > Activate a product" in text
    assert "/support?token=T0KEN" in text


async def test_the_answer_comes_in_the_buyers_language(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int]
) -> None:
    made, tickets, _ = service
    _, _, mail = await answered(made, tickets, smtp, locale="zh-CN")
    assert "售后请求有新回复" in str(mail["Subject"])


async def test_a_reply_to_the_answer_goes_into_the_ticket_once_without_the_quoted_part(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int]
) -> None:
    made, tickets, port = service
    order_id, ticket_id, mail = await answered(made, tickets, smtp)
    reply = reply_to(mail, "It says the code was already used.", f"<{uuid4()}@mail.example.com>")
    reply.add_attachment(PNG, maintype="image", subtype="png", filename="shot.png")
    reply.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="x.exe")

    await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)
    await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)  # the same e-mail delivered again

    [(shop, order, ticket, text, images)] = tickets.posted
    assert (shop, order, ticket) == (DEFAULT_SHOP_ID, order_id, ticket_id)
    assert text.startswith("It says the code was already used.")
    assert "Steam" not in text and "wrote:" not in text
    assert "1 attachment(s) left out" in text
    assert images == ["image/png"]


async def test_concurrent_deliveries_of_one_reply_add_it_once(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int]
) -> None:
    made, tickets, port = service
    _, _, mail = await answered(made, tickets, smtp)
    reply = reply_to(mail, "Twice?", f"<{uuid4()}@mail.example.com>")
    await asyncio.gather(*(aiosmtplib.send(reply, hostname="127.0.0.1", port=port) for _ in range(5)))
    assert [p[3] for p in tickets.posted] == ["Twice?"]


@pytest.mark.parametrize("change", ["forged", "foreign", "expired", "unsigned"])
async def test_a_forged_foreign_or_expired_address_is_refused_at_rcpt(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int], change: str
) -> None:
    made, tickets, port = service
    _, ticket_id, mail = await answered(made, tickets, smtp)
    address = str(mail["Reply-To"])
    local, _, _ = address.partition("@")
    wrong = {
        "forged": f"{local[:-1]}{'0' if local[-1] != '0' else '1'}@{DOMAIN}",
        "foreign": f"{local}@elsewhere.test",
        "expired": ReplyAddresses(DOMAIN, SECRET.encode(), 60).issue(
            ticket_id, datetime.now(UTC) - timedelta(days=61)
        ),
        "unsigned": f"ticket+{ticket_id.hex}@{DOMAIN}",
    }[change]
    reply = reply_to(mail, "Let me in", f"<{uuid4()}@mail.example.com>")
    reply.replace_header("To", wrong)

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)

    assert refused.value.recipients[0].code == 550
    assert tickets.posted == []


async def test_delivery_down_answers_451_and_the_retried_reply_goes_in_once(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int]
) -> None:
    made, tickets, port = service
    _, _, mail = await answered(made, tickets, smtp)
    reply = reply_to(mail, "Still broken", f"<{uuid4()}@mail.example.com>")
    tickets.down = True
    with pytest.raises(aiosmtplib.SMTPDataError) as later:
        await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)
    assert later.value.code == 451
    tickets.down = False
    await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)
    assert [p[3] for p in tickets.posted] == ["Still broken"]


async def test_a_buyers_message_alerts_the_shops_seller_once(
    service: tuple[Service, FakeTickets, int], smtp: tuple[Mailbox, int]
) -> None:
    made, _, _ = service
    order_id, order_no = await placed(made)
    record = added(order_id, order_no, uuid4(), uuid4(), "buyer")
    assert await made.consumer().consume(record) == "handled"
    assert await made.consumer().consume(record) == "duplicate"
    alerts = [m for m in smtp[0].about(order_no) if str(m["To"]) == SELLER]
    assert len(alerts) == 1 and "买家有新留言" in str(alerts[0]["Subject"])  # the seller's language
    assert not [m for m in smtp[0].about(order_no) if str(m["To"]) == BUYER]
