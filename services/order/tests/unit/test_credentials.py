import re
from datetime import UTC, datetime, timedelta

from order.domain import credentials


def test_order_number_shape() -> None:
    number = credentials.new_order_no(datetime(2026, 11, 22, 8, 15, 0, tzinfo=UTC))
    assert re.fullmatch(r"F20261122081500[A-Z0-9]{6}", number)


def test_order_number_uses_utc_and_is_random() -> None:
    from datetime import timedelta, timezone

    local = datetime(2026, 11, 22, 16, 15, 0, tzinfo=timezone(timedelta(hours=8)))
    assert credentials.new_order_no(local).startswith("F20261122081500")
    assert len({credentials.new_order_no() for _ in range(50)}) == 50


TOKENS = credentials.OrderTokens("secret", timedelta(days=90))
ORDER_NO = "F20261122081500AB12CD"
NOW = datetime(2026, 11, 22, 8, 15, tzinfo=UTC)


def test_token_is_urlsafe_carries_its_expiry_and_verifies() -> None:
    token = TOKENS.issue(ORDER_NO, 0, NOW)
    assert re.fullmatch(r"[A-Za-z0-9_-]{50}", token)
    assert TOKENS.expires_at(token) == NOW + timedelta(days=90)
    assert TOKENS.valid(ORDER_NO, 0, NOW, token, NOW)


def test_token_is_bound_to_secret_order_version_and_lifetime() -> None:
    token = TOKENS.issue(ORDER_NO, 0, NOW)
    other = credentials.OrderTokens("other", timedelta(days=90))
    assert not other.valid(ORDER_NO, 0, NOW, token, NOW)
    assert not TOKENS.valid("F20261122081500AB12CE", 0, NOW, token, NOW)
    assert not TOKENS.valid(ORDER_NO, 1, NOW, token, NOW)
    assert not TOKENS.valid(ORDER_NO, 0, NOW, token, NOW + timedelta(days=90))
    assert not TOKENS.valid(ORDER_NO, 0, NOW, token[:-1], NOW)
    assert not TOKENS.valid(ORDER_NO, 0, NOW, "", NOW)
    assert not TOKENS.valid(ORDER_NO, 0, NOW, "!" * 50, NOW)


def test_a_longer_expiry_cannot_be_forged_into_a_token() -> None:
    token = TOKENS.issue(ORDER_NO, 0, NOW)
    raw = bytearray(credentials._unb64(token))
    raw[0] += 1
    forged = credentials._b64(bytes(raw)).rstrip("=")
    assert not TOKENS.valid(ORDER_NO, 0, NOW, forged, NOW + timedelta(days=100))


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


def test_email_salted_hashes_of_one_address_match_with_one_scrypt() -> None:
    salt = credentials.email_salt("secret", " Buyer@Example.com")
    assert salt == credentials.email_salt("secret", "buyer@example.com")
    assert salt != credentials.email_salt("other", "buyer@example.com")
    keyed = credentials.hash_password("hunter2", salt)
    legacy = credentials.hash_password("hunter2")
    wrong = credentials.hash_password("hunter3", salt)
    assert credentials.password_valid(keyed, "hunter2")
    assert credentials.matching_hashes([keyed, legacy, wrong, None], "hunter2", salt) == {keyed, legacy}


def test_same_email_ignores_case_and_surrounding_spaces_only() -> None:
    assert credentials.same_email("Buyer@Example.com", "  buyer@example.COM ")
    assert not credentials.same_email("buyer@example.com", "buyer@example.co")
    assert not credentials.same_email("buyer@example.com", "")
