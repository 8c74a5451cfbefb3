import re
from datetime import UTC, datetime

from order.domain import credentials


def test_order_number_shape() -> None:
    number = credentials.new_order_no(datetime(2026, 11, 22, 8, 15, 0, tzinfo=UTC))
    assert re.fullmatch(r"F20261122081500[A-Z0-9]{6}", number)


def test_order_number_uses_utc_and_is_random() -> None:
    from datetime import timedelta, timezone

    local = datetime(2026, 11, 22, 16, 15, 0, tzinfo=timezone(timedelta(hours=8)))
    assert credentials.new_order_no(local).startswith("F20261122081500")
    assert len({credentials.new_order_no() for _ in range(50)}) == 50


def test_token_is_deterministic_urlsafe_and_verifiable() -> None:
    token = credentials.order_token("secret", "F20261122081500AB12CD")
    assert token == credentials.order_token("secret", "F20261122081500AB12CD")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert credentials.token_valid("secret", "F20261122081500AB12CD", token)


def test_token_is_bound_to_secret_and_order() -> None:
    token = credentials.order_token("secret", "F20261122081500AB12CD")
    assert not credentials.token_valid("other", "F20261122081500AB12CD", token)
    assert not credentials.token_valid("secret", "F20261122081500AB12CE", token)
    assert not credentials.token_valid("secret", "F20261122081500AB12CD", token[:-1])
    assert not credentials.token_valid("secret", "F20261122081500AB12CD", "")


def test_password_hash_is_salted_and_verifies() -> None:
    first = credentials.hash_password("hunter2")
    second = credentials.hash_password("hunter2")
    assert first != second
    assert first.startswith("scrypt$")
    assert "hunter2" not in first
    assert credentials.password_valid(first, "hunter2")
    assert credentials.password_valid(second, "hunter2")
    assert not credentials.password_valid(first, "hunter3")


def test_missing_or_malformed_hash_never_verifies() -> None:
    assert not credentials.password_valid(None, "hunter2")
    assert not credentials.password_valid("garbage", "hunter2")
    assert not credentials.password_valid("bcrypt$1$2$3$abc$def", "hunter2")
    assert not credentials.password_valid("scrypt$x$8$1$abc$def", "hunter2")
