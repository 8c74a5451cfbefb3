"""Reading another service's answer. A body that does not fit says which fields did not, and nothing more:
pydantic's own message would echo the input (an order's keys, a link's token)."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from notification.domain.model import NotificationError

Body = TypeVar("Body", bound=BaseModel)


def parse_answer(model: type[Body], response: httpx.Response, unexpected: str) -> Body:
    """The answer's JSON body as `model`; else NotificationError("<unexpected> (fields: ...)")."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as error:
        raise _unfit(unexpected, error) from None


def parse_object(model: type[Body], value: Any, unexpected: str) -> Body:
    """`parse_answer` of a body already read as JSON."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise _unfit(unexpected, error) from None


def _unfit(unexpected: str, error: ValidationError) -> NotificationError:
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
    return NotificationError(f"{unexpected} (fields: {fields})")
