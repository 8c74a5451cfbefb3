"""A person's one-time link (AccountLinkRequested on merchant.events: a password reset, an address to verify,
an invitation) becomes one e-mail to the address the merchant service answers, holding the link merchant
issued at send time (`POST /internal/accounts/{id}/links`, the purpose in the body, the token only in the
answer's body). Each request is sent once (the inbox); merchant down parks the request until it is back;
the token is kept nowhere here and appears in no log line.

Postgres, Kafka and SMTP (aiosmtpd) are real; merchant is a fake FastAPI app answering as its links route
does, over ASGI behind the real adapter, or over HTTP at MERCHANT_URL for the running service.

Needs DATABASE_URL (a Postgres server URL)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from uuid import UUID, uuid4

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from faka_common.breakers import close_breakers
from faka_common.contracts import Envelope, ShopChanged
from faka_common.contracts.accounts import AccountLinkRequested, LinkPurpose
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.http import InternalClient
from faka_common.testing import eventually
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from notification.adapters.account_links import MerchantLinks
from notification.bootstrap import Service, bootstrap

from .test_channels import SMTP_SERVER_LOG, Mailbox, _free_port, _record, _rows, database, smtp
from .test_email import FakeKeys
from .test_shop_voice import PLATFORM_NAME, PLATFORM_SUPPORT, settings

pytestmark = pytest.mark.integration
__all__ = ["database", "smtp"]  # the fixtures, shared with the channel tests

PAGES: dict[str, str] = {
    "password_reset": "/console/reset",
    "email_verification": "/console/verify-email",
    "account_setup": "/console/setup",
}


@dataclass(frozen=True)
class Call:
    account_id: UUID
    body: bytes
    query: str
    caller: str | None


class FakeMerchant:
    """Merchant's `POST /internal/accounts/{account_id}/links` for the accounts it knows: a fresh token per
    call (as merchant issues a new link each time), in the answer's body and its URL."""

    def __init__(self) -> None:
        self.emails: dict[UUID, str] = {}
        self.locales: dict[UUID, str] = {}
        self.calls: list[Call] = []
        self.tokens: list[str] = []

    def person(self, locale: str | None = None) -> tuple[UUID, str]:
        account_id = uuid4()
        self.emails[account_id] = f"p{account_id.hex[:12]}@people.test"
        if locale is not None:
            self.locales[account_id] = locale
        return account_id, self.emails[account_id]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/internal/accounts/{account_id}/links")
        async def issue(account_id: UUID, request: Request) -> JSONResponse:
            body = await request.body()
            caller = request.headers.get("x-internal-caller")
            self.calls.append(Call(account_id, body, request.url.query, caller))
            purpose = (await request.json())["purpose"]
            if account_id not in self.emails:
                return JSONResponse({"error": "not_found", "message": "no such account"}, 404)
            token = secrets.token_urlsafe(32)
            self.tokens.append(token)
            answer = {
                "account_id": str(account_id),
                "email": self.emails[account_id],
                "purpose": purpose,
                "token": token,
                "url": f"https://console.test{PAGES[purpose]}?token={token}",
                "expires_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
            }
            if account_id in self.locales:
                answer["locale"] = self.locales[account_id]
            return JSONResponse(answer, 201)

        return app


@pytest.fixture
async def service(database: str, smtp: tuple[Mailbox, int]) -> AsyncIterator[tuple[Service, FakeMerchant]]:
    merchant = FakeMerchant()
    made_settings = settings(database, smtp[1])
    transport = httpx.ASGITransport(app=merchant.app())
    client = InternalClient("http://merchant.test", made_settings.credential(), transport=transport)
    made = bootstrap(made_settings, keys=FakeKeys(), accounts=MerchantLinks(client))
    try:
        yield made, merchant
    finally:
        for hook in reversed(made.runtime.on_stop):
            await hook()
        await client.aclose()
        await made.runtime.engine.dispose()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def asked(
    account_id: UUID, purpose: LinkPurpose = "password_reset", shop_id: UUID | None = None
) -> AccountLinkRequested:
    return AccountLinkRequested(
        account_id=account_id, purpose=purpose, requested_at=datetime.now(UTC), shop_id=shop_id
    )


def to(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in mailbox.messages if str(m["To"]) == address]


def parts(mail: EmailMessage) -> tuple[str, str, str]:
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    return str(mail["Subject"]), text.get_content(), html.get_content()


