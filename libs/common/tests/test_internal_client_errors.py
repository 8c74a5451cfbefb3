"""What an owner's refusal becomes for its caller: the same status, code and message, and a 429's wait."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from faka_common.errors import Busy, DomainError, Unavailable
from faka_common.http import InternalClient
from faka_common.rate_limits import RateLimited
from faka_common.service_auth import ServiceCredential


def client_answering(status: int, body: Any, headers: dict[str, str] | None = None) -> InternalClient:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return InternalClient(
        "http://owner.test", ServiceCredential.development("gateway"), transport=httpx.MockTransport(answer)
    )


@pytest.mark.parametrize(
    ("body", "headers", "wait"),
    [
        (
            {"error": "rate_limited", "message": "too many sign-ins", "retry_after": 17},
            {"Retry-After": "17"},
            17,
        ),
        ({"error": "rate_limited", "message": "too many sign-ins"}, {"Retry-After": "5"}, 5),
        ({"error": "rate_limited", "message": "too many sign-ins"}, None, 60),
        ({"error": "rate_limited", "message": "too many", "retry_after": "soon"}, {"Retry-After": "x"}, 60),
    ],
)
async def test_an_owners_429_reaches_the_caller_as_rate_limited_with_its_wait(
    body: dict[str, Any], headers: dict[str, str] | None, wait: int
) -> None:
    owner = client_answering(429, body, headers)
    with pytest.raises(RateLimited) as refused:
        await owner.request("POST", "/internal/sign-in")
    await owner.aclose()
    assert refused.value.status_code == 429 and refused.value.retry_after == wait
    assert refused.value.message == body["message"]


async def test_another_refusal_keeps_the_owners_status_code_and_message() -> None:
    owner = client_answering(409, {"error": "slug_taken", "message": "slug game-cards is taken"})
    with pytest.raises(DomainError) as refused:
        await owner.request("POST", "/internal/shops")
    await owner.aclose()
    assert not isinstance(refused.value, RateLimited)
    assert (refused.value.status_code, refused.value.code) == (409, "slug_taken")
    assert refused.value.message == "slug game-cards is taken"


async def test_an_owners_busy_503_reaches_the_caller_as_busy_and_another_503_as_unavailable() -> None:
    """A busy owner's 503 is passed on to the buyer as busy (try again in a moment), not as a service down."""
    busy = client_answering(
        503, {"error": "busy", "message": "too many orders are waiting"}, {"Retry-After": "2"}
    )
    with pytest.raises(Busy) as refused:
        await busy.request("POST", "/internal/orders")
    await busy.aclose()
    assert refused.value.message == "too many orders are waiting" and refused.value.retry_after == 2
    down = client_answering(503, {"error": "unavailable", "message": "database down"})
    with pytest.raises(Unavailable) as failed:
        await down.request("POST", "/internal/orders")
    await down.aclose()
    assert not isinstance(failed.value, Busy)
    assert failed.value.code == "unavailable"
