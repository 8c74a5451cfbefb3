"""Field types that request models share, each carrying in its JSON schema the constraint it enforces.

`Line` is one line of printable text: no control characters (NUL would reach Postgres and fail there),
no bidirectional controls (a right-to-left override makes `moc.evil@buyer` read as something else), no
unpaired surrogates (they cannot be encoded as UTF-8). `Text` is the same with tabs and line breaks
allowed. `Money` is an amount in minor units, bounded so that any sum of them fits a BIGINT."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_BIDI = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_LINE_REFUSES = "\\u0000-\\u001f\\u007f-\\u009f" + _BIDI
_TEXT_REFUSES = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f" + _BIDI
#: The patterns the JSON schema shows (ECMA-262 and Python both read them); unpaired surrogates, which a
#: JSON schema cannot name, are refused too.
LINE_PATTERN = f"^[^{_LINE_REFUSES}]*$"
TEXT_PATTERN = f"^[^{_TEXT_REFUSES}]*$"
_SURROGATES = "\\ud800-\\udfff"
_LINE_REFUSED = re.compile(f"[{_LINE_REFUSES}{_SURROGATES}]")
_TEXT_REFUSED = re.compile(f"[{_TEXT_REFUSES}{_SURROGATES}]")

#: 10^12 minor units (ten billion yuan or dollars): above any real price, far below 2^63.
MAX_MONEY = 10**12


@dataclass(frozen=True)
class _Printable:
    multiline: bool

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", TEXT_PATTERN if self.multiline else LINE_PATTERN)
        return json_schema

    def _check(self, value: str) -> str:
        found = (_TEXT_REFUSED if self.multiline else _LINE_REFUSED).search(value)
        if found:
            kind = "a line break" if found.group() in "\r\n" and not self.multiline else "a control"
            raise ValueError(
                f"must not contain {kind}, bidirectional-control or unpaired surrogate character "
                f"(U+{ord(found.group()):04X} at position {found.start()})"
            )
        return value


Line = Annotated[str, _Printable(multiline=False)]
Text = Annotated[str, _Printable(multiline=True)]
Money = Annotated[int, Field(ge=0, le=MAX_MONEY, description=f"Minor units (分/cents), at most {MAX_MONEY}")]