async def stored_text(database: str, account_id: UUID) -> str:
    """Everything this service keeps about the account: its notification rows and outbox messages."""
    rows = [
        *await _rows(database, "SELECT * FROM notifications WHERE order_id = $1", account_id),
        *await _rows(database, "SELECT * FROM outbox WHERE key = $1", str(account_id)),
    ]
    return "\n".join(str(dict(row)) for row in rows)


def hear_everything(logs: pytest.LogCaptureFixture) -> None:
    """The running service's logging replaces the root's handlers and quiets a few chatty libraries (httpx
    among them): listen again, to every logger at DEBUG."""
    root = logging.getLogger()
    if logs.handler not in root.handlers:
        root.addHandler(logs.handler)
    for name in (None, "httpx", "httpcore", "uvicorn.access", "aiokafka"):
        logs.set_level(logging.DEBUG, logger=name)


def assert_token_unlogged(logs: pytest.LogCaptureFixture, merchant: FakeMerchant) -> None:
    """No line the platform logged holds a token (the test's SMTP server, aiosmtpd's `mail.log`, logs the
    message it receives at DEBUG: it is the buyer's mail server, not ours)."""
    ours = [record for record in logs.records if record.name != SMTP_SERVER_LOG]
    lines = [record.getMessage() for record in ours]
    lines += [logging.Formatter().formatException(r.exc_info) for r in ours if r.exc_info]
    assert merchant.tokens
    for token in merchant.tokens:
        assert all(token not in line for line in lines)


