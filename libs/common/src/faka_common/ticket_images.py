"""Images on ticket messages (the buyer's and the shop's): the limits, the check of what a file is by its
content (never its name or declared type), and the multipart form that carries a message with its images to
the delivery service. Delivery enforces the rules; the gateway and the inbound mail use them to answer (or
drop) early."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException
from starlette.requests import Request

from faka_common.errors import DomainError

MAX_IMAGE_BYTES = 2 * 1024 * 1024
"""Bytes in one image (2 MB: a phone screenshot compressed as PNG or JPEG fits)."""
MAX_IMAGES = 3
"""Images on one message."""
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
#: A form of MAX_IMAGES images and a message fits in this, with room for the multipart framing.
MAX_IMAGES_FORM_BYTES = MAX_IMAGES * MAX_IMAGE_BYTES + 64 * 1024
IMAGE_FIELD = "image"
"""The multipart field of each image (repeated)."""
MESSAGE_FIELD = "message"
"""The multipart field of the message (JSON: the ticket or the reply it is part of)."""
LIMITS_TEXT = (
    f"PNG, JPEG or WebP images of at most {MAX_IMAGE_BYTES // (1024 * 1024)} MB, {MAX_IMAGES} a message"
)


class ImageTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class NotAnImage(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class TooManyImages(DomainError):
    status_code = 422
    code = "invalid_request"


def image_type(data: bytes) -> str | None:
    """The image's media type read from its first bytes (PNG: signature and IHDR; JPEG: SOI and a marker;
    WebP: a RIFF container of WEBP), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:15] == b"VP8":
        return "image/webp"
    return None


@dataclass(frozen=True)
class Image:
    """One checked image: its bytes and the media type its content shows."""

    media_type: str
    data: bytes = field(repr=False)
    name: str = ""

    @property
    def size(self) -> int:
        return len(self.data)


def checked_image(name: str, data: bytes) -> Image:
    """The file as an image, or the error naming the limit it breaks (413 size, 415 type)."""
    label = name or "the file"
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(
            f"image: {label} is over the limit of {MAX_IMAGE_BYTES // (1024 * 1024)} MB per image"
        )
    media_type = image_type(data)
    if media_type is None:
        raise NotAnImage(f"image: {label} is not a PNG, JPEG or WebP image (read from its content)")
    return Image(media_type, data, safe_name(name))


def checked_images(files: Sequence[tuple[str, bytes]]) -> list[Image]:
    """Every file checked; more than MAX_IMAGES is refused naming the limit."""
    if len(files) > MAX_IMAGES:
        raise TooManyImages(f"image: {len(files)} images, over the limit of {MAX_IMAGES} per message")
    return [checked_image(name, data) for name, data in files if data]


def safe_name(name: str) -> str:
    """A file name fit to show and to put in a header: its last path part, printable ASCII without quotes
    or separators, at most 100 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;,' else "_" for c in base)
    return kept.strip()[:100]


def images_form(message: dict[str, Any], images: Sequence[Image]) -> tuple[bytes, str]:
    """A multipart/form-data body of the message (JSON) and its images, with its Content-Type."""
    boundary = "faka-" + secrets.token_hex(16)
    parts = [_part(f'name="{MESSAGE_FIELD}"', "application/json", json.dumps(message).encode(), boundary)]
    for number, image in enumerate(images, 1):
        name = image.name or f"image-{number}"
        disposition = f'name="{IMAGE_FIELD}"; filename="{name}"'
        parts.append(_part(disposition, image.media_type, image.data, boundary))
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _part(disposition: str, media_type: str, data: bytes, boundary: str) -> bytes:
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\nContent-Type: {media_type}\r\n\r\n"
    )
    return head.encode() + data + b"\r\n"


FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"multipart/form-data: `{MESSAGE_FIELD}` and up to {MAX_IMAGES} `{IMAGE_FIELD}` files "
        f"({LIMITS_TEXT})",
        "content": {"multipart/form-data": {"schema": {"type": "object"}}},
    }
}
"""openapi_extra of a route taking a message with images: documented, and bounded by the route itself."""


async def read_form(request: Request) -> tuple[dict[str, str], list[Image]]:
    """A multipart form's text fields and its checked images."""
    fields, files = await read_fields(request)
    return fields, checked_images(files)


async def read_fields(request: Request) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """A multipart form's text fields and its `image` files (name, bytes; unchecked, each read up to one
    byte over the limit); a body over MAX_IMAGES_FORM_BYTES, or without a length, is refused unread."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise DomainError("a form with images needs a Content-Length")
    if int(length) > MAX_IMAGES_FORM_BYTES:
        raise ImageTooLarge(f"image: the form is over the limit of {LIMITS_TEXT}")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        raise NotAnImage(f"send the message and its images as multipart/form-data, not {kind or 'nothing'}")
    try:
        form = await request.form(max_files=10, max_fields=10)
    except HTTPException as error:
        raise DomainError(f"the form cannot be read: {error.detail}") from error
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, StarletteUpload):
                if name == IMAGE_FIELD and value.filename is not None:
                    data = await value.read(MAX_IMAGE_BYTES + 1)
                    if data:
                        files.append((value.filename, data))
            elif name not in fields:
                fields[name] = value
    finally:
        await form.close()
    return fields, files
