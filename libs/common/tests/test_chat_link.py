"""The Telegram deep-link token: fits Telegram's start parameter, names its order, refuses forgeries."""

from __future__ import annotations

import re
import time
from uuid import uuid4

import pytest
from faka_common.chat_link import InvalidChatLink, sign, verify

SECRET = "link-secret"


def test_a_token_fits_the_start_parameter_and_names_its_order() -> None:
    order_id = uuid4()
    token = sign(SECRET, order_id, 3600)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token)
    assert verify(SECRET, token) == order_id


@pytest.mark.parametrize(
    "token",
    [
        sign("another-secret", uuid4(), 3600),
        "",
        "not base64 at all!",
        "AAAA",
        sign(SECRET, uuid4(), 3600) + "AA",
    ],
)
def test_forged_or_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidChatLink, match="not valid"):
        verify(SECRET, token)


def test_a_changed_order_id_breaks_the_signature() -> None:
    token = sign(SECRET, uuid4(), 3600)
    flipped = ("B" if token[0] == "A" else "A") + token[1:]
    with pytest.raises(InvalidChatLink):
        verify(SECRET, flipped)


def test_an_expired_token_is_refused_with_a_hint() -> None:
    token = sign(SECRET, uuid4(), 60, now=time.time() - 61)
    with pytest.raises(InvalidChatLink, match="expired") as refused:
        verify(SECRET, token)
    assert refused.value.status_code == 400
