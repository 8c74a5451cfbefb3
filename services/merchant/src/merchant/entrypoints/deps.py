"""What the merchant's routes are given: the service, the time now (its clock), a person's session token; and
the time type their bodies and queries read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from faka_common.http import CALLERS_ADMITTED
from fastapi import Depends, Header, Request
from pydantic import AfterValidator, AwareDatetime

from merchant.bootstrap import Service
from merchant.domain.accounts import SessionInvalid


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +14:00, year 9999 at -14:00: not a time in UTC, nor in the database
        raise ValueError("is outside the years 1 to 9999 in UTC") from None


#: A time with its offset (one without is refused), read as UTC.
UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]

SESSION_HEADER = "X-Session-Token"
"""The session a request acts as: the opaque token sign-in answered (never in a URL)."""


async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(_service)]


async def _now(service: ServiceDep) -> datetime:
    return service.clock()


Now = Annotated[datetime, Depends(_now)]


async def _session_token(
    x_session_token: Annotated[str | None, Header(max_length=128, description="The session token")] = None,
) -> str:
    if not x_session_token:
        raise SessionInvalid()
    return x_session_token


#: The token of the session a request acts as (X-Session-Token); without one: 401 session_invalid.
SessionToken = Annotated[str, Depends(_session_token)]


def refused(reason: str) -> dict[int | str, dict[str, Any]]:
    """The 403 of a people route (all the gateway's): a caller the route does not admit, or `reason`."""
    return {403: {"description": f"{CALLERS_ADMITTED}gateway; or {reason}"}}
