import re
from typing import Annotated

import pytest
from faka_common.fields import (
    LINE_PATTERN,
    MAX_MONEY,
    PRINTABLE_LINE,
    PRINTABLE_TEXT,
    TEXT_PATTERN,
    Line,
    Money,
    Text,
    printable_message,
)
from pydantic import BaseModel, StringConstraints, ValidationError


class Form(BaseModel):
    name: Line = ""
    title: Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=5)] = "t"
    body: Text = ""
    price: Money = 0


def refusal(**values: object) -> str | None:
    with pytest.raises(ValidationError) as refused:
        Form.model_validate(values)
    [error] = refused.value.errors()
    return printable_message(error)


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "tab\tin a line", "two\nlines", "\x7f", "\x85", "moc.live\u202e@x.com", "\u2066x", "\u200f"],
)
def test_a_line_refuses_control_and_bidi_characters_with_a_readable_message(value: str) -> None:
    assert refusal(name=value) == PRINTABLE_LINE


@pytest.mark.parametrize("value", ["lone \ud800", "\udfff"])
def test_unpaired_surrogates_are_refused(value: str) -> None:
    assert refusal(name=value) == PRINTABLE_TEXT
    assert refusal(body=value) == PRINTABLE_TEXT


def test_text_allows_tabs_and_line_breaks_but_nothing_else_of_the_kind() -> None:
    assert Form(body="one\r\ntwo\tthree").body == "one\r\ntwo\tthree"
    for value in ("\x00", "\x1b[31m", "\u202e"):
        assert refusal(body=value) == PRINTABLE_TEXT


def test_length_limits_and_stripping_stacked_on_a_line_keep_working() -> None:
    assert Form(title="  ab  ").title == "ab"
    for value in ("   ", "abcdef"):
        assert refusal(title=value) is None  # a plain length error, with its own message


def test_ordinary_text_in_any_script_passes() -> None:
    for value in ("Steam ¥100 礼品卡", "مرحبا", "שלום", "emoji 🎮", "Ünïcödé"):
        assert Form(name=value, body=value).name == value


def test_the_schema_carries_the_patterns_and_they_say_what_the_validation_does() -> None:
    schema = Form.model_json_schema()["properties"]
    assert schema["name"]["pattern"] == LINE_PATTERN
    assert schema["title"]["pattern"] == LINE_PATTERN and schema["title"]["maxLength"] == 5
    assert schema["body"]["pattern"] == TEXT_PATTERN
    assert schema["price"]["maximum"] == MAX_MONEY and schema["price"]["minimum"] == 0
    for value in ("a\x00b", "x\u202ey", "two\nlines"):
        assert not re.fullmatch(LINE_PATTERN, value)
    assert re.fullmatch(TEXT_PATTERN, "two\nlines") and re.fullmatch(LINE_PATTERN, "Steam ¥100")


def test_money_is_bounded() -> None:
    assert Form(price=MAX_MONEY).price == MAX_MONEY
    for value in (MAX_MONEY + 1, 10**19, -1):
        with pytest.raises(ValidationError):
            Form(price=value)
