"""A buyer's request for the order's link (OrderLinkRequested) becomes one e-mail to the order's address in
the buyer's language, holding the link the order service issued at send time and nothing else secret. The
link comes back in the answer to a POST (never a token in a URL); it is not kept in the notification log,
the in-site messages or the outbox, and never logged. Postgres and SMTP (aiosmtpd) are real; the order
service is a fake behind the real adapter.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts import Envelope
from faka_common.contracts.order import OrderLinkRequested
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.contracts.tickets import DeliveryEmailResendRequested
from faka_common.http import InternalClient
from faka_common.messaging.consumer import Delivery
from notification.adapters.order_links import OrderLinks
from notification.bootstrap import Service, bootstrap
from notification.config import Settings
from notification.domain.model import BuyerContact, OrderKeys

from .test_channels import SMTP_SERVER_LOG, Mailbox, _rows, database, smtp

pytestmark = pytest.mark.integration
__all__ = ["database", "smtp"]  # the fixtures, shared with the channel tests

TOKEN = "AAAAAGmT1xHqV3cx8L0hJ3q9y2p4m6n8b1v3c5x7z9s1d3f5g7h"
BUYER = "buyer@example.com"


class FakeOrderService:
    """Order's `POST /internal/orders/{order_no}/links`, issuing TOKEN for the orders it knows."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.orders: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        order_no = request.url.path.removeprefix("/internal/orders/").removesuffix("/links")
        if request.method != "POST" or order_no not in self.orders:
            return httpx.Response(404, json={"error": "not_found", "message": "no such order"})
        url = f"https://shop.test/orders/{order_no}?token={TOKEN}"
        return httpx.Response(200, json={"order_no": order_no, "url": url, "token_expires_at": None})


class NoKeys:
    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        raise AssertionError("a link e-mail reads no keys")


@pytest.fixture
async def service(
    database: str, smtp: tuple[Mailbox, int]
) -> AsyncIterator[tuple[Service, FakeOrderService]]:
    settings = Settings(
        database_url=database,
        smtp_port=smtp[1],
        smtp_timeout=2,
        channel_retry_backoff=0,
        kafka_namespace=f"t{uuid4().hex}.",
    )
    order = FakeOrderService()
    client = InternalClient("http://order.test", settings.credential(), transport=httpx.MockTransport(order))
    made = bootstrap(settings, keys=NoKeys(), links=OrderLinks(client))
    yield made, order
    for hook in reversed(made.runtime.on_stop):
        await hook()
    await client.aclose()
    await made.runtime.engine.dispose()


async def _placed(service: Service, order: FakeOrderService, locale: str = "en") -> tuple[UUID, str]:
    order_id = uuid4()
    order_no = f"F{order_id.hex[:20].upper()}"
    order.orders.add(order_no)
    async with service.uow() as uow:
        await uow.contacts.add(
            BuyerContact(
                order_id, order_no, BUYER, locale, "Game key", None, 1, 990, "CNY", shop_id=DEFAULT_SHOP_ID
            )
        )
        await uow.commit()
    return order_id, order_no


def _record(envelope: Envelope) -> Delivery:
    message = envelope.open()
    return Delivery(message.topic, 0, 0, message.key.encode(), envelope.to_bytes())


def _asked(order_id: UUID, order_no: str) -> Envelope:
    event = OrderLinkRequested(order_id=order_id, order_no=order_no, requested_at=datetime.now(UTC))
    return Envelope.wrap(event, "order")


async def _stored_text(database: str, order_id: UUID) -> str:
    """Everything this service keeps about the order: its notification log, in-site messages, outbox."""
    rows = [
        *await _rows(database, "SELECT * FROM notifications WHERE order_id = $1", order_id),
        *await _rows(database, "SELECT * FROM in_site_messages WHERE order_id = $1", order_id),
        *await _rows(database, "SELECT * FROM outbox WHERE key = $1", str(order_id)),
    ]
    return "\n".join(str(dict(row)) for row in rows)


async def test_a_requested_link_is_emailed_once_to_the_orders_address_and_kept_nowhere(
    service: tuple[Service, FakeOrderService],
    smtp: tuple[Mailbox, int],
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    made, order = service
    order_id, order_no = await _placed(made, order)
    asked = _asked(order_id, order_no)
    caplog.set_level(logging.DEBUG)

    assert await made.consumer().consume(_record(asked)) == "handled"
    assert await made.consumer().consume(_record(asked)) == "duplicate"

    [mail] = smtp[0].about(order_no)
    assert str(mail["To"]) == BUYER
    assert str(mail["Subject"]) == f"The link to your order {order_no}"
    link = f"https://shop.test/orders/{order_no}?token={TOKEN}"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().count(link) == 1
    assert f'href="{link}"' in html.get_content()
    assert text.get_content().count("token=") == 1  # the one link, nothing else secret

    [call] = order.requests
    assert call.method == "POST" and call.url.path == f"/internal/orders/{order_no}/links"
    assert call.url.query == b"" and call.content == b""
    assert call.headers["x-internal-caller"] == "notification"

    stored = await _stored_text(database, order_id)
    assert "order_link" in stored and "sent" in stored  # recorded in the log like other notices
    assert TOKEN not in stored
    # the platform logs no token (the test's SMTP server logs the message it receives: not ours)
    assert all(TOKEN not in r.getMessage() for r in caplog.records if r.name != SMTP_SERVER_LOG)


async def test_each_request_gets_its_own_email_in_the_buyers_language(
    service: tuple[Service, FakeOrderService], smtp: tuple[Mailbox, int]
) -> None:
    made, order = service
    order_id, order_no = await _placed(made, order, locale="zh-CN")
    for _ in range(2):
        assert await made.consumer().consume(_record(_asked(order_id, order_no))) == "handled"
    mails = smtp[0].about(order_no)
    assert len(mails) == 2
    assert [str(m["Subject"]) for m in mails] == [f"您的订单 {order_no} 的查看链接"] * 2
    assert len(order.requests) == 2  # a link issued for each e-mail, at send time


async def test_a_not_received_ticket_emails_the_orders_link_once_per_request(
    service: tuple[Service, FakeOrderService], smtp: tuple[Mailbox, int]
) -> None:
    """Delivery's L1 answer to "not received" on a delivered order asks for the e-mail again."""
    made, order = service
    order_id, order_no = await _placed(made, order)
    asked = Envelope.wrap(
        DeliveryEmailResendRequested(order_id=order_id, ticket_id=uuid4(), order_no=order_no), "delivery"
    )

    assert await made.consumer().consume(_record(asked)) == "handled"
    assert await made.consumer().consume(_record(asked)) == "duplicate"

    [mail] = smtp[0].about(order_no)
    assert str(mail["To"]) == BUYER
    text = mail.get_body(("plain",))
    assert text is not None
    assert text.get_content().count(f"https://shop.test/orders/{order_no}?token={TOKEN}") == 1
