"""Field types that request models share, each carrying in its JSON schema the constraint it enforces.

`Line` is one line of printable text: no control characters (NUL would reach Postgres and fail there),
no bidirectional controls (a right-to-left override makes `moc.evil@buyer` read as something else), no
unpaired surrogates (they cannot be encoded as UTF-8). `Text` is the same with tabs and line breaks
allowed. `Money` is an amount in minor units, bounded so that any sum of them fits a BIGINT."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, StringConstraints

_BIDI = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
LINE_REFUSES = "\\u0000-\\u001f\\u007f-\\u009f" + _BIDI
_TEXT_REFUSES = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f" + _BIDI
#: The patterns the JSON schema shows (ECMA-262 and Python both read them); unpaired surrogates, which a
#: JSON schema cannot name, are refused too.
LINE_PATTERN = f"^[^{LINE_REFUSES}]*$"
#: A Line with at least one character that is not white space (what a stripped, non-empty name needs).
NONBLANK_LINE_PATTERN = f"^[^{LINE_REFUSES}]*[^{LINE_REFUSES}\\s][^{LINE_REFUSES}]*$"
TEXT_PATTERN = f"^[^{_TEXT_REFUSES}]*$"

#: 10^12 minor units (ten billion yuan or dollars): above any real price, far below 2^63.
MAX_MONEY = 10**12


# A pattern rather than a validator function: length limits and stripping stacked on these types stay
# ordinary string constraints (checked after stripping, with their own messages), and a string with a
# pattern is checked as UTF-8, which refuses unpaired surrogates before the pattern is tried.
Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
NonBlankLine = Annotated[str, StringConstraints(pattern=NONBLANK_LINE_PATTERN)]
PRINTABLE_TEXT = "must not contain control, bidirectional-control or unpaired surrogate characters"
PRINTABLE_LINE = (
    "must not contain line breaks, control, bidirectional-control or unpaired surrogate characters"
)
Money = Annotated[int, Field(ge=0, le=MAX_MONEY, description=f"Minor units (分/cents), at most {MAX_MONEY}")]


def printable_message(error: Mapping[str, Any]) -> str | None:
    """A readable message for a pydantic error about Line or Text (None for any other error)."""
    if error.get("type") == "string_unicode":
        return PRINTABLE_TEXT
    if error.get("type") == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern"))
        return {
            LINE_PATTERN: PRINTABLE_LINE,
            NONBLANK_LINE_PATTERN: f"must not be blank; {PRINTABLE_LINE}",
            TEXT_PATTERN: PRINTABLE_TEXT,
        }.get(pattern)
    return None
