"""A person's one-time link (password reset, e-mail verification, account set-up), issued by the merchant
service at send time and never stored, logged or published here: `POST /internal/accounts/{account_id}/links`
with the purpose in the body; the token comes back in the answer's body, never in a URL between services.
The answer also names where the link goes: the account's e-mail address (and its language, if merchant
keeps one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from faka_common.contracts.accounts import LinkPurpose
from faka_common.http import InternalClient
from pydantic import AwareDatetime, BaseModel

from notification.adapters.answers import parse_answer
from notification.domain.model import NotificationError


@dataclass(frozen=True)
class AccountLink:
    """A link issued for one e-mail: held in memory long enough to send it."""

    account_id: UUID
    email: str
    purpose: LinkPurpose
    url: str = field(repr=False)
    expires_at: datetime
    locale: str | None = None


class AccountLinkSource(Protocol):
    async def account_link(self, account_id: UUID, purpose: LinkPurpose) -> AccountLink:
        """A link for `purpose` issued now (it spends the account's older link of that purpose); raises
        (NotFound, Unavailable, ...) otherwise."""


class _LinkBody(BaseModel):
    account_id: UUID
    email: str
    purpose: LinkPurpose
    url: str
    expires_at: AwareDatetime
    locale: str | None = None


class MerchantLinks:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def account_link(self, account_id: UUID, purpose: LinkPurpose) -> AccountLink:
        response = await self._client.request(
            "POST", f"/internal/accounts/{account_id}/links", json={"purpose": purpose}
        )
        body = parse_answer(_LinkBody, response, "merchant answered an unexpected link body")
        if body.account_id != account_id:
            raise NotificationError(f"merchant answered a link of another account than {account_id}")
        if body.purpose != purpose:
            raise NotificationError(f"merchant answered a {body.purpose} link when {purpose} was asked for")
        if not body.email.strip():
            raise NotificationError(f"merchant answered no e-mail address for account {account_id}")
        return AccountLink(
            body.account_id, body.email.strip(), body.purpose, body.url, body.expires_at, body.locale
        )
