import re

import pytest
from faka_common.fields import LINE_PATTERN, MAX_MONEY, TEXT_PATTERN, Line, Money, Text
from pydantic import BaseModel, ValidationError


class Form(BaseModel):
    name: Line = ""
    body: Text = ""
    price: Money = 0


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "tab\tin a line", "two\nlines", "\x7f", "\x85", "moc.live\u202e@x.com", "\u2066x", "\u200f",
     "lone \ud800", "\udfff"],
)  # fmt: skip
def test_a_line_refuses_control_bidi_and_surrogate_characters_naming_the_one_found(value: str) -> None:
    with pytest.raises(ValidationError, match=r"U\+[0-9A-F]{4} at position"):
        Form(name=value)


def test_text_allows_tabs_and_line_breaks_but_nothing_else_of_the_kind() -> None:
    assert Form(body="one\r\ntwo\tthree").body == "one\r\ntwo\tthree"
    for value in ("\x00", "\x1b[31m", "\u202e", "\ud800"):
        with pytest.raises(ValidationError):
            Form(body=value)


def test_ordinary_text_in_any_script_passes() -> None:
    for value in ("Steam ¥100 礼品卡", "مرحبا", "שלום", "emoji 🎮", "Ünïcödé"):
        assert Form(name=value, body=value).name == value


def test_the_schema_carries_the_patterns_and_they_say_what_the_validator_does() -> None:
    schema = Form.model_json_schema()["properties"]
    assert schema["name"]["pattern"] == LINE_PATTERN
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
