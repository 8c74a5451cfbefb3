"""Bulk sealing for imports: the binary COPY rows a worker process returns, the picklable keyring it gets,
and the line splitter the blocks are cut with."""

import pickle
import struct
import uuid

from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing, Sealed
from hypothesis import given, settings
from hypothesis import strategies as st
from inventory.adapters.sealing import COPY_HEADER, COPY_TRAILER, STAGING_COLUMNS, SealJob, seal_block
from inventory.domain.keys import (
    BOM_BYTES,
    MAX_LINE_BYTES,
    REPORTED_INVALID_LINES,
    ImportFormat,
    InvalidLine,
    LineSplitter,
    seal_context,
)

KEYRING = KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET)


def copy_rows(data: bytes) -> list[list[bytes]]:
    """Decode PostgreSQL binary COPY data (as the server would) into rows of raw field values."""
    assert data.startswith(COPY_HEADER) and data.endswith(COPY_TRAILER)
    rows, at = [], len(COPY_HEADER)
    while True:
        (fields,) = struct.unpack_from(">h", data, at)
        at += 2
        if fields == -1:
            assert at == len(data)
            return rows
        row = []
        for _ in range(fields):
            (length,) = struct.unpack_from(">i", data, at)
            row.append(data[at + 4 : at + 4 + length])
            at += 4 + length
        rows.append(row)


def test_a_block_becomes_copy_rows_that_open_in_their_own_row() -> None:
    product_id = uuid.uuid4()
    id_base = uuid.uuid4().int & ~0xFFFFFFFF
    lines: list[bytes | None] = [b"  KEY-A \t", b"", b"BAD\x07", None, "卡密-B".encode(), b"\xff"]
    block = seal_block(SealJob(KEYRING, ImportFormat.TEXT, product_id, id_base, 41, lines))

    assert (block.keys, block.invalid) == (2, 3)
    assert [i.line for i in block.invalid_lines] == [43, 44, 46]
    rows = copy_rows(block.copy_data)
    assert [len(row) for row in rows] == [len(STAGING_COLUMNS)] * 2
    for row, number, plain in zip(rows, (41, 45), ("KEY-A", "卡密-B"), strict=True):
        line, key_id, fingerprint, ring_key, blob = row
        assert struct.unpack(">i", line) == (number,)
        assert uuid.UUID(bytes=key_id) == uuid.UUID(int=id_base | number)
        assert fingerprint == KEYRING.fingerprint(plain, product_id.bytes)
        assert ring_key.decode() == KEYRING.active
        context = seal_context(product_id, uuid.UUID(bytes=key_id))
        assert KEYRING.open(Sealed(ring_key.decode(), blob), context) == plain
    assert rows[0][4][:12] != rows[1][4][:12]  # a fresh nonce per key


def test_a_block_reports_only_the_first_invalid_lines_but_counts_them_all() -> None:
    lines: list[bytes | None] = [b"\x01"] * (REPORTED_INVALID_LINES + 5)
    block = seal_block(SealJob(KEYRING, ImportFormat.TEXT, uuid.uuid4(), 0, 1, lines))
    assert (block.keys, block.invalid, len(block.invalid_lines)) == (0, REPORTED_INVALID_LINES + 5, 100)
    assert block.invalid_lines[0] == InvalidLine(1, "control character U+0001 at column 1")
    assert copy_rows(block.copy_data) == []


def test_a_csv_block_joins_key_and_secret() -> None:
    product_id = uuid.uuid4()
    block = seal_block(SealJob(KEYRING, ImportFormat.CSV, product_id, 0, 1, [b"key,secret", b"C-1, P-1"]))
    [row] = copy_rows(block.copy_data)
    context = seal_context(product_id, uuid.UUID(bytes=row[1]))
    assert KEYRING.open(Sealed(KEYRING.active, row[4]), context) == "C-1 P-1"


def test_the_keyring_pickles_for_worker_processes_without_showing_keys() -> None:
    copy = pickle.loads(pickle.dumps(KEYRING))
    context = b"ctx"
    assert copy.open(KEYRING.seal("K", context), context) == "K"
    assert copy.fingerprint("K", b"p") == KEYRING.fingerprint("K", b"p")
    assert copy.fingerprint_bytes(b"K", b"p") == KEYRING.fingerprint("K", b"p")
    assert "faka-development" not in repr(KEYRING) and KEYRING.active in repr(KEYRING)


def reference_lines(body: bytes) -> list[tuple[int, bytes | None]]:
    """What the splitter must produce for a whole upload, whatever the chunking."""
    if body.startswith(BOM_BYTES):
        body = body[len(BOM_BYTES) :]
    return [(n, None if len(line) > MAX_LINE_BYTES else line) for n, line in enumerate(body.splitlines(), 1)]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b"\x0b\x0c\x1c", BOM_BYTES, b"\xef", b"x" * 3000]),
        max_size=30,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=90_000), max_size=6),
)
def test_split_lines_do_not_depend_on_where_chunks_end(pieces: list[bytes], cuts: list[int]) -> None:
    body = b"".join(pieces)
    bounds = sorted({min(c, len(body)) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *bounds], [*bounds, len(body)], strict=True)]
    splitter = LineSplitter()
    got: list[tuple[int, bytes | None]] = []
    for chunk in chunks:
        first, lines = splitter.split(chunk)
        assert first == len(got) + 1
        got += enumerate(lines, first)
    got += splitter.close()
    assert got == reference_lines(body)
