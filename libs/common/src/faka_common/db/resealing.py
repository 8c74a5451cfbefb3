"""Re-seal what a service keeps sealed (secrets and keys in (key id, blob) column pairs) with the keyring's
active key, after a new key was added to KEY_ENCRYPTION_KEYS and made active. Once every service reports
nothing left under the old key id, that key can leave the keyring. Batch by batch, each batch one transaction
over its rows locked, so it runs beside live traffic, and can be stopped and run again."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter
from sqlalchemy import Column, Table, and_, bindparam, or_, select, tuple_, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from faka_common.crypto import KeyRing, KeyRingError, Sealed
from faka_common.http import internal_router
from faka_common.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SealedColumns:
    """One sealed value of a row: its key id and blob columns (both NULL where the row holds none), and the
    context it was sealed under, from the row (what binds it to its owner: a value copied to another row does
    not open)."""

    key_id: Column[Any]
    blob: Column[Any]
    context: Callable[[Row[Any]], bytes]


@dataclass(frozen=True)
class SealedTable:
    """A table whose rows hold sealed values, and the columns of its primary key (they order the batches)."""

    table: Table
    key: Sequence[Column[Any]]
    values: Sequence[SealedColumns]


@dataclass
class Resealed:
    """How many values were re-sealed, and how many could not be opened (their key id is not in the keyring,
    or the blob does not open under its context): those stay as they are, each logged, and the old key must
    stay in the keyring until someone looks."""

    resealed: int = 0
    unreadable: int = 0


async def reseal(
    sessions: async_sessionmaker[AsyncSession],
    keyring: KeyRing,
    tables: Sequence[SealedTable],
    batch: int = 500,
) -> Resealed:
    """Re-seal every value in `tables` not sealed with the active key."""
    outcome = Resealed()
    for sealed in tables:
        await _reseal_table(sessions, keyring, sealed, batch, outcome)
    log.info(
        "re-sealed %d values with key id %s; %d could not be opened",
        outcome.resealed,
        keyring.active,
        outcome.unreadable,
    )
    return outcome


async def _reseal_table(
    sessions: async_sessionmaker[AsyncSession],
    keyring: KeyRing,
    sealed: SealedTable,
    batch: int,
    outcome: Resealed,
) -> None:
    stale = or_(*(v.key_id != keyring.active for v in sealed.values))
    key = tuple_(*sealed.key)
    after = None
    while True:
        query = select(sealed.table).where(stale).order_by(*sealed.key).limit(batch).with_for_update()
        if after is not None:
            query = query.where(key > tuple_(*after))
        async with sessions() as session, session.begin():
            rows = (await session.execute(query)).all()
            # one UPDATE per set of changed columns, each run once with every row of the batch that has it
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                changed = _resealed(keyring, sealed, row, outcome)
                if changed:
                    keys = {f"key_{c.name}": row._mapping[c.name] for c in sealed.key}
                    updates[tuple(changed)].append({**keys, **{f"new_{n}": v for n, v in changed.items()}})
                    outcome.resealed += len(changed) // 2
            for columns, params in updates.items():
                statement = (
                    update(sealed.table)
                    .where(and_(*(c == bindparam(f"key_{c.name}") for c in sealed.key)))
                    .values({name: bindparam(f"new_{name}") for name in columns})
                )
                await session.execute(statement, params)
        if len(rows) < batch:
            return
        after = [rows[-1]._mapping[c.name] for c in sealed.key]


def _resealed(keyring: KeyRing, sealed: SealedTable, row: Row[Any], outcome: Resealed) -> dict[str, Any]:
    """The new key id and blob of each of the row's values sealed under another key."""
    fields = row._mapping
    changed: dict[str, Any] = {}
    for value in sealed.values:
        key_id, blob = fields[value.key_id.name], fields[value.blob.name]
        if key_id is None or blob is None or key_id == keyring.active:
            continue
        context = value.context(row)
        try:
            plaintext = keyring.open(Sealed(key_id, bytes(blob)), context)
        except (KeyRingError, InvalidTag):
            outcome.unreadable += 1
            log.error(
                "%s.%s of row %s is sealed with key id %r and does not open: left as it is",
                sealed.table.name,
                value.blob.name,
                [str(fields[c.name]) for c in sealed.key],
                key_id,
            )
            continue
        again = keyring.seal(plaintext, context)
        changed[value.key_id.name], changed[value.blob.name] = again.key_id, again.blob
    return changed


def resealing_router(
    settings: ServiceSettings,
    sessions: async_sessionmaker[AsyncSession],
    keyring: KeyRing,
    tables: Sequence[SealedTable],
) -> APIRouter:
    """`POST /internal/keys/reencrypt` (the gateway's platform route calls it on every service that seals):
    re-seal the service's `tables` with the active key. Not shop-owned: the keyring is the platform's."""
    api = internal_router(settings, callers={"gateway"})

    @api.post(
        "/keys/reencrypt",
        summary="Re-seal every sealed secret of every shop with the active encryption key id",
    )
    async def reencrypt() -> dict[str, Any]:
        outcome = await reseal(sessions, keyring, tables)
        return {
            "resealed": outcome.resealed,
            "unreadable": outcome.unreadable,
            "active_key_id": keyring.active,
        }

    return api
