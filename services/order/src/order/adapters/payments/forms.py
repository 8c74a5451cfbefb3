"""Parsing provider notification bodies: url-encoded forms and JSON objects."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from order.domain.payments import BadNotification


def form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (or a forwarded query string); a repeated name is refused."""
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise BadNotification("malformed notification: body is not UTF-8") from error
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError as error:
        raise BadNotification("malformed notification: not a url-encoded form") from error
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise BadNotification(f"malformed notification: {name[:40]} appears twice")
        params[name] = value
    return params


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body; numbers with a fraction stay Decimal (never float)."""
    try:
        params = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadNotification("malformed notification: body is not valid JSON") from error
    if not isinstance(params, dict):
        raise BadNotification("malformed notification: expected a JSON object")
    return params


def require(params: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if params.get(name) in (None, "")]
    if missing:
        raise BadNotification(f"malformed notification: missing {', '.join(missing)}")
