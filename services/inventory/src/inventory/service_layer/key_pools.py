"""A card-key product's pool: streamed imports (cut into blocks sealed in worker processes, as the
`Sealing` passed in says, and loaded into the pool in one transaction), the void and replacement of one
key, a page of the pool, the export of its unsold keys, and the audited reveals of a paid order's keys."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from faka_common.crypto import KeyRing
from faka_common.errors import Conflict, DomainError, NotFound
from uuid6 import uuid7

from inventory.adapters.key_pools import Reveal
from inventory.adapters.sealing import SEALING, SealedBlock, Sealing, SealJob, discard_pool
from inventory.domain import stock
from inventory.domain.keys import (
    ImportFormat,
    ImportTally,
    InvalidLine,
    LineSplitter,
    loop_key_context,
    read_key,
    seal_context,
)
from inventory.domain.model import PoolKey, Product
from inventory.service_layer.catalog import find_product
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportOptions:
    format: ImportFormat = ImportFormat.TEXT
    cost_price: int | None = None
    expires_at: datetime | None = None
    supplier_id: UUID | None = None


@dataclass(frozen=True)
class ImportResult:
    batch_id: UUID
    imported: int
    duplicates: int
    invalid: int
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    cost_price: int | None = None
    expires_at: datetime | None = None
    supplier_id: UUID | None = None


@dataclass(frozen=True)
class RevealedKey:
    key_id: UUID
    content: str


@dataclass(frozen=True)
class Revealed:
    order_id: UUID
    shop_id: UUID
    product_id: UUID
    keys: list[RevealedKey]
    usage_instructions: str


async def _card_product(uow: InventoryUnitOfWork, shop_id: UUID, product_id: UUID) -> Product:
    """The shop's card-key product (404 for an unknown id or another shop's)."""
    product = await find_product(shop_id, product_id, uow)
    if product.delivery_type != "card_key":
        raise Conflict(f"this is a {product.delivery_type} product: it takes no card-key imports")
    return product


async def _sealed_blocks(
    chunks: AsyncIterable[bytes],
    fmt: ImportFormat,
    product_id: UUID,
    keyring: KeyRing,
    tally: ImportTally,
    sealing: Sealing,
) -> AsyncGenerator[bytes, None]:
    """The upload's staged keys as binary COPY data, block by block in upload order. A producer task
    reads the upload and cuts it into blocks of `sealing.lines` lines (or `sealing.bytes`), which the
    worker processes parse, fingerprint and seal, up to `sealing.ahead` blocks ahead of the one the
    database is loading; an upload that fits in one block is sealed on a thread. A key's id is the
    batch's id base plus its line number: unique, and in upload order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[asyncio.Future[SealedBlock] | None] = asyncio.Queue(sealing.ahead)
    pool: ProcessPoolExecutor | None = None

    async def produce() -> None:
        nonlocal pool
        splitter = LineSplitter()
        id_base = uuid7().int & ~0xFFFFFFFF
        lines: list[bytes | None] = []
        first = size = 0
        limit = sealing.first_block_lines

        async def submit(executor: ProcessPoolExecutor | None) -> None:
            nonlocal lines, size
            job = SealJob(keyring, fmt, product_id, id_base, first, lines)
            lines, size = [], 0
            await queue.put(loop.run_in_executor(executor, sealing.seal, job))

        try:
            async for chunk in chunks:
                start, new = splitter.split(chunk)
                if not lines:
                    first = start
                lines.extend(new)
                size += len(chunk)
                if len(lines) >= limit or size >= sealing.bytes:
                    pool = pool or sealing.pool()
                    await submit(pool)
                    limit = sealing.lines
            for number, raw in splitter.close():
                first = number if not lines else first
                lines.append(raw)
            if lines:
                await submit(pool)  # None (a thread) when the whole upload is this one block
        except Exception as error:  # the upload broke off: the consumer raises it in turn
            failed: asyncio.Future[SealedBlock] = loop.create_future()
            failed.set_exception(error)
            await queue.put(failed)
        await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (pending := await queue.get()) is not None:
            try:
                block = await pending
            except BrokenProcessPool:
                if pool is not None:
                    discard_pool(pool)
                raise
            for line in block.invalid_lines:
                tally.reject(line)
            tally.invalid += block.invalid - len(block.invalid_lines)
            tally.keys += block.keys
            yield block.copy_data
    finally:
        producer.cancel()
        while not queue.empty():
            if (left := queue.get_nowait()) is not None:
                left.cancel()
        await asyncio.gather(producer, return_exceptions=True)


