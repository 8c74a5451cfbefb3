"""Key-file uploads: plain text or a multipart form with a `file` field, within a size bound."""

from __future__ import annotations

from email.message import Message

from faka_common.errors import DomainError

KEYS_FIELD = "file"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


PLAIN_TYPES = frozenset({"text/plain", "text/csv", "application/octet-stream"})


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def multipart_field(body: bytes, content_type: str, field: str) -> bytes | None:
    """The content of the named field of a multipart/form-data body, or None when absent."""
    boundary = _header_params("content-type", content_type).get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise DomainError("multipart body without a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    for chunk in chunks[1:]:  # chunks[0] is the preamble
        if chunk.startswith(b"--"):  # the close delimiter
            break
        line_end = chunk.find(b"\r\n")  # the rest of the delimiter line (transport padding)
        if line_end < 0:
            continue
        head, separator, content = chunk[line_end + 2 :].partition(b"\r\n\r\n")
        if not separator:
            head, content = chunk[line_end + 2 :], b""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() != "content-disposition":
                continue
            if (
                _header_params("content-disposition", value.strip()).get_param(
                    "name", header="content-disposition"
                )
                == field
            ):
                return content
    return None


def keys_text(body: bytes, content_type: str | None, limit: int) -> bytes:
    """The UTF-8 key file out of an upload; raises a clear 4xx for anything else."""
    if len(body) > limit:
        raise PayloadTooLarge(f"key file larger than {limit} bytes")
    kind = media_type(content_type)
    if kind == "multipart/form-data":
        content = multipart_field(body, content_type or "", KEYS_FIELD)
        if content is None:
            raise DomainError(f"multipart body has no field named {KEYS_FIELD!r}")
    elif kind in PLAIN_TYPES or kind == "":
        content = body
    else:
        raise UnsupportedMediaType(
            f"send the keys as text/plain (curl -H 'Content-Type: text/plain' --data-binary @keys.txt) "
            f"or as a multipart upload with field {KEYS_FIELD!r}, not {kind}"
        )
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DomainError(f"key file is not UTF-8 text (byte {error.start})") from error
    if not content.strip():
        raise DomainError("key file is empty")
    return content
