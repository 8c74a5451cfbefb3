"""Bulk sealing for card-key imports: a block of upload lines is parsed, fingerprinted and sealed in one
call that returns the staging rows as binary COPY data, so it can run in a worker process and the event
loop only forwards bytes. The staging table is created by KeyRepository.bulk_load with these columns. How
an import is cut into blocks and where they are sealed is a `Sealing`, passed to the import."""

from __future__ import annotations

import multiprocessing
import os
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from uuid import UUID

from faka_common.crypto import NONCE_BYTES, KeyRing

from inventory.domain.keys import REPORTED_INVALID_LINES, ImportFormat, InvalidLine, read_key

STAGING = "import_staging"
STAGING_COLUMNS = ("line", "id", "fingerprint", "key_id", "sealed")
STAGING_TABLE = (
    f"CREATE TEMPORARY TABLE {STAGING} (line integer NOT NULL, id uuid NOT NULL, fingerprint bytea NOT NULL, "
    "key_id text NOT NULL, sealed bytea NOT NULL) ON COMMIT DROP"
)

# PostgreSQL binary COPY: signature, flags, header extension length; each row is a field count then
# (length, bytes) per field; -1 as field count ends the data.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = struct.pack(">h", -1)
_ROW_HEAD = struct.Struct(">hiii16si32s")  # 5 fields; line int4; id uuid; fingerprint bytea(32)
_LENGTH = struct.Struct(">i")
FINGERPRINT_BYTES = 32


@dataclass(frozen=True)
class SealJob:
    """Lines first_line, first_line + 1, ... of an upload (None: an overlong line)."""

    keyring: KeyRing
    fmt: ImportFormat
    product_id: UUID
    id_base: int  # a key's id is id_base | its line number
    first_line: int
    lines: list[bytes | None]


@dataclass(frozen=True)
class SealedBlock:
    copy_data: bytes  # binary COPY rows for STAGING_COLUMNS, header and trailer included
    keys: int
    invalid: int
    invalid_lines: list[InvalidLine] = field(default_factory=list)  # the first few, in line order


def seal_block(job: SealJob) -> SealedBlock:
    """Parse, fingerprint and seal a block of lines. A key is sealed with the (product, key id) context
    of seal_context, and its fingerprint is KeyRing.fingerprint scoped to the product."""
    keyring = job.keyring
    scope = job.product_id.bytes
    active = keyring.active.encode()
    key_id_field = _LENGTH.pack(len(active)) + active
    nonces = os.urandom(NONCE_BYTES * len(job.lines))
    fingerprint, seal, row_head, length = keyring.fingerprint_bytes, keyring.seal_bytes, _ROW_HEAD, _LENGTH
    out = [COPY_HEADER]
    keys = invalid = 0
    invalid_lines: list[InvalidLine] = []
    for offset, raw in enumerate(job.lines):
        number = job.first_line + offset
        key = read_key(raw, job.fmt, number)
        if key is None:
            continue
        if isinstance(key, InvalidLine):
            invalid += 1
            if len(invalid_lines) < REPORTED_INVALID_LINES:
                invalid_lines.append(key)
            continue
        plain = key.encode()
        key_uuid = (job.id_base | number).to_bytes(16, "big")
        nonce = nonces[offset * NONCE_BYTES : (offset + 1) * NONCE_BYTES]
        blob = seal(plain, scope + key_uuid, nonce)  # == seal_context(product_id, UUID(bytes=key_uuid))
        out.append(row_head.pack(5, 4, number, 16, key_uuid, FINGERPRINT_BYTES, fingerprint(plain, scope)))
        out.append(key_id_field)
        out.append(length.pack(len(blob)))
        out.append(blob)
        keys += 1
    out.append(COPY_TRAILER)
    return SealedBlock(b"".join(out), keys, invalid, invalid_lines)


# --- the worker processes --------------------------------------------------------------------------

WORKERS = os.cpu_count() or 1
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def sealing_pool() -> ProcessPoolExecutor:
    """The worker processes bulk sealing runs in: started on first use (spawned, so nothing of the
    service's threads or connections is inherited) and kept for later imports."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"))
        return _pool


def _ready() -> None:
    """A no-op job: the worker that runs it has started and imported this module."""


def start_workers() -> None:
    """Start every worker process now (e.g. at service start) rather than on the first big import, which
    otherwise waits a second or two for them."""
    pool = sealing_pool()
    for job in [pool.submit(_ready) for _ in range(WORKERS)]:
        job.result()


def discard_pool(broken: ProcessPoolExecutor) -> None:
    """Forget a pool whose worker died (BrokenProcessPool), so the next import starts a fresh one."""
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Sealing:
    """How an import cuts its upload into sealing jobs, how far ahead of the database they run, and where:
    the worker pool for a job (a single-block upload is sealed on a thread) and the call run on each."""

    lines: int = 20_000  # lines per sealing job during an import (parsed, fingerprinted, sealed in a worker)
    bytes: int = 2 * 1024 * 1024  # ... or fewer lines if they add up to this many bytes (bounded memory)
    ahead: int = 3  # sealing jobs queued ahead of the block the database is loading
    first_block_lines: int = 2_000  # a short first block, so the database starts loading sooner
    pool: Callable[[], ProcessPoolExecutor] = sealing_pool
    seal: Callable[[SealJob], SealedBlock] = seal_block


#: What an import is sealed with unless it is given another Sealing.
SEALING = Sealing()