async def import_key_stream(
    shop_id: UUID,
    product_id: UUID,
    chunks: AsyncIterable[bytes],
    options: ImportOptions,
    uow: InventoryUnitOfWork,
    keyring: KeyRing,
    *,
    sealing: Sealing = SEALING,
) -> ImportResult:
    """Stream an upload into the product's pool in one transaction: lines are parsed, fingerprinted and
    sealed as they arrive (in blocks, as `sealing` says) and COPYed to a staging table; keys the product
    already holds (or that repeat within the upload) are counted as duplicates. If anything fails, nothing
    of the upload is kept."""
    product = await _card_product(uow, shop_id, product_id)
    if options.cost_price is not None and options.cost_price < 0:
        raise DomainError("cost_price must not be negative")
    batch = await uow.keys.new_batch(
        uuid7(), product, options.cost_price, options.expires_at, options.format.value, options.supplier_id
    )
    tally = ImportTally()
    async with contextlib.aclosing(
        _sealed_blocks(chunks, options.format, product_id, keyring, tally, sealing)
    ) as blocks:
        staged, imported = await uow.keys.bulk_load(batch, options.expires_at, blocks)
    duplicates = staged - imported
    await uow.keys.record_batch(
        batch.id,
        imported,
        duplicates,
        tally.invalid,
        [{"line": i.line, "reason": i.reason} for i in tally.invalid_lines],
    )
    if not batch.withheld:  # a paused supplier's keys come in withdrawn, not on sale
        await uow.stock.record(product.shop_id, product_id, stock.imported(imported))
    await uow.commit()
    log.info(
        "batch %s for %s: %d imported, %d duplicates, %d invalid",
        batch.id,
        product_id,
        imported,
        duplicates,
        tally.invalid,
    )
    return ImportResult(
        batch.id,
        imported,
        duplicates,
        tally.invalid,
        tally.invalid_lines,
        options.cost_price,
        options.expires_at,
        options.supplier_id,
    )


async def import_keys(
    shop_id: UUID,
    product_id: UUID,
    text: str,
    uow: InventoryUnitOfWork,
    keyring: KeyRing,
    options: ImportOptions | None = None,
    *,
    sealing: Sealing = SEALING,
) -> ImportResult:
    """Import keys pasted as text (one key per line)."""

    async def one_chunk() -> AsyncIterator[bytes]:
        yield text.encode("utf-8", errors="surrogateescape")

    return await import_key_stream(
        shop_id, product_id, one_chunk(), options or ImportOptions(), uow, keyring, sealing=sealing
    )


async def void_key(shop_id: UUID, product_id: UUID, key_id: UUID, uow: InventoryUnitOfWork) -> None:
    """Withdraw one unsold key for good; a reserved or sold key cannot be voided."""
    product = await _card_product(uow, shop_id, product_id)
    if not await uow.keys.withdraw(product_id, key_id, "void"):
        raise Conflict(
            f"key {key_id} of product {product_id} is not available (unknown, reserved, sold or void)"
        )
    await uow.stock.record(product.shop_id, product_id, stock.withdrawn(1))
    await uow.commit()
    log.info("key %s of %s voided", key_id, product_id)


