"""The audit log: the gateway records its requests' entries (once per request id) and searches them."""

from __future__ import annotations

from merchant.domain.audit import AuditEntry, AuditPage, AuditSearch
from merchant.service_layer.unit_of_work import MerchantUnitOfWork


async def record(entry: AuditEntry, uow: MerchantUnitOfWork) -> tuple[AuditEntry, bool]:
    """Store the entry unless its request id has one: the stored entry and whether it is new (the first
    write of a request id wins; a retry, or another body under it, changes nothing)."""
    async with uow:
        stored, created = await uow.audit.add(entry)
        await uow.commit()
    return stored, created


async def search(query: AuditSearch, uow: MerchantUnitOfWork) -> AuditPage:
    """One page of the entries the query matches, newest first, and where the next page starts."""
    async with uow:
        return await uow.audit.search(query)
