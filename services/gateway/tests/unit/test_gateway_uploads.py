import httpx
import pytest
from faka_common.errors import DomainError
from gateway.domain.uploads import PayloadTooLarge, UnsupportedMediaType, keys_text, multipart_field

KEYS = b"AAAA-1111\r\nBBBB-2222\n\nCCCC-3333\n"


def multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=fields)
    return request.read(), request.headers["content-type"]


def test_plain_text_is_passed_through_unchanged() -> None:
    assert keys_text(KEYS, "text/plain; charset=utf-8", 1000) == KEYS
    assert keys_text(KEYS, None, 1000) == KEYS


def test_multipart_file_field_is_extracted() -> None:
    body, content_type = multipart(
        {"note": ("n.txt", b"ignore me", "text/plain"), "file": ("keys.txt", KEYS, "text/plain")}
    )
    assert keys_text(body, content_type, 10_000) == KEYS


def test_multipart_without_file_field_is_a_clear_400() -> None:
    body, content_type = multipart({"other": ("keys.txt", KEYS, "text/plain")})
    assert multipart_field(body, content_type, "file") is None
    with pytest.raises(DomainError, match="file"):
        keys_text(body, content_type, 10_000)


def test_too_large_is_413() -> None:
    with pytest.raises(PayloadTooLarge) as error:
        keys_text(b"x" * 11, "text/plain", 10)
    assert error.value.status_code == 413


def test_form_encoded_is_refused_with_a_hint() -> None:
    with pytest.raises(UnsupportedMediaType, match="text/plain"):
        keys_text(KEYS, "application/x-www-form-urlencoded", 1000)


def test_not_utf8_or_empty_is_400() -> None:
    with pytest.raises(DomainError, match="UTF-8"):
        keys_text(b"\xff\xfe\x00k", "text/plain", 1000)
    with pytest.raises(DomainError, match="empty"):
        keys_text(b" \n\r\n", "text/plain", 1000)