async def replace_key(
    shop_id: UUID, product_id: UUID, key_id: UUID, content: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> UUID:
    """Void one unsold key and add its replacement, in one transaction; returns the new key's id."""
    product = await _card_product(uow, shop_id, product_id)
    key = read_key(content.encode("utf-8", errors="surrogateescape"), ImportFormat.TEXT, 1)
    if key is None or isinstance(key, InvalidLine):
        raise DomainError(f"the replacement key is not valid: {key.reason if key else 'empty'}")
    if not await uow.keys.withdraw(product_id, key_id, "void"):
        raise Conflict(
            f"key {key_id} of product {product_id} is not available (unknown, reserved, sold or void)"
        )
    batch = await uow.keys.new_batch(uuid7(), product, None, None, "replacement")
    new_id = uuid7()
    added = await uow.keys.add_one(
        new_id,
        batch,
        keyring.fingerprint(key, product_id.bytes),
        keyring.seal(key, seal_context(product_id, new_id)),
    )
    if not added:
        raise Conflict("the replacement key is already in this product's pool")
    await uow.keys.record_batch(batch.id, 1, 0, 0, [])
    await uow.commit()
    log.info("key %s of %s replaced by %s", key_id, product_id, new_id)
    return new_id


async def list_pool(
    shop_id: UUID,
    product_id: UUID,
    status: str | None,
    after: UUID | None,
    limit: int,
    uow: InventoryUnitOfWork,
) -> list[PoolKey]:
    """A page of the shop's card-key product's pool: ids, states and fingerprints, never the keys."""
    product = await _card_product(uow, shop_id, product_id)
    return await uow.keys.listed(product.id, status, after, limit)


async def export_unsold(
    shop_id: UUID, product_id: UUID, uow: InventoryUnitOfWork, keyring: KeyRing
) -> AsyncIterator[str]:
    """The plaintext of the shop's product's unsold keys in issue order, one per line, streamed."""
    product = await _card_product(uow, shop_id, product_id)
    exported = 0
    async for stored in uow.keys.stream_unsold(product.id, product.issue_order):
        yield keyring.open(stored.sealed, seal_context(stored.product_id, stored.id)) + "\n"
        exported += 1
    log.info("exported %d unsold keys of %s", exported, product_id)


async def reveal_keys(
    shop_id: UUID, order_id: UUID, reader: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> Revealed:
    """The plaintext of the keys a paid order of the shop owns; every reveal is audit-logged with its
    reader, by the statement that reads the keys (one round trip: run in a reader's unit of work it commits
    on its own). Another shop's order is answered as one that owns no keys, and nothing is logged."""
    found = await uow.reveals.reveal(shop_id, order_id, reader)
    if found is None:
        raise NotFound(f"order {order_id} owns no keys")
    revealed = _opened(found, keyring)
    await uow.commit()
    log.info("revealed %d keys of order %s to %s", len(revealed.keys), order_id, reader)
    return revealed


async def reveal_keys_many(
    asked: Sequence[tuple[UUID, UUID]], reader: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> list[Revealed]:
    """`reveal_keys` of several (order, shop) pairs in one statement, in order-id order: an order its named
    shop does not own with keys allocated is left out (nothing logged for it), as is a pair asked twice."""
    found = await uow.reveals.reveal_many(asked, reader)
    revealed = [opened for opened in (_opened_or_none(reveal, keyring) for reveal in found) if opened]
    await uow.commit()
    log.info("revealed the keys of %d orders of %d asked to %s", len(revealed), len(asked), reader)
    return revealed


def _opened(found: Reveal, keyring: KeyRing) -> Revealed:
    """The plaintext of what a reveal read: the loop key once a unit, or the sold keys (NotFound when there
    are none to show)."""
    product = found.product
    if product.delivery_type == "loop_key":
        if product.loop_key is None:
            raise NotFound(f"product {product.id} has no loop key")
        content = keyring.open(product.loop_key, loop_key_context(product.id))
        keys = [RevealedKey(product.id, content) for _ in range(found.quantity)]
    else:
        keys = [
            RevealedKey(stored.id, keyring.open(stored.sealed, seal_context(stored.product_id, stored.id)))
            for stored in found.sold
        ]
        if not keys:
            raise NotFound(f"order {found.order_id} owns no keys")
    return Revealed(found.order_id, product.shop_id, product.id, keys, product.usage_instructions)


def _opened_or_none(found: Reveal, keyring: KeyRing) -> Revealed | None:
    try:
        return _opened(found, keyring)
    except NotFound:
        return None
