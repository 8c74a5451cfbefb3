"""Card-key imports and sealing: pure rules, no I/O."""

import csv
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

MAX_KEY_LENGTH = 1000
BOM = "\ufeff"
LINE_BREAKS = ("\u2028", "\u2029")


@dataclass(frozen=True)
class ParsedImport:
    """The keys of one upload, in upload order, and what was set aside."""

    keys: list[str] = field(default_factory=list)
    duplicates: int = 0
    invalid: int = 0


def is_valid_key(line: str) -> bool:
    """A key fits on one line, is at most MAX_KEY_LENGTH characters and holds no control characters."""
    if not line or len(line) > MAX_KEY_LENGTH:
        return False
    return not any(unicodedata.category(ch) == "Cc" or ch in LINE_BREAKS for ch in line)


def parse_import(text: str) -> ParsedImport:
    """One key per line: a leading BOM and CRLF/CR line ends are tolerated, surrounding spaces trimmed,
    blank lines ignored; an invalid line is counted, a repeat within the upload counted as a duplicate."""
    if text.startswith(BOM):
        text = text[len(BOM) :]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    keys: list[str] = []
    seen: set[str] = set()
    duplicates = invalid = 0
    for raw in lines:
        line = raw.strip(" \t")
        if not line.strip():
            continue
        if not is_valid_key(line):
            invalid += 1
        elif line in seen:
            duplicates += 1
        else:
            seen.add(line)
            keys.append(line)
    return ParsedImport(keys, duplicates, invalid)


def seal_context(product_id: UUID, key_id: UUID) -> bytes:
    """The AES-GCM associated data: a sealed key only opens in the row (product, key) it was written for."""
    return product_id.bytes + key_id.bytes


def loop_key_context(product_id: UUID) -> bytes:
    """A product's loop key is sealed as the key of id product_id within that product."""
    return seal_context(product_id, product_id)


# --- streamed imports ------------------------------------------------------------------------------

BOM_BYTES = BOM.encode()
MAX_LINE_BYTES = 4 * MAX_KEY_LENGTH + 8  # a UTF-8 character is at most 4 bytes
REPORTED_INVALID_LINES = 100
CSV_HEADERS = frozenset({"key", "keys", "code", "card", "card_key", "cdkey", "卡号", "卡密", "激活码"})
CSV_SEPARATOR = " "
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ImportFormat(StrEnum):
    TEXT = "text"  # one key per line
    CSV = "csv"  # key[,secret] columns; a secret is joined to its key with CSV_SEPARATOR


@dataclass(frozen=True)
class InvalidLine:
    line: int
    reason: str


class LineSplitter:
    """Cuts a byte stream into numbered lines as it arrives: LF, CRLF and lone CR end a line, a leading
    BOM is dropped, and a line longer than MAX_LINE_BYTES is cut short (and flagged) so memory stays
    bounded whatever the upload holds."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overlong = False
        self._line = 0
        self._head = bytearray()  # the first bytes, until we know whether they are a BOM
        self._started = False
        self._after_cr = False

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes | None]]:
        """(line number, bytes) for each line completed by `chunk`; bytes is None for an overlong line."""
        first, lines = self.split(chunk)
        yield from enumerate(lines, first)

    def split(self, chunk: bytes) -> tuple[int, list[bytes | None]]:
        """The lines completed by `chunk` as (number of the first one, lines): `feed` without a tuple
        per line, for bulk imports. bytes.splitlines breaks at exactly LF, CRLF and CR."""
        first = self._line + 1
        if not self._started:
            self._head.extend(chunk)
            if len(self._head) < len(BOM_BYTES) and BOM_BYTES.startswith(bytes(self._head)):
                return first, []
            chunk = self._start()
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._after_cr = chunk.endswith(b"\r")
        if not chunk:
            return first, []
        parts: list[bytes] = chunk.splitlines()
        tail = None if chunk.endswith((b"\n", b"\r")) else parts.pop()  # completed by a later chunk
        lines: list[bytes | None] = list(parts)
        if parts and (self._buffer or self._overlong):  # the first line began in an earlier chunk
            self._append(parts[0])
            lines[0] = None if self._overlong else bytes(self._buffer)
            self._buffer.clear()
            self._overlong = False
        if parts and max(map(len, parts)) > MAX_LINE_BYTES:
            lines = [None if line is None or len(line) > MAX_LINE_BYTES else line for line in lines]
        if tail is not None:
            self._append(tail)
        self._line += len(lines)
        return first, lines

    def close(self) -> Iterator[tuple[int, bytes | None]]:
        if not self._started:
            self._append(self._start())
        if self._buffer or self._overlong:
            yield self._complete()

    def _start(self) -> bytes:
        self._started = True
        head = bytes(self._head)
        self._head.clear()
        return head[len(BOM_BYTES) :] if head.startswith(BOM_BYTES) else head

    def _append(self, piece: bytes) -> None:
        if self._overlong or not piece:
            return
        self._buffer.extend(piece)
        if len(self._buffer) > MAX_LINE_BYTES:
            self._overlong = True
            self._buffer.clear()

    def _complete(self) -> tuple[int, bytes | None]:
        self._line += 1
        line = None if self._overlong else bytes(self._buffer)
        self._overlong = False
        self._buffer.clear()
        return self._line, line


def read_key(raw: bytes | None, fmt: ImportFormat, line: int = 0) -> str | InvalidLine | None:
    """The key a line holds, an InvalidLine saying why not, or None for a blank line (or a CSV header)."""
    if raw is None:
        return InvalidLine(line, f"longer than {MAX_KEY_LENGTH} characters")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return InvalidLine(line, f"not UTF-8 (bad byte 0x{raw[error.start]:02x} at column {error.start + 1})")
    if fmt is ImportFormat.CSV:
        return _csv_key(text, line)
    return _checked(text.strip(" \t"), line)


def _csv_key(text: str, line: int) -> str | InvalidLine | None:
    if not text.strip():
        return None
    try:
        fields = next(csv.reader([text], skipinitialspace=True))
    except csv.Error as error:
        return InvalidLine(line, f"not a CSV row: {error}")
    fields = [f.strip(" \t") for f in fields]
    while fields and not fields[-1]:
        fields.pop()
    if not fields:
        return None
    if len(fields) > 2:
        return InvalidLine(line, f"{len(fields)} columns; expected key[,secret]")
    if not fields[0]:
        return InvalidLine(line, "empty key column")
    if line == 1 and fields[0].lower() in CSV_HEADERS:
        return None
    return _checked(CSV_SEPARATOR.join(fields), line)


def _checked(key: str, line: int) -> str | InvalidLine | None:
    if not key.strip():
        return None
    if len(key) > MAX_KEY_LENGTH:
        return InvalidLine(line, f"longer than {MAX_KEY_LENGTH} characters")
    bad = _FORBIDDEN.search(key)
    if bad is not None:
        return InvalidLine(line, f"control character U+{ord(bad.group()):04X} at column {bad.start() + 1}")
    return key


@dataclass
class ImportTally:
    """What a streamed import has seen so far: keys read, invalid lines (the first few with reasons)."""

    keys: int = 0
    invalid: int = 0
    invalid_lines: list[InvalidLine] = field(default_factory=list)

    def reject(self, invalid: InvalidLine) -> None:
        self.invalid += 1
        if len(self.invalid_lines) < REPORTED_INVALID_LINES:
            self.invalid_lines.append(invalid)


def key_position(batch_seq: int, line: int) -> int:
    """A key's FIFO position: batches in import order, lines in upload order within a batch."""
    return (batch_seq << 32) | line
