"""The api_tokens table and its repository: a shop's tokens by their SHA-256 digest (never the token)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, ForeignKey, Index, LargeBinary, Table, Text, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.adapters.orm import metadata
from merchant.domain.api_tokens import LAST_USED_EVERY, ApiToken

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), ForeignKey("shops.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("token_digest", LargeBinary, nullable=False, unique=True),
    Column("created_by", PgUUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("api_tokens_shop", "shop_id", "created_at"),
)
_metadata = [c for c in api_tokens.c if c.name != "token_digest"]


def _token(row: Any) -> ApiToken:
    fields = {c.name: row._mapping[c.name] for c in _metadata}
    return ApiToken(**{**fields, "scopes": tuple(fields["scopes"])})


class ApiTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: ApiToken, token_digest: bytes) -> None:
        values = {**vars(token), "scopes": list(token.scopes)}
        await self._session.execute(insert(api_tokens).values(**values, token_digest=token_digest))

    async def of_shop(self, shop_id: UUID) -> list[ApiToken]:
        """The shop's tokens, newest first (revoked and expired ones too)."""
        query = (
            select(*_metadata)
            .where(api_tokens.c.shop_id == shop_id)
            .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        )
        return [_token(row) for row in (await self._session.execute(query)).all()]

    async def revoke(self, shop_id: UUID, token_id: UUID, now: datetime) -> ApiToken | None:
        """Revoke the shop's token (a revoked one keeps its first revocation time); None when the shop has no
        such token."""
        await self._session.execute(
            update(api_tokens)
            .where(
                api_tokens.c.shop_id == shop_id,
                api_tokens.c.id == token_id,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        query = select(*_metadata).where(api_tokens.c.shop_id == shop_id, api_tokens.c.id == token_id)
        row = (await self._session.execute(query)).first()
        return _token(row) if row else None

    def _live(self, token_digest: bytes, now: datetime) -> list[Any]:
        return [
            api_tokens.c.token_digest == token_digest,
            api_tokens.c.revoked_at.is_(None),
            or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
        ]

    async def use(self, token_digest: bytes, now: datetime) -> ApiToken | None:
        """The live token of the digest, used now: last_used_at becomes now when it is over LAST_USED_EVERY
        old (the row's update decides between requests at once: one of them writes it). None when the
        digest names no live token."""
        touched = await self._session.execute(
            update(api_tokens)
            .where(
                *self._live(token_digest, now),
                or_(api_tokens.c.last_used_at.is_(None), api_tokens.c.last_used_at <= now - LAST_USED_EVERY),
            )
            .values(last_used_at=now)
            .returning(*_metadata)
        )
        row = touched.first()
        if row is None:
            live = select(*_metadata).where(*self._live(token_digest, now))
            row = (await self._session.execute(live)).first()
        return _token(row) if row else None
