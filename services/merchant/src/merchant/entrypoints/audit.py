"""Merchant internal HTTP API: the audit log (docs/internal-api.md, merchant section). The gateway records an
entry for every state-changing admin or platform request (once per request id) and searches them; it names
the shop of a shop's people on every search."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Self
from uuid import UUID, uuid4

from faka_common.fields import Line, NonBlankLine
from faka_common.http import internal_router
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from merchant.bootstrap import Service
from merchant.domain.audit import (
    MAX_ACTION,
    MAX_ACTOR_LABEL,
    MAX_PAGE_SIZE,
    MAX_REQUEST_ID,
    MAX_SUMMARY,
    MAX_TARGET,
    MAX_USER_AGENT,
    PAGE_SIZE,
    ActorKind,
    AuditEntry,
    AuditSearch,
    Cursor,
)
from merchant.entrypoints.deps import ServiceDep, UtcTime, refused
from merchant.service_layer import audit

#: A cursor is a time and an id, base64: well under this.
MAX_CURSOR = 200

RequestId = Annotated[
    NonBlankLine,
    StringConstraints(max_length=MAX_REQUEST_ID),
    Field(description="The request's id: one entry per id", examples=["9f1c2e7a4b3d4e5f"]),
]
Action = Annotated[
    NonBlankLine, StringConstraints(max_length=MAX_ACTION), Field(examples=["products.create"])
]
Target = Annotated[
    NonBlankLine,
    StringConstraints(max_length=MAX_TARGET),
    Field(description="What the action was done to", examples=["product_id=5d0c…"]),
]


class NewAuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: RequestId
    occurred_at: UtcTime
    actor_kind: ActorKind = Field(description="person, api_token, or system (faka-admin)")
    actor_id: UUID | None = Field(description="The account's or the API token's id")
    actor_label: Annotated[
        NonBlankLine,
        StringConstraints(max_length=MAX_ACTOR_LABEL),
        Field(description="A person's e-mail, a token's name, or faka-admin", examples=["owner@example.com"]),
    ]
    shop_id: UUID | None = Field(description="The shop acted on; null (stated, not left out): the platform")
    action: Action
    target: Target | None = None
    client_ip: IPv4Address | IPv6Address | None = None
    user_agent: Annotated[Line, StringConstraints(max_length=MAX_USER_AGENT)] | None = None
    summary: Annotated[
        NonBlankLine,
        StringConstraints(max_length=MAX_SUMMARY),
        Field(description="What changed, in a line; never a secret or a key", examples=["name: 'A' -> 'B'"]),
    ]
    outcome: int = Field(ge=100, le=599, description="The HTTP status the request got")

    def entry(self) -> AuditEntry:
        fields = self.model_dump(exclude={"client_ip"})
        address = None if self.client_ip is None else str(self.client_ip)
        return AuditEntry(id=uuid4(), client_ip=address, **fields)


class AuditEntryView(BaseModel):
    entry_id: UUID
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

    @classmethod
    def of(cls, entry: AuditEntry) -> Self:
        return cls(entry_id=entry.id, **{k: v for k, v in vars(entry).items() if k != "id"})


class AuditPageView(BaseModel):
    items: list[AuditEntryView]
    next: str | None = Field(description="Pass as `before` for the next (older) page; null on the last page")


api = APIRouter(prefix="/audit-entries", tags=["audit"])


@api.post(
    "",
    status_code=201,
    summary="Record an audit entry (once per request id: again, 200 with the entry first recorded)",
    responses={
        200: {"model": AuditEntryView, "description": "The request id had an entry: that one, unchanged"},
        **refused("nothing else"),
        422: {"description": "A field breaks its rules, or an unknown field"},
    },
)
async def record_audit_entry(body: NewAuditEntry, response: Response, service: ServiceDep) -> AuditEntryView:
    stored, created = await audit.record(body.entry(), service.uow())
    response.status_code = 201 if created else 200
    return AuditEntryView.of(stored)


@api.get(
    "",
    summary="Search the audit log, newest first, a page at a time",
    responses={**refused("nothing else"), 422: {"description": "A malformed filter or cursor"}},
)
async def search_audit_entries(
    service: ServiceDep,
    shop_id: Annotated[UUID | None, Query(description="Only this shop's entries")] = None,
    actor_id: Annotated[UUID | None, Query()] = None,
    action: Annotated[Action | None, Query()] = None,
    target: Annotated[Target | None, Query()] = None,
    since: Annotated[UtcTime | None, Query(description="From this time on (inclusive)")] = None,
    until: Annotated[UtcTime | None, Query(description="Before this time (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
    before: Annotated[str | None, Query(max_length=MAX_CURSOR, description="The last page's `next`")] = None,
) -> AuditPageView:
    query = AuditSearch(
        shop_id=shop_id,
        actor_id=actor_id,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        before=None if before is None else Cursor.decode(before),
    )
    page = await audit.search(query, service.uow())
    return AuditPageView(
        items=[AuditEntryView.of(entry) for entry in page.entries],
        next=None if page.next is None else page.next.encode(),
    )


def router(service: Service) -> APIRouter:
    internal = internal_router(service.settings, callers={"gateway"})
    internal.include_router(api)
    return internal
