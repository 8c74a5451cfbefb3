"""A ticket's conversation end to end, through the gateway's HTTP with every service its own process on real
Postgres, Kafka and SMTP both ways. Images: the buyer opens a ticket with an image from the help page, the
shop answers with one, each is served only to the order's holder and the shop, as the image type its
content showed and never sniffed; a file too big, not an image, or one too many is a 4xx naming the limit and
adds nothing. E-mail: the shop's answer reaches the buyer's mailbox Reply-To the ticket's address in one
thread; the buyer's reply by SMTP lands in the ticket once however often it is delivered; a forged address
is refused; the shop's seller is told of the buyer's messages."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from faka_common.testing import drop_database, eventually
from faka_common.ticket_images import MAX_IMAGE_BYTES

from .e2e_platform import SERVICES, ConsolePerson, Platform, body_text, free_port
from .test_aftersales import delivered, tickets

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64)


REPLY_DOMAIN = "reply.e2e.test"
INBOUND_PORT = free_port()
SELLER = f"seller-{secrets.token_hex(4)}@example.com"
READY_WITHIN = 600.0  # seconds: eight services importing at once on a loaded 2-core box


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    """running_platform's platform, with replies by e-mail on (the listener on a loopback port) and the
    default shop's seller at SELLER, given longer to come up."""
    running = Platform(
        infrastructure["DATABASE_URL"],
        infrastructure["KAFKA_BOOTSTRAP_SERVERS"],
        infrastructure["REDIS_URL"],
        overrides={
            "TICKET_REPLY_DOMAIN": REPLY_DOMAIN,
            "TICKET_REPLY_SECRET": secrets.token_urlsafe(24),
            "INBOUND_SMTP_PORT": str(INBOUND_PORT),
            "SELLER_EMAIL": SELLER,
        },
    )
    try:
        running.smtp.start()
        for service in SERVICES:
            await running.start_service(service)
        await asyncio.gather(*(running.wait_ready(s, timeout=READY_WITHIN) for s in SERVICES))
        running.operator = await ConsolePerson.sign_up(running, f"operator-{running.run_id}@example.com")
        yield running
    finally:
        await running.stop()
        for service in SERVICES:
            await drop_database(infrastructure["DATABASE_URL"], running.database(service).rsplit("/", 1)[1])


def image_path(order: dict[str, Any], ticket_id: str, attachment_id: str) -> str:
    return f"/api/v1/orders/{order['order_no']}/tickets/{ticket_id}/attachments/{attachment_id}"


async def test_an_image_on_the_buyers_ticket_and_the_shops_answer_is_served_only_as_that_image_to_them(
    platform: Platform,
) -> None:
    order, _, _, _ = await delivered(platform, keys=2)
    async with platform.storefront() as shop:
        sent = await shop.post(
            f"/orders/{order['order_no']}/support",
            data={"token": order["token"], "category": "other", "message": "See the screenshot"},
            files=[("image", ("screen.jpg", PNG, "image/jpeg"))],
        )
    assert sent.status_code == 303, sent.text
    [ticket] = await tickets(platform, order)
    [image] = ticket["messages"][0]["attachments"]
    assert (image["media_type"], image["size"], image["name"]) == ("image/png", len(PNG), "screen.jpg")

    async with platform.storefront() as shop:
        served = await shop.get(
            image_path(order, ticket["ticket_id"], image["attachment_id"]), params={"token": order["token"]}
        )
        guessed = await shop.get(
            image_path(order, ticket["ticket_id"], image["attachment_id"]), params={"token": "guess"}
        )
        page = await shop.get(f"/orders/{order['order_no']}/support", params={"token": order["token"]})
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline; filename=")
    assert "sandbox" in served.headers["content-security-policy"]
    assert guessed.status_code == 404 and guessed.content != PNG
    assert f"/attachments/{image['attachment_id']}?token=" in page.text

    async with platform.admin() as admin:
        answered = await admin.post(
            f"/api/admin/tickets/{ticket['ticket_id']}/images",
            data={"message": "Open it here"},
            files=[("image", ("here.webp", WEBP, "image/webp"))],
        )
        assert answered.status_code == 200, answered.text
        thread = (await admin.get(f"/api/admin/tickets/{ticket['ticket_id']}")).json()
        first = thread["messages"][0]["attachments"][0]["attachment_id"]
        by_shop = await admin.get(f"/api/admin/tickets/{ticket['ticket_id']}/attachments/{first}")
    assert by_shop.status_code == 200 and by_shop.content == PNG
    [seen] = await tickets(platform, order)
    assert [(m["author"], [a["media_type"] for a in m["attachments"]]) for m in seen["messages"]] == [
        ("buyer", ["image/png"]),
        ("platform", ["image/webp"]),  # the operator answers as the platform's staff
    ]


