"""A ticket's conversation by e-mail: the reply address of a ticket (ticket+<id>.<day>.<mac>@<reply domain>:
it names the ticket and the day it was issued, and an HMAC of both, so it cannot be guessed or altered and
stops working `valid_days` after it was issued), the headers that keep a ticket's e-mails one thread, and
what of a buyer's e-mailed reply goes into the ticket (the plain text above the quoted part)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from uuid import UUID

LOCAL_PREFIX = "ticket+"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_LOCAL = re.compile(r"^ticket\+([0-9a-f]{32})\.([0-9a-z]{1,6})\.([0-9a-f]{20})$")
#: The first line of a ticket reply's text: what the buyer writes above it goes into the ticket.
REPLY_ABOVE = "##- Reply above this line / 请在此行以上回复 -##"
#: Where the quoted part of a reply starts, as mail programs write it.
_QUOTE_STARTS = (
    re.compile(r"^##- .* -##$"),
    re.compile(r"^On .+ wrote:$"),
    re.compile(r"^在.+写道[:：]$"),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*原始邮件\s*-{2,}$"),
    re.compile(r"^(From|发件人)\s*[:：].+$"),
)


class ReplyAddressRefused(Exception):
    """Not a ticket reply address of this installation, forged, or expired (SMTP 550 at RCPT)."""


@dataclass(frozen=True)
class ReplyAddresses:
    """Issues and checks ticket reply addresses under `domain`."""

    domain: str
    secret: bytes
    valid_days: int = 60

    def _mac(self, ticket_id: UUID, day: int) -> str:
        signed = f"{ticket_id.hex}.{day}".encode()
        return hmac.new(self.secret, signed, hashlib.sha256).hexdigest()[:20]

    def issue(self, ticket_id: UUID, now: datetime) -> str:
        day = (now - _EPOCH).days
        return f"{LOCAL_PREFIX}{ticket_id.hex}.{_base36(day)}.{self._mac(ticket_id, day)}@{self.domain}"

    def ticket_of(self, address: str, now: datetime) -> UUID:
        """The ticket an address names; ReplyAddressRefused when it is not one this installation issued and
        still honours."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower() != self.domain.lower():
            raise ReplyAddressRefused(f"not a ticket reply address of {self.domain}")
        found = _LOCAL.match(local.lower())
        if found is None:
            raise ReplyAddressRefused("not a ticket reply address")
        ticket_hex, day_text, mac = found.groups()
        ticket_id, day = UUID(hex=ticket_hex), int(day_text, 36)
        if not hmac.compare_digest(mac, self._mac(ticket_id, day)):
            raise ReplyAddressRefused("not a ticket reply address")
        if (now - _EPOCH).days - day > self.valid_days:
            raise ReplyAddressRefused(f"this reply address expired after {self.valid_days} days")
        return ticket_id


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


def thread_id(ticket_id: UUID, domain: str) -> str:
    """The Message-ID every e-mail of a ticket refers to (In-Reply-To, References): one thread a ticket."""
    return f"<ticket.{ticket_id}@{domain}>"


def thread_headers(ticket_id: UUID, reply_to: str, domain: str) -> dict[str, str]:
    root = thread_id(ticket_id, domain)
    return {"Reply-To": reply_to, "In-Reply-To": root, "References": root}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "blockquote"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "blockquote") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def plain_text(mail: EmailMessage) -> str:
    """The mail's text: its text/plain part, else its HTML part's text (quoted blocks left out)."""
    body = mail.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = str(body.get_content())
    if body.get_content_subtype() == "html":
        parser = _Text()
        parser.feed(content)
        content = "".join(parser.parts)
    return content


def reply_text(text: str) -> str:
    """What the buyer wrote: the lines above the quoted part (our marker line, "On ... wrote:", an original
    message header) without ">"-quoted lines and trailing blank lines."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if any(start.match(stripped) for start in _QUOTE_STARTS):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()
