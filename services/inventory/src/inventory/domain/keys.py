"""Card-key imports and sealing: pure rules, no I/O."""

import unicodedata
from dataclasses import dataclass, field
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