async def test_a_reset_request_emails_the_accounts_address_one_link_and_a_duplicate_sends_nothing_more(
    service: tuple[Service, FakeMerchant],
    smtp: tuple[Mailbox, int],
    database: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    made, merchant = service
    account_id, email = merchant.person()
    record = _record(asked(account_id))

    assert await made.consumer().consume(record) == "handled"
    assert await made.consumer().consume(record) == "duplicate"

    [mail] = to(smtp[0], email)
    subject, text, html = parts(mail)
    [token] = merchant.tokens
    link = f"https://console.test/console/reset?token={token}"
    assert subject == "Reset your password"  # English: merchant names no language for the account
    assert text.count(link) == 1 and html.count(f'href="{link}"') == 1
    assert text.count(token) == 1 and html.count(token) == 1  # the one link, nothing else secret
    assert "for 30 minutes" in text and "for 30 minutes" in html
    assert f"Contact support: {PLATFORM_SUPPORT}" in text and text.rstrip().endswith(f"-- {PLATFORM_NAME}")

    [call] = merchant.calls
    assert call.account_id == account_id and call.query == "" and token not in call.body.decode()
    assert call.body == b'{"purpose":"password_reset"}' and call.caller == "notification"

    stored = await stored_text(database, account_id)
    assert "account_password_reset" in stored and "'sent'" in stored and email in stored
    assert token not in stored
    assert_token_unlogged(logs, merchant)


@pytest.mark.parametrize(
    ("purpose", "locale", "subject"),
    [
        ("password_reset", "zh-CN", "重置您的密码"),
        ("email_verification", None, "Confirm your e-mail address"),
        ("email_verification", "zh", "确认您的邮箱地址"),
        ("account_setup", "en-GB", "Set up your account"),
        ("account_setup", "fr", "Set up your account"),
    ],
)
async def test_each_purpose_links_its_page_in_the_language_merchant_names(
    service: tuple[Service, FakeMerchant],
    smtp: tuple[Mailbox, int],
    purpose: LinkPurpose,
    locale: str | None,
    subject: str,
) -> None:
    made, merchant = service
    account_id, email = merchant.person(locale)
    assert await made.consumer().consume(_record(asked(account_id, purpose))) == "handled"
    [mail] = to(smtp[0], email)
    said, text, _ = parts(mail)
    assert said == subject
    assert f"https://console.test{PAGES[purpose]}?token={merchant.tokens[-1]}" in text
    assert ("30 minutes" if subject.isascii() else "30 分钟") in text


async def test_a_second_request_gets_its_own_email_with_the_newer_link(
    service: tuple[Service, FakeMerchant], smtp: tuple[Mailbox, int]
) -> None:
    made, merchant = service
    account_id, email = merchant.person()
    for _ in range(2):
        assert await made.consumer().consume(_record(asked(account_id))) == "handled"
    mails = to(smtp[0], email)
    assert len(mails) == 2 and len(merchant.calls) == 2
    for mail, token in zip(mails, merchant.tokens, strict=True):
        assert token in parts(mail)[1]


async def test_an_invitation_from_a_known_shop_speaks_for_that_shop(
    service: tuple[Service, FakeMerchant], smtp: tuple[Mailbox, int], database: str
) -> None:
    made, merchant = service
    shop = uuid4()
    changed = ShopChanged(
        shop_id=shop,
        slug=f"s{shop.hex[:8]}",
        name="Game Cards",
        status="active",
        currency="CNY",
        languages=["en"],
        domains=[],
        contact="owner@cards.test",
    )
    assert await made.consumer().consume(_record(changed)) == "handled"
    account_id, email = merchant.person()
    assert await made.consumer().consume(_record(asked(account_id, "account_setup", shop))) == "handled"

    [mail] = to(smtp[0], email)
    subject, text, html = parts(mail)
    assert subject == "[Game Cards] Set up your account"
    assert "Game Cards invited you" in text and "Game Cards invited you" in html
    assert "Contact support: owner@cards.test" in text and text.rstrip().endswith("-- Game Cards")
    rows = await _rows(database, "SELECT shop_id FROM notifications WHERE order_id = $1", account_id)
    assert [row["shop_id"] for row in rows] == [shop]


async def test_a_platform_request_is_filed_under_the_installations_own_shop(
    service: tuple[Service, FakeMerchant], database: str
) -> None:
    made, merchant = service
    account_id, _ = merchant.person()
    assert await made.consumer().consume(_record(asked(account_id, "email_verification"))) == "handled"
    rows = await _rows(database, "SELECT shop_id, status FROM notifications WHERE order_id = $1", account_id)
    assert [(row["shop_id"], row["status"]) for row in rows] == [(DEFAULT_SHOP_ID, "sent")]


async def _parked(database: str, account_id: UUID) -> bool:
    rows = await _rows(
        database,
        "SELECT 1 FROM outbox WHERE topic = 'notification.retry' AND key = $1",
        str(account_id),
    )
    return bool(rows)


async def test_merchant_down_then_up_sends_the_link_once_and_logs_no_token(
    database: str, smtp: tuple[Mailbox, int], logs: pytest.LogCaptureFixture
) -> None:
    """The running service (Kafka, its own MERCHANT_URL wiring): the request waits on the retry topic while
    nothing answers at MERCHANT_URL, and is sent once when merchant is back."""
    merchant, port = FakeMerchant(), _free_port()
    made = bootstrap(settings(database, smtp[1], merchant_url=f"http://127.0.0.1:{port}"), keys=FakeKeys())
    account_id, email = merchant.person()
    event = asked(account_id)
    envelope = Envelope.wrap(event, "merchant")
    producer = AIOKafkaProducer(bootstrap_servers=made.settings.kafka_bootstrap_servers)
    server = uvicorn.Server(uvicorn.Config(merchant.app(), host="127.0.0.1", port=port, log_level="warning"))
    serving: asyncio.Task[None] | None = None
    await made.runtime.start()
    hear_everything(logs)
    await producer.start()
    try:
        await producer.send_and_wait(
            made.settings.kafka_namespace + event.topic, envelope.to_bytes(), key=event.key.encode()
        )
        await eventually(lambda: _parked(database, account_id), timeout=60)
        assert to(smtp[0], email) == [] and merchant.calls == []

        serving = asyncio.create_task(server.serve())

        async def emailed() -> list[EmailMessage]:
            return to(smtp[0], email)

        async def recorded() -> bool:
            rows = await _rows(
                database,
                "SELECT 1 FROM inbox WHERE consumer = 'notification' AND event_id = $1",
                envelope.event_id,
            )
            return bool(rows)

        await eventually(emailed, timeout=60)
        await eventually(recorded, timeout=10)  # handled: no copy of the request is left to come back
    finally:
        await producer.stop()
        await made.runtime.stop()
        await close_breakers(made.breakers)
        server.should_exit = True
        if serving is not None:
            await serving

    [mail] = to(smtp[0], email)
    [token] = merchant.tokens
    assert len(merchant.calls) == 1 and token in parts(mail)[1]
    assert_token_unlogged(logs, merchant)
