"""The refusals each group of gateway routes documents, in the one error shape every refusal has.

Admin routes pass the owning service's 4xx on as they are (an unknown id is its 404, a state that forbids
the change its 409), so every admin route declares them; buyer routes add the rate limits' 429."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error answer of the gateway."""

    error: str = Field(description="A stable code for programs", examples=["not_found"])
    message: str = Field(description="What went wrong, for people", examples=["no order F2026..."])
    retry_after: int | None = Field(None, description="429 only: seconds until a retry can succeed")
    details: list[dict[str, Any]] | None = Field(None, description="422 only: one entry per invalid field")


MEANINGS = {
    400: "The body is not what the route reads (not JSON, not an update, not a notification)",
    401: "Missing or wrong credentials (a console session or an API token; the webhook's secret token)",
    403: "Wrong credentials (the webhook's secret token)",
    404: "No such thing (an unknown id, order, provider or coupon)",
    409: "The current state forbids it (e.g. an order already paid, a code already taken)",
    413: "The request body is larger than the route takes",
    415: "The body's media type is not one the route takes",
    422: "The request is not valid: `details` names each invalid field",
    429: "Too many attempts: wait the seconds Retry-After says",
    503: "A service behind the gateway is unavailable: retry later",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}


PROVIDER_ANSWER: dict[str, Any] = {
    "description": "The answer the provider expects (e.g. JSON, or epay's plain `success`)",
    "content": {"application/json": {}, "text/plain": {"schema": {"type": "string"}}},
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route or router that can answer these error statuses."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        declared[status] = {"model": ErrorBody, "description": MEANINGS[status]}
        if status == 429:
            declared[status]["headers"] = RETRY_AFTER
    return declared


ADMIN = refusals(400, 401, 404, 409, 413, 415, 422, 503)
BUYER = refusals(400, 404, 409, 413, 422, 429, 503)
WEBHOOK = refusals(400, 401, 403, 404, 409, 413, 422, 503)
