"""The audit log: who changed what, where and when. The gateway records one entry for every state-changing
admin or platform request; merchant's own changes from the faka-admin command line record theirs in the
transaction of the change. Entries are only ever added (the table refuses updates and deletes), never hold a
secret, and are searched by shop, actor, action, target and time, newest first."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from faka_common.errors import DomainError

from merchant.domain.accounts import Account

ActorKind = Literal["person", "api_token", "system"]

MAX_REQUEST_ID = 64
MAX_ACTOR_LABEL = 254
MAX_ACTION = 64
MAX_TARGET = 256
MAX_USER_AGENT = 512
MAX_SUMMARY = 1000
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200

#: Who the faka-admin command line writes as: the operator at the service's own shell.
CLI_LABEL = "faka-admin"


class BadCursor(DomainError):
    status_code = 422
    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("before: not a cursor this search answered (pass `next` back as it came)")


class BadPeriod(DomainError):
    status_code = 422
    code = "invalid_period"


@dataclass(frozen=True)
class AuditEntry:
    id: UUID
    request_id: str
    occurred_at: datetime
    actor_kind: ActorKind
    actor_id: UUID | None
    actor_label: str
    shop_id: UUID | None
    action: str
    target: str | None
    client_ip: str | None
    user_agent: str | None
    summary: str
    outcome: int


def cli_entry(
    now: datetime, action: str, summary: str, *, shop_id: UUID | None = None, target: str | None = None
) -> AuditEntry:
    """An entry for a change made with faka-admin (it succeeded: it is written with the change)."""
    return AuditEntry(
        id=uuid4(),
        request_id=f"cli-{uuid4()}",
        occurred_at=now,
        actor_kind="system",
        actor_id=None,
        actor_label=CLI_LABEL,
        shop_id=shop_id,
        action=action,
        target=target,
        client_ip=None,
        user_agent=None,
        summary=summary[:MAX_SUMMARY],
        outcome=200,
    )


def account_entry(
    now: datetime, account: Account, action: str, summary: str, client_ip: str | None = None
) -> AuditEntry:
    """An entry for a change a person made to their own account (password, TOTP, recovery codes), written
    with the change: merchant makes it, since no shop's admin route is involved."""
    return AuditEntry(
        id=uuid4(),
        request_id=f"account-{uuid4()}",
        occurred_at=now,
        actor_kind="person",
        actor_id=account.id,
        actor_label=account.email[:MAX_ACTOR_LABEL],
        shop_id=None,
        action=action,
        target=f"account_id={account.id}",
        client_ip=client_ip,
        user_agent=None,
        summary=summary[:MAX_SUMMARY],
        outcome=200,
    )


@dataclass(frozen=True)
class Cursor:
    """Where a page of the newest-first search ended: the last entry's time and id (ties broken by id)."""

    occurred_at: datetime
    entry_id: UUID

    @classmethod
    def after(cls, entry: AuditEntry) -> Cursor:
        return cls(entry.occurred_at, entry.id)

    def encode(self) -> str:
        raw = f"{self.occurred_at.isoformat()}|{self.entry_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor `encode` wrote; BadCursor for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, _, entry_id = raw.partition("|")
            cursor = cls(datetime.fromisoformat(at), UUID(entry_id))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadCursor() from None
        if cursor.occurred_at.tzinfo is None:
            raise BadCursor()
        return cursor


@dataclass(frozen=True)
class AuditSearch:
    """Entries matching every filter given (None: any), newest first, `limit` of them, older than `before`."""

    shop_id: UUID | None = None
    actor_id: UUID | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = PAGE_SIZE
    before: Cursor | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise BadPeriod("since must not be later than until")


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next: Cursor | None