@pytest.mark.parametrize(
    ("files", "status", "named"),
    [
        ([("big.png", PNG + bytes(MAX_IMAGE_BYTES), "image/png")], 413, "2 MB per image"),
        ([("cat.png", b"<!doctype html><script>alert(1)</script>", "image/png")], 415, "PNG, JPEG or WebP"),
        ([(f"{n}.png", PNG, "image/png") for n in range(4)], 422, "3 per message"),
    ],
)
async def test_an_image_too_big_not_an_image_or_one_too_many_is_a_4xx_naming_the_limit_and_adds_nothing(
    platform: Platform, files: list[tuple[str, bytes, str]], status: int, named: str
) -> None:
    order, _, _, _ = await delivered(platform, keys=2)
    body = {"token": order["token"], "category": "other", "message": "Hello"}
    async with platform.storefront() as shop:
        opened = await shop.post(f"/api/v1/orders/{order['order_no']}/tickets", json=body)
        ticket_id = opened.json()["ticket_id"]
        refused = await shop.post(
            f"/api/v1/orders/{order['order_no']}/tickets/{ticket_id}/images",
            data={"token": order["token"], "message": "And this"},
            files=[("image", file) for file in files],
        )
        page = await shop.post(
            f"/orders/{order['order_no']}/support/{ticket_id}",
            data={"token": order["token"], "message": "And this"},
            files=[("image", file) for file in files],
            headers={"Accept-Language": "en"},
        )
    assert refused.status_code == status, refused.text
    assert named in refused.json()["message"]
    assert page.status_code == status and "image" in page.text.lower()
    [ticket] = await tickets(platform, order)
    assert [m["body"] for m in ticket["messages"]] == ["Hello"]
    assert uuid.UUID(ticket_id)


async def mail_to(platform: Platform, address: str, order_no: str, count: int = 1) -> list[EmailMessage]:
    async def arrived() -> list[Any] | None:
        found = [m for m in platform.mailbox.to(address) if order_no in str(m["Subject"]) + body_text(m)]
        return found if len(found) >= count else None

    mails: list[EmailMessage] = await eventually(arrived, timeout=60, interval=0.2)
    return mails


def header(mail: EmailMessage, name: str) -> str:
    """A received header unfolded (the mailbox parses without a policy: long values keep their folds)."""
    return " ".join(str(mail[name]).split())


def answer_to(mail: EmailMessage, text: str) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = header(mail, "To")
    reply["To"] = header(mail, "Reply-To")
    reply["Subject"] = "Re: " + header(mail, "Subject")
    reply["Message-ID"] = f"<{uuid.uuid4()}@buyer.example.com>"
    reply["In-Reply-To"] = header(mail, "Message-ID")
    reply["References"] = f"{header(mail, 'References')} {header(mail, 'Message-ID')}"
    quoted = "\n".join(f"> {line}" for line in body_text(mail).splitlines())
    reply.set_content(f"{text}\n\nOn Wed, 2 Dec 2026 at 08:00, the shop wrote:\n{quoted}\n")
    return reply


async def test_the_shops_answer_is_emailed_and_the_buyers_reply_by_email_lands_in_the_ticket_once(
    platform: Platform,
) -> None:
    order, _, _, _ = await delivered(platform, keys=2)
    body = {"token": order["token"], "category": "how_to_use", "message": "Where do I type it in?"}
    async with platform.storefront() as shop:
        opened = await shop.post(f"/api/v1/orders/{order['order_no']}/tickets", json=body)
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["ticket_id"]
    await mail_to(platform, SELLER, order["order_no"])  # the seller hears of the new request

    async with platform.admin() as admin:
        answered = await admin.post(
            f"/api/admin/tickets/{ticket_id}/replies", json={"message": "Steam > Games > Activate"}
        )
    assert answered.status_code == 200, answered.text
    [mail] = await mail_to(platform, order["email"], "Steam > Games > Activate")
    assert header(mail, "Reply-To").startswith(f"ticket+{uuid.UUID(ticket_id).hex}.")
    assert header(mail, "Reply-To").endswith(f"@{REPLY_DOMAIN}")
    assert header(mail, "References") == f"<ticket.{ticket_id}@{REPLY_DOMAIN}>"
    assert f"/orders/{order['order_no']}/support?token=" in body_text(mail)

    reply = answer_to(mail, "It worked, thank you!")
    for _ in range(2):  # the same e-mail delivered twice: in the ticket once
        await aiosmtplib.send(reply, hostname="127.0.0.1", port=INBOUND_PORT)
    [seen] = await tickets(platform, order)
    buyer_said = [m["body"] for m in seen["messages"] if m["author"] == "buyer"]
    assert buyer_said == ["Where do I type it in?", "It worked, thank you!"]
    assert seen["status"] == "open"
    await mail_to(platform, SELLER, order["order_no"], count=2)  # and of the e-mailed reply

    forged = answer_to(mail, "Let me in")
    forged.replace_header("To", f"ticket+{uuid.UUID(ticket_id).hex}.0.{'0' * 20}@{REPLY_DOMAIN}")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await aiosmtplib.send(forged, hostname="127.0.0.1", port=INBOUND_PORT)
